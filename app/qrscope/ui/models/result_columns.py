"""The columns of the results tables: titles, the text of a cell, and its sort key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.uid import UID

from qrscope.core.dicom.records import QueryLevel

__all__ = ["COLUMNS", "NOT_A_NUMBER", "Column", "SortKey", "person_name"]

SortKey = int | float | str
"""What rows are ordered by: numbers for counts, the shown text for the rest."""

NOT_A_NUMBER = float("-inf")
"""The sort key of a count the PACS did not send: before every number, as an
empty cell reads before any text."""


def _date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 else value


def _join(value: Sequence[str]) -> str:
    return ", ".join(value)


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def person_name(value: str) -> str:
    """A DICOM person name (PS3.5 6.2, ``Family^Given^Middle^Prefix^Suffix``) as people
    write it: ``Smith, John``. Only the alphabetic group (before any ``=``) is used."""
    alphabetic = value.split("=", 1)[0]
    family, _, rest = alphabetic.partition("^")
    given = " ".join(part for part in rest.split("^") if part)
    if not family:
        return given
    return f"{family}, {given}" if given else family


def _uid_name(value: str) -> str:
    name = UID(value).name if value else ""
    return name or value


@dataclass(frozen=True)
class Column:
    """One column: the record attribute it shows and how.

    ``numeric`` columns sort by number (9 before 10), the others by the text
    shown, compared character by character and case-sensitively (``B``
    before ``a``), which keeps dates and UIDs in their natural order.
    """

    key: str
    title: str
    text: Callable[[Any], str] = str
    tip: str = ""
    numeric: bool = False

    def sort_key(self, value: Any) -> SortKey:
        if self.numeric:
            return value if isinstance(value, int) else NOT_A_NUMBER
        return self.text(value)


COLUMNS: dict[QueryLevel, list[Column]] = {
    QueryLevel.STUDY: [
        Column("local", "Local", tip="Instances already in the storage folder", numeric=True),
        Column("patient_name", "Patient", person_name),
        Column("patient_id", "Patient ID"),
        Column("birth_date", "Born", _date),
        Column("study_date", "Date", _date),
        Column("modalities", "Modalities", _join),
        Column("description", "Description"),
        Column("accession_number", "Accession"),
        Column("number_of_series", "Series", _number, numeric=True),
        Column("number_of_instances", "Images", _number, numeric=True),
        Column("referring_physician", "Referring", person_name),
        Column("study_uid", "Study UID"),
    ],
    QueryLevel.SERIES: [
        Column("series_number", "#", _number, numeric=True),
        Column("modality", "Modality"),
        Column("description", "Description"),
        Column("number_of_instances", "Images", _number, numeric=True),
        Column("body_part", "Body part"),
        Column("series_uid", "Series UID"),
    ],
    QueryLevel.IMAGE: [
        Column("instance_number", "#", _number, numeric=True),
        Column("sop_class_uid", "SOP class", _uid_name),
        Column("sop_instance_uid", "SOP Instance UID"),
    ],
}
