"""A batch's items as a table: the review's and the run's.

One row per input row, in the order of the list: what the row asks, where it
stands, the studies it resolved to (an ambiguous one lists them in its
tooltip), instances expected and received, and why it is not done.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtGui import QBrush, QColor

from qrscope.core.batch.items import ItemProgress, ItemStatus
from qrscope.ui.models.table_base import Index, ListTableModel

__all__ = ["ALREADY_HERE", "ItemsModel", "status_words"]

ALREADY_HERE = "already complete on disk"
"""The reason the review gives a found item whose studies are all here already."""

_BAD = (ItemStatus.NOT_FOUND, ItemStatus.AMBIGUOUS, ItemStatus.FAILED, ItemStatus.PARTIAL)
_GOOD = (ItemStatus.DONE, ItemStatus.SKIPPED)


def status_words(progress: ItemProgress) -> str:
    """An item's status as the table shows it ('found, already here' in the review)."""
    if progress.status is ItemStatus.FOUND and progress.reason == ALREADY_HERE:
        return "found, already here"
    return progress.status.value


class ItemsModel(ListTableModel):
    """Rows of :class:`ItemProgress`, replaced one at a time as they change."""

    headers = ("Row", "Asks", "Status", "Studies", "Instances", "Hint", "Reason")
    """The reason last: the longest, it takes the width the table has left."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[ItemProgress] = []

    def row_list(self) -> list[ItemProgress]:
        return self.rows

    def reset(self, rows: list[ItemProgress]) -> None:
        self.beginResetModel()
        self.rows = sorted(rows, key=lambda p: p.index)
        self.endResetModel()

    def put(self, progress: ItemProgress) -> None:
        """*progress* in place of its item's row (added when it has none yet)."""
        where = next((n for n, p in enumerate(self.rows) if p.index == progress.index), None)
        if where is None:
            self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows))
            self.rows.append(progress)
            self.endInsertRows()
            return
        self.rows[where] = progress
        self.dataChanged.emit(self.index(where, 0), self.index(where, len(self.headers) - 1))

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        progress = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _text(progress, index.column())
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(progress, index.column())
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 2:
            if progress.status in _BAD:
                return QBrush(QColor("#b3261e"))
            if progress.status in _GOOD:
                return QBrush(QColor("#1b7a3a"))
        return None


def _text(progress: ItemProgress, column: int) -> str:
    if column == 0:
        return str(progress.item.row)
    if column == 1:
        return progress.item.describe()
    if column == 2:
        return status_words(progress)
    if column == 3:
        return str(len(progress.studies)) if progress.studies else ""
    if column == 4:
        return _instances(progress)
    if column == 5:
        return progress.hint
    return "" if progress.reason == ALREADY_HERE else progress.reason


def _instances(progress: ItemProgress) -> str:
    if not progress.studies:
        return ""
    expected = "?" if progress.expected is None else str(progress.expected)
    if progress.status in (ItemStatus.PENDING, ItemStatus.FOUND) and not progress.received:
        return "" if progress.expected is None else expected
    return f"{progress.received}/{expected}"


def _tooltip(progress: ItemProgress, column: int) -> str:
    if column == 3 and progress.studies:
        return "\n".join(f"{s.patient_id} {s.study_date} {s.accession_number} "
                         f"({'?' if s.instances is None else s.instances} instances) "
                         f"{s.study_uid}" for s in progress.studies)
    if column == 1:
        return "\n".join(f"{k or 'value'}: {v}" for k, v in progress.item.values.items())
    if column == 6:
        return progress.reason
    return ""
