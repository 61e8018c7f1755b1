"""C-FIND results as a table model that keeps its rows in the order of the sort column.

The rows are held already sorted, so the view needs no sorting proxy: with
Qt's ``QSortFilterProxyModel`` between them, every batch of 250 studies cost
the GUI thread about 35 ms in ``endInsertRows`` (growing with the table),
and a 10,000-study search held it for seconds (benchmarks/window.py). Here a
batch is appended with one insert and moved into place with one layout
change: a stable sort in C of rows that are nearly in order already.

Both sorts are stable, in either direction. A click on a header keeps rows
with equal keys in the order they were shown, as the proxy did: sorting by
date, then by patient, lists each patient's studies by date. Rows that
arrive go after the rows already shown with the same key, in the order
they came.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from qrscope.core.records import QueryLevel, Record
from qrscope.ui.models.result_columns import COLUMNS, Column, SortKey, person_name

__all__ = ["COLUMNS", "Column", "RecordTableModel", "person_name"]

_Index = QModelIndex | QPersistentModelIndex


class RecordTableModel(QAbstractTableModel):
    """Rows of one query level, in the order the view's header asks for.

    :attr:`records` is the list as shown: row *n* of the view is
    ``records[n]``. :meth:`append` adds a batch and keeps the order;
    :meth:`sort` (which the view calls when a header is clicked) re-sorts.
    Selections and other persistent indexes follow their rows.
    """

    def __init__(self, level: QueryLevel, parent: Any = None) -> None:
        super().__init__(parent)
        self.level = level
        self.columns = COLUMNS[level]
        self.records: list[Record] = []
        self.local_counts: dict[str, int] = {}
        self.sort_column = -1
        """The column the rows are sorted by; -1: none, rows stay where they are."""
        self.sort_order = Qt.SortOrder.AscendingOrder
        self._keys: list[SortKey] = []  # the sort key of each row of records

    # -- the table -------------------------------------------------------------------
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
        if role == Qt.ItemDataRole.UserRole:  # the sort key
            return column.sort_key(value)
        if role == Qt.ItemDataRole.ToolTipRole and column.key.endswith("uid"):
            return str(value)
        return None

    def cell_text(self, row: int, column: int) -> str:
        """What a cell shows, without Qt's indexes (for measuring columns)."""
        record = self.records[row]
        spec = self.columns[column]
        if spec.key == "local":
            return str(self._local_cell(record, Qt.ItemDataRole.DisplayRole))
        return spec.text(getattr(record, spec.key, ""))

    def _have(self, record: Record) -> int:
        return self.local_counts.get(getattr(record, "study_uid", ""), 0)

    def _local_cell(self, record: Record, role: int) -> Any:
        have = self._have(record)
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

    # -- changing the rows -------------------------------------------------------------
    def append(self, records: Sequence[Record]) -> None:
        """Add a batch where the sort order puts it: one insert, then at most
        one layout change (none when the batch belongs at the end)."""
        if not records:
            return
        first = len(self.records)
        key = self._key_function()
        self.beginInsertRows(QModelIndex(), first, first + len(records) - 1)
        self.records.extend(records)
        self._keys.extend(map(key, records) if key else [0] * len(records))
        self.endInsertRows()
        if key is not None and not self._in_order(max(first - 1, 0)):
            self._rearrange(self._sorted_order())

    def clear(self) -> None:
        self.beginResetModel()
        self.records, self._keys = [], []
        self.local_counts = {}
        self.endResetModel()

    def set_local_counts(self, counts: dict[str, int]) -> None:
        self.local_counts = counts
        column = next((i for i, c in enumerate(self.columns) if c.key == "local"), None)
        if not self.records or column is None:
            return
        self.dataChanged.emit(self.index(0, column), self.index(len(self.records) - 1, column))
        if column == self.sort_column:
            self.sort(self.sort_column, self.sort_order)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by *column* (the view calls this when a header is clicked).

        Rows with equal keys stay in the order they were shown, in either
        direction. Column -1 leaves the rows as they are.
        """
        self.sort_column, self.sort_order = column, order
        key = self._key_function()
        self._keys = [key(r) for r in self.records] if key else [0] * len(self.records)
        if key is not None:
            self._rearrange(self._sorted_order())

    # -- the order -------------------------------------------------------------------------
    @property
    def _descending(self) -> bool:
        return self.sort_order == Qt.SortOrder.DescendingOrder

    def _key_function(self) -> Callable[[Record], SortKey] | None:
        if not 0 <= self.sort_column < len(self.columns):
            return None
        column = self.columns[self.sort_column]
        if column.key == "local":
            return self._have
        attribute, sort_key = column.key, column.sort_key
        return lambda record: sort_key(getattr(record, attribute, ""))

    def _sorted_order(self) -> list[int]:
        """The rows' indexes in sort order; a stable sort, also in reverse."""
        return sorted(range(len(self.records)), key=self._keys.__getitem__,
                      reverse=self._descending)

    def _in_order(self, start: int) -> bool:
        """Whether the rows from *start* on are already in sort order."""
        keys = self._keys
        if self._descending:
            return all(keys[i] >= keys[i + 1] for i in range(start, len(keys) - 1))
        return all(keys[i] <= keys[i + 1] for i in range(start, len(keys) - 1))

    def _rearrange(self, order: list[int]) -> None:
        """Show row ``order[n]`` as row *n*; selections and other persistent
        indexes move with their rows."""
        if order == list(range(len(order))):
            return
        self.layoutAboutToBeChanged.emit()
        self.records = [self.records[i] for i in order]
        self._keys = [self._keys[i] for i in order]
        persistent = self.persistentIndexList()
        if persistent:
            moved_to = dict(zip(order, range(len(order)), strict=True))
            self.changePersistentIndexList(
                persistent, [self.index(moved_to[i.row()], i.column()) if i.isValid()
                             else QModelIndex() for i in persistent])
        self.layoutChanged.emit()
