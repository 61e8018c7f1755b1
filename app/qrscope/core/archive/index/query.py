"""Reading the archive as a browser does: patients, studies, series or instances, filtered.

The filters are those of a PACS search (name, ID, dates, modality,
accession, description, UIDs), with the same wildcards (``*`` and ``?``,
PS3.4 C.2.2.2.4) and date ranges (``A-B``, ``-B``, ``A-``, PS3.4 C.2.2.2.5),
so the window's Local view and ``qrscope archive list`` match what ``find``
would. Counts and bytes are sums over the files at the moment of the query.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from enum import Enum
from typing import Any

from qrscope.core.validation import InvalidValue

__all__ = ["ArchiveFilter", "ArchiveLevel", "list_archive"]


class ArchiveLevel(Enum):
    PATIENT = "patient"
    STUDY = "study"
    SERIES = "series"
    INSTANCE = "instance"


_DATE = re.compile(r"(\d{8})?(-)?(\d{8})?")


@dataclass(frozen=True)
class ArchiveFilter:
    """What to list; an empty field matches everything."""

    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    modalities: tuple[str, ...] = ()
    accession_number: str = ""
    description: str = ""
    study_uid: str = ""
    series_uid: str = ""

    def date_range(self) -> tuple[str, str] | None:
        """(first, last) day, inclusive; ``None`` when no date is asked for."""
        text = self.study_date.strip()
        if not text:
            return None
        match = _DATE.fullmatch(text)
        if not match or not (match.group(1) or match.group(3)) or (
                match.group(3) and not match.group(2)):
            raise InvalidValue("study date", f"'{text}' is not YYYYMMDD, YYYYMMDD-YYYYMMDD, "
                               "-YYYYMMDD or YYYYMMDD-")
        first = match.group(1) or ""
        last = match.group(3) or ("99999999" if match.group(2) else first)
        return first, last


def _like(value: str) -> str:
    """A DICOM wildcard pattern as a LIKE pattern (escape character ``\\``)."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _where(query: ArchiveFilter, level: ArchiveLevel) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("p.patient_name", query.patient_name),
                          ("p.patient_id", query.patient_id),
                          ("t.accession_number", query.accession_number),
                          ("t.description", query.description)):
        if value.strip():
            clauses.append(f"{column} LIKE ? ESCAPE '\\'")
            params.append(_like(value.strip()))
    for column, value in (("t.study_uid", query.study_uid), ("s.series_uid", query.series_uid)):
        if value.strip():
            clauses.append(f"{column} = ?")
            params.append(value.strip())
    dates = query.date_range()
    if dates is not None:
        clauses.append("t.study_date BETWEEN ? AND ?")
        params += list(dates)
    modalities = [m.strip().upper() for m in query.modalities if m.strip()]
    if modalities:
        marks = ",".join("?" * len(modalities))
        if level in (ArchiveLevel.SERIES, ArchiveLevel.INSTANCE):
            clauses.append(f"s.modality IN ({marks})")
        else:  # a study matches by any of its series, and is then counted whole
            clauses.append(f"t.study_uid IN (SELECT study_uid FROM series "
                           f"WHERE modality IN ({marks}))")
        params += modalities
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


_FROM = (" FROM instances i JOIN series s ON s.series_uid = i.series_uid"
         " JOIN studies t ON t.study_uid = s.study_uid"
         " JOIN patients p ON p.patient_id = t.patient_id")
_COUNTS = ("count(DISTINCT i.sop_instance_uid) AS instances, count(*) AS files, "
           "sum(i.size) AS bytes")
_SELECT = {
    ArchiveLevel.PATIENT: (
        "SELECT p.patient_id, p.patient_name, p.birth_date, p.sex, "
        f"count(DISTINCT t.study_uid) AS studies, count(DISTINCT s.series_uid) AS series, "
        f"{_COUNTS}", " GROUP BY p.patient_id ORDER BY p.patient_name, p.patient_id"),
    ArchiveLevel.STUDY: (
        "SELECT t.study_uid, p.patient_id, p.patient_name, t.study_date, t.study_time, "
        "t.accession_number, t.description, t.referring_physician, "
        "group_concat(DISTINCT s.modality) AS modalities, "
        f"count(DISTINCT s.series_uid) AS series, {_COUNTS}",
        " GROUP BY t.study_uid ORDER BY t.study_date DESC, t.study_time DESC, t.study_uid"),
    ArchiveLevel.SERIES: (
        "SELECT s.series_uid, t.study_uid, p.patient_id, p.patient_name, t.study_date, "
        "s.modality, s.series_number, s.description, s.thumbnail_state, s.thumbnail_reason, "
        "group_concat(DISTINCT i.sop_class_uid) AS sop_classes, "
        f"group_concat(DISTINCT i.transfer_syntax) AS transfer_syntaxes, {_COUNTS}",
        " GROUP BY s.series_uid ORDER BY t.study_uid, CAST(s.series_number AS INTEGER), "
        "s.series_uid"),
    ArchiveLevel.INSTANCE: (
        "SELECT i.sop_instance_uid, i.sop_class_uid, s.series_uid, t.study_uid, "
        "p.patient_id, p.patient_name, i.instance_number, i.transfer_syntax, i.frames, "
        "i.size AS bytes, i.path", " ORDER BY s.series_uid, "
        "CAST(i.instance_number AS INTEGER), i.sop_instance_uid, i.path"),
}
_LISTS = ("modalities", "sop_classes", "transfer_syntaxes")


def list_archive(conn: sqlite3.Connection, level: ArchiveLevel,
                 query: ArchiveFilter | None = None) -> list[dict[str, Any]]:
    """The rows of *level* that match *query*, as plain dictionaries.

    Instance rows name the file as the index does (relative to the storage
    root, or absolute for a file indexed in place); raises
    :class:`InvalidValue` for a malformed date.
    """
    select, tail = _SELECT[level]
    where, params = _where(query or ArchiveFilter(), level)
    cursor = conn.execute(select + _FROM + where + tail, params)
    names = [column[0] for column in cursor.description]
    rows = []
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        for key in _LISTS:
            if key in row:
                row[key] = sorted(v for v in (row[key] or "").split(",") if v)
        rows.append(row)
    return rows
