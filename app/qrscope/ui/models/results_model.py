"""C-FIND results as a table model: appended in batches, sortable, columns per level."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.uid import UID
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from qrscope.core.records import QueryLevel, Record

__all__ = ["COLUMNS", "Column", "RecordTableModel", "person_name"]

_Index = QModelIndex | QPersistentModelIndex


def _date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 else value


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    text: Callable[[Any], str] = str
    tip: str = ""


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


COLUMNS: dict[QueryLevel, list[Column]] = {
    QueryLevel.STUDY: [
        Column("local", "Local", tip="Instances already in the storage folder"),
        Column("patient_name", "Patient", person_name),
        Column("patient_id", "Patient ID"),
        Column("birth_date", "Born", _date),
        Column("study_date", "Date", _date),
        Column("modalities", "Modalities", _join),
        Column("description", "Description"),
        Column("accession_number", "Accession"),
        Column("number_of_series", "Series", _number),
        Column("number_of_instances", "Images", _number),
        Column("referring_physician", "Referring", person_name),
        Column("study_uid", "Study UID"),
    ],
    QueryLevel.SERIES: [
        Column("series_number", "#", _number),
        Column("modality", "Modality"),
        Column("description", "Description"),
        Column("number_of_instances", "Images", _number),
        Column("body_part", "Body part"),
        Column("series_uid", "Series UID"),
    ],
    QueryLevel.IMAGE: [
        Column("instance_number", "#", _number),
        Column("sop_class_uid", "SOP class", _uid_name),
        Column("sop_instance_uid", "SOP Instance UID"),
    ],
}


class RecordTableModel(QAbstractTableModel):
    """Rows of one query level; :meth:`append` adds a batch with one insert."""

    def __init__(self, level: QueryLevel, parent: Any = None) -> None:
        super().__init__(parent)
        self.level = level
        self.columns = COLUMNS[level]
        self.records: list[Record] = []
        self.local_counts: dict[str, int] = {}

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        column = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.tip or column.title
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        record = self.records[index.row()]
        column = self.columns[index.column()]
        if column.key == "local":
            return self._local_cell(record, role)
        value = getattr(record, column.key, "")
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(value)
        if role == Qt.ItemDataRole.UserRole:  # sort key: numbers as numbers
            return value if isinstance(value, int) else column.text(value)
        if role == Qt.ItemDataRole.ToolTipRole and column.key.endswith("uid"):
            return str(value)
        return None

    def _local_cell(self, record: Record, role: int) -> Any:
        have = self.local_counts.get(getattr(record, "study_uid", ""), 0)
        total = getattr(record, "number_of_instances", None)
        if role == Qt.ItemDataRole.DisplayRole:
            if not have:
                return ""
            # Always with the total: "12" alone reads as complete.
            if total is None:
                return f"{have}/?"
            return f"✓ {have}" if have >= total else f"{have}/{total}"
        if role == Qt.ItemDataRole.UserRole:
            return have
        if role == Qt.ItemDataRole.ToolTipRole and have:
            return f"{have} of {total if total is not None else '?'} instances stored locally"
        if role == Qt.ItemDataRole.ForegroundRole and have:
            return QBrush(QColor("#2e7d32"))
        return None

    def append(self, records: Sequence[Record]) -> None:
        if not records:
            return
        first = len(self.records)
        self.beginInsertRows(QModelIndex(), first, first + len(records) - 1)
        self.records.extend(records)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.records = []
        self.local_counts = {}
        self.endResetModel()

    def set_local_counts(self, counts: dict[str, int]) -> None:
        self.local_counts = counts
        if self.records:
            column = next((i for i, c in enumerate(self.columns) if c.key == "local"), None)
            if column is not None:
                self.dataChanged.emit(self.index(0, column),
                                      self.index(len(self.records) - 1, column))
