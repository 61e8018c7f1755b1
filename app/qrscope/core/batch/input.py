"""Read a batch as people bring it: CSV, TSV, XLSX, plain text, or pasted text.

Columns are found by DICOM keyword (``AccessionNumber``) or a header people
write (``Accession No.``, ``MRN``, ``Study UID``), or named by hand
(``--column PatientID=Fall``). Every identifier is kept as text: a CSV cell
``00123`` stays ``00123``, and an Excel *number* cell under an ID header gives
back its digits, zero-padded where its number format shows leading zeros.
Excel keeps 15 significant digits of a number, so a longer ID typed as a
number has already lost digits: that row is named in a warning.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qrscope.core.batch.items import BatchItem
from qrscope.core.dicom.uids import is_valid_uid
from qrscope.core.validation import InvalidValue, check_date_range

__all__ = ["KEYS", "BatchInput", "BatchInputError", "parse_columns", "parse_text",
           "read_batch"]

KEYS: dict[str, tuple[str, ...]] = {
    "AccessionNumber": ("accessionnumber", "accession", "acc", "accno", "accessionno",
                        "accnumber", "accessionnr"),
    "PatientID": ("patientid", "mrn", "pid", "patid", "patientnumber"),
    "StudyInstanceUID": ("studyinstanceuid", "studyuid", "suid", "studyinstance"),
    "StudyDate": ("studydate", "date", "studydates", "daterange"),
    "Modality": ("modality", "modalities", "modalitiesinstudy"),
}
"""The columns a batch understands, by DICOM keyword, with the headers taken for each
(compared lower case without spaces or punctuation)."""

_FIELDS = {"AccessionNumber": "accession_number", "PatientID": "patient_id",
           "StudyInstanceUID": "study_uid", "StudyDate": "study_date", "Modality": "modality"}
_IDENTIFIERS = ("AccessionNumber", "PatientID", "StudyInstanceUID")
_EXCEL_DIGITS = 15


class BatchInputError(ValueError):
    """The input cannot be used as a batch; the message says why (and where).

    ``headers``: a table's column headers when no column could be taken for an
    identifier, so that a front end can offer them to be named by hand.
    """

    def __init__(self, message: str, headers: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.headers = tuple(headers)


@dataclass(frozen=True)
class BatchInput:
    """The items of one input, with what identifies it and what to warn about."""

    items: tuple[BatchItem, ...]
    digest: str
    """SHA-256 of the content and the column mapping: the same batch when run again."""
    source: str = ""
    warnings: tuple[str, ...] = field(default=())
    headers: tuple[str, ...] = ()
    """A table's column headers as read ('' for a list of one identifier a line)."""
    mapping: dict[str, str] = field(default_factory=dict)
    """{DICOM keyword: header} of the columns read, by hand or recognised: what a
    front end shows so that a column taken for the wrong role can be named by hand."""


def _normal(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def parse_columns(pairs: Iterable[str]) -> dict[str, str]:
    """``KEY=HEADER`` options as {DICOM keyword: header}; raises :class:`BatchInputError`."""
    mapping: dict[str, str] = {}
    by_name = {_normal(k): k for k in KEYS}
    for pair in pairs:
        key, sep, header = pair.partition("=")
        if not sep or not key.strip() or not header.strip():
            raise BatchInputError(f"--column {pair!r}: use KEY=HEADER, e.g. "
                                  "AccessionNumber=Accession")
        keyword = by_name.get(_normal(key))
        if keyword is None:
            raise BatchInputError(f"--column {pair!r}: {key} is not a column a batch reads "
                                  f"({', '.join(KEYS)})")
        mapping[keyword] = header.strip()
    return mapping


def read_batch(path: Path, columns: dict[str, str] | None = None) -> BatchInput:
    """The items of the file at *path*, by its suffix (``.xlsx``, ``.tsv``, ``.csv``,
    anything else as text). Raises :class:`BatchInputError`."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BatchInputError(f"{path}: cannot be read ({exc.strerror})") from None
    columns = columns or {}
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _batch(*_items_from_table(_xlsx_rows(raw, path), columns), raw=raw,
                      columns=columns, source=str(path))
    text = _decode(raw, path)
    if suffix in (".tsv", ".tab"):
        return _batch(*_items_from_table(_delimited(text, "\t"), columns), raw=raw,
                      columns=columns, source=str(path))
    if suffix == ".csv":
        return _batch(*_items_from_table(_delimited(text, _csv_delimiter(text)), columns),
                      raw=raw, columns=columns, source=str(path))
    return _from_text(text, columns, raw, str(path))


def parse_text(text: str, columns: dict[str, str] | None = None) -> BatchInput:
    """Pasted text: one identifier a line, or rows copied from a spreadsheet (tabs)."""
    return _from_text(text, columns or {}, text.encode("utf-8"), "pasted")


def _batch(items: list[BatchItem], warnings: Sequence[str] = (),
           table: tuple[tuple[str, ...], dict[str, str]] = ((), {}), *, raw: bytes,
           columns: dict[str, str], source: str) -> BatchInput:
    if not items:
        raise BatchInputError(f"{source}: empty: no row asks for a study")
    digest = hashlib.sha256(raw + repr(sorted(columns.items())).encode()).hexdigest()
    return BatchInput(tuple(items), digest, source, tuple(warnings), *table)


def _decode(raw: bytes, path: Path) -> str:
    """UTF-8 (with or without the BOM Excel writes), else Windows-1252 as Excel saves."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _csv_delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    return max((",", ";", "\t"), key=first.count)


def _delimited(text: str, delimiter: str) -> list[list[Any]]:
    return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter)]


def _from_text(text: str, columns: dict[str, str], raw: bytes, source: str) -> BatchInput:
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    if "\t" in first:
        return _batch(*_items_from_table(_delimited(text, "\t"), columns), raw=raw,
                      columns=columns, source=source)
    items = []
    for number, line in enumerate(lines, start=1):
        value = line.strip()
        if not value:
            continue
        keyword = "StudyInstanceUID" if _looks_like_uid(value) else "AccessionNumber"
        items.append(_item(number, {"": value}, {keyword: value}))
    return _batch(items, raw=raw, columns=columns, source=source)


def _looks_like_uid(value: str) -> bool:
    return value.count(".") >= 2 and is_valid_uid(value, strict=False)


# -- tables ---------------------------------------------------------------------------
def _header_map(header: Sequence[str], columns: dict[str, str]) -> dict[str, int]:
    """{DICOM keyword: column index}, by hand-given mapping first, then by name."""
    found: dict[str, int] = {}
    normal = [_normal(h) for h in header]
    for keyword, name in columns.items():
        if _normal(name) not in normal:
            raise BatchInputError(f"--column {keyword}={name}: no column {name!r} "
                                  f"(the columns are: {', '.join(map(repr, header))})")
        found[keyword] = normal.index(_normal(name))
    for keyword, names in KEYS.items():
        if keyword in found:
            continue
        for index, name in enumerate(normal):
            if name in names and index not in found.values():
                found[keyword] = index
                break
    if not any(k in found for k in _IDENTIFIERS):
        raise BatchInputError(
            f"no column of accession numbers, Patient IDs or Study Instance UIDs among "
            f"{', '.join(map(repr, header))}; name one with --column KEY=HEADER "
            f"(e.g. AccessionNumber={header[0] if header else 'Accession'})", header)
    return found


def _items_from_table(rows: list[list[Any]], columns: dict[str, str],
                      ) -> tuple[list[BatchItem], list[str],
                                 tuple[tuple[str, ...], dict[str, str]]]:
    """The items, the warnings, and the headers with the columns read from them."""
    top = next((n for n, row in enumerate(rows) if any(_cell_text(c) for c in row)), None)
    if top is None:
        return [], [], ((), {})
    header = [_cell_text(c) for c in rows[top]]
    where = _header_map(header, columns)
    table = (tuple(header), {k: header[i] for k, i in where.items()})
    items, warnings = [], []
    for number, row in enumerate(rows[top + 1:], start=top + 2):
        if not any(_cell_text(c) for c in row):
            continue
        values = {header[i] if i < len(header) and header[i] else f"column {i + 1}":
                  _cell_text(c) for i, c in enumerate(row)}
        asked = {}
        for keyword, index in where.items():
            cell = row[index] if index < len(row) else ""
            text, warning = _cell_value(cell, keyword, number)
            asked[keyword] = text
            if warning:
                warnings.append(warning)
        items.append(_item(number, values, asked))
    return items, warnings, table


def _item(row: int, values: dict[str, str], asked: dict[str, str]) -> BatchItem:
    """One item, its values checked; raises :class:`BatchInputError` naming the row."""
    if not any(asked.get(k) for k in _IDENTIFIERS):
        raise BatchInputError(f"row {row}: no accession number, Patient ID or Study "
                              "Instance UID")
    try:
        uid = asked.get("StudyInstanceUID", "")
        if uid and not is_valid_uid(uid, strict=False):
            raise InvalidValue("StudyInstanceUID", f"{uid!r} is not a UID (digits and dots)")
        date = check_date_range(_date_text(asked.get("StudyDate", "")), "StudyDate")
    except InvalidValue as exc:
        raise BatchInputError(f"row {row}: {exc}") from None
    fields = {_FIELDS[k]: v for k, v in asked.items()}
    fields["study_date"] = date
    fields["modality"] = fields.get("modality", "").upper()
    return BatchItem(row=row, values=values, **fields)


def _date_text(text: str) -> str:
    """``2024-01-01 - 2024-01-31`` and ``20240101 to 20240131`` as a DICOM range."""
    match = re.fullmatch(r"\s*([\d-]{8,10})?\s*(?:\s-\s|to|\.\.|–)\s*([\d-]{8,10})?\s*", text)
    if match and (match.group(1) or match.group(2)):
        return "-".join(part.replace("-", "") for part in (match.group(1) or "",
                                                            match.group(2) or ""))
    return text


def _cell_text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, _Number):
        return cell.text
    if isinstance(cell, dt.datetime | dt.date):
        return cell.strftime("%Y%m%d")
    return str(cell).strip()


def _cell_value(cell: Any, keyword: str, row: int) -> tuple[str, str]:
    """A cell's text for *keyword*, and a warning when Excel lost digits of it."""
    if isinstance(cell, _Number) and keyword != "StudyDate" and cell.lost_digits:
        return cell.text, (f"row {row}: the {keyword} {cell.text} is an Excel number of more "
                           f"than {_EXCEL_DIGITS} digits, which Excel does not keep; "
                           "format the column as text and type it again")
    return _cell_text(cell), ""


# -- Excel ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Number:
    """An Excel number cell, as the text of its digits (leading zeros from its format)."""

    text: str
    lost_digits: bool = False


def _xlsx_rows(raw: bytes, path: Path) -> list[list[Any]]:
    """The first sheet's rows, number cells as :class:`_Number`."""
    import openpyxl  # imported here: only a batch from a spreadsheet needs it

    try:
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise BatchInputError(f"{path}: cannot be read as an Excel workbook ({exc})") from None
    try:
        sheet = book.worksheets[0]
        rows = [[_excel_cell(cell) for cell in row] for row in sheet.iter_rows()]
    finally:
        book.close()
    return rows


def _excel_cell(cell: Any) -> Any:
    value = cell.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and not value.is_integer():
        return _Number(repr(value))
    digits = str(int(value))
    width = len(fmt) if (fmt := str(getattr(cell, "number_format", ""))) and set(fmt) == {
        "0"} else 0
    return _Number(digits.zfill(width), lost_digits=len(digits.lstrip("0")) > _EXCEL_DIGITS)
