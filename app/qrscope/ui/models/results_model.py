"""C-FIND results as a table model that keeps its rows in the order of the sort column.

The cells live on Qt's side (a ``QStandardItemModel``), so that painting the
table never calls Python. With a Python model Qt asked ``data()`` for seven
roles of every visible cell, plus ``rowCount`` and ``columnCount`` for every
index: about 2,000 calls into Python per repaint of the study table. Each
call must take the interpreter lock back from the threads decoding a
search's responses, and each such hand-over can wait the interpreter's
whole switch interval (5 ms): a repaint during a 10,000-study search held
the GUI thread for 0.3-1 s (benchmarks/window.py, which counted the calls
of each late heartbeat's turn). Painting from Qt's own items needs no lock.

The order is still decided here, in Python, and Qt's rows follow it: a row
that arrives is inserted where the sort puts it, and a header click sorts
Qt's rows by each row's rank in the order computed here. Both sorts are
stable, in either direction. A click on a header keeps rows with equal keys
in the order they were shown, as Qt's sorting proxy did: sorting by date,
then by patient, lists each patient's studies by date. Rows that arrive go
after the rows already shown with the same key, in the order they came.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QStandardItem, QStandardItemModel

from qrscope.core.dicom.records import QueryLevel, Record
from qrscope.ui.models.result_columns import COLUMNS, Column, SortKey, person_name

__all__ = ["COLUMNS", "Column", "RecordTableModel", "person_name"]

SORT_KEY_ROLE = Qt.ItemDataRole.UserRole
"""The sort key of a number's cell; text sorts by what it shows."""
_RANK_ROLE = Qt.ItemDataRole.UserRole + 1
"""A row's place in a new order, for Qt to move its rows there in one sort."""
_LOCAL_COLOUR = QColor("#2e7d32")
_DISPLAY, _TOOLTIP = Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole
_FOREGROUND = Qt.ItemDataRole.ForegroundRole


class RecordTableModel(QStandardItemModel):
    """Rows of one query level, in the order the view's header asks for.

    :attr:`records` is the list as shown: row *n* of the view is
    ``records[n]``. :meth:`append` adds a batch and keeps the order;
    :meth:`sort` (which the view calls when a header is clicked) re-sorts.
    Selections and other persistent indexes follow their rows. Nothing that
    Qt calls while painting (``data``, ``rowCount``, ``headerData``...) is
    overridden here.
    """

    def __init__(self, level: QueryLevel, parent: Any = None) -> None:
        super().__init__(0, len(COLUMNS[level]), parent)
        self.level = level
        self.columns = COLUMNS[level]
        self.records: list[Record] = []
        self.local_counts: dict[str, int] = {}
        self.sort_column = -1
        """The column the rows are sorted by; -1: none, rows stay where they are."""
        self.sort_order = Qt.SortOrder.AscendingOrder
        self._keys: list[SortKey] = []  # the sort key of each row of records
        self._local = next((i for i, c in enumerate(self.columns) if c.key == "local"), None)
        # What _fill needs of each column but the local one, looked up once:
        # a row's cells are made on the GUI thread, 10,000 rows in a search.
        self._cell_specs = [(number, c.key, c.text, c.sort_key if c.numeric else None,
                             c.key.endswith("uid"))
                            for number, c in enumerate(self.columns) if c.key != "local"]
        self.setSortRole(_RANK_ROLE)
        for number, column in enumerate(self.columns):
            title = QStandardItem(column.title)
            title.setToolTip(column.tip or column.title)
            self.setHorizontalHeaderItem(number, title)

    # -- the cells ---------------------------------------------------------------------
    def _fill(self, row: int, record: Record) -> None:
        """Row *row*'s cells, as Qt will paint them without asking Python.

        Set through indexes, so that Qt creates the items itself: items made
        in Python keep a Python wrapper each for as long as they live (about
        90 MB more for 10,000 studies)."""
        index, set_data = self.index, self.setData
        for number, attribute, text, sort_key, is_uid in self._cell_specs:
            cell = index(row, number)
            value = getattr(record, attribute, "")
            set_data(cell, text(value), _DISPLAY)
            if sort_key is not None:  # numbers; text sorts by what is shown
                set_data(cell, sort_key(value), SORT_KEY_ROLE)
            if is_uid:
                set_data(cell, str(value), _TOOLTIP)
        if self._local is not None:
            self._set_local(index(row, self._local), record, new=True)

    def cell_text(self, row: int, column: int) -> str:
        """What a cell shows (for measuring columns)."""
        record = self.records[row]
        spec = self.columns[column]
        if spec.key == "local":
            return self._local_text(record)
        return spec.text(getattr(record, spec.key, ""))

    def _have(self, record: Record) -> int:
        return self.local_counts.get(getattr(record, "study_uid", ""), 0)

    def _local_text(self, record: Record) -> str:
        have = self._have(record)
        if not have:
            return ""
        total = getattr(record, "number_of_instances", None)
        # Always with the total: "12" alone reads as complete.
        if total is None:
            return f"{have}/?"
        return f"✓ {have}" if have >= total else f"{have}/{total}"

    def _set_local(self, cell: QModelIndex, record: Record, new: bool = False) -> None:
        """The Local cell of *record* (*new*: a cell with nothing set yet)."""
        have = self._have(record)
        self.setData(cell, self._local_text(record), _DISPLAY)
        self.setData(cell, have, SORT_KEY_ROLE)
        if new and not have:
            return
        total = getattr(record, "number_of_instances", None)
        self.setData(cell, f"{have} of {total if total is not None else '?'} instances stored "
                     "locally" if have else None, _TOOLTIP)
        self.setData(cell, QBrush(_LOCAL_COLOUR) if have else None, _FOREGROUND)

    # -- changing the rows -------------------------------------------------------------
    def append(self, records: Sequence[Record]) -> None:
        """Add a batch, each row where the sort order puts it (after the rows
        with an equal key). Qt's rows are created here, on the GUI thread:
        callers hand over a bounded number at a time."""
        if not records:
            return
        key = self._key_function()
        for record in records:
            sort_key = key(record) if key else 0
            row = self._place(sort_key) if key else len(self.records)
            self.records.insert(row, record)
            self._keys.insert(row, sort_key)
            self.insertRow(row)
            self._fill(row, record)

    def _place(self, key: SortKey) -> int:
        """Where a row with *key* goes: after every row that sorts before it or equal."""
        keys, low, high = self._keys, 0, len(self._keys)
        descending = self._descending
        while low < high:
            middle = (low + high) // 2
            if (keys[middle] >= key) if descending else (keys[middle] <= key):
                low = middle + 1
            else:
                high = middle
        return low

    def clear(self) -> None:
        """No rows (the columns, their titles and widths stay).

        A reset first, as before: the views drop their selection without a
        ``selectionChanged`` (whose slot would start a search of the
        series). Qt's rows, then unselected, go after it."""
        self.beginResetModel()
        self.records, self._keys = [], []
        self.local_counts = {}
        self.endResetModel()
        self.setRowCount(0)

    def set_local_counts(self, counts: dict[str, int]) -> None:
        """How many instances of each study are on disk (the Local column)."""
        previous, self.local_counts = self.local_counts, counts
        if self._local is None:
            return
        for row, record in enumerate(self.records):
            uid = getattr(record, "study_uid", "")
            if previous.get(uid, 0) != counts.get(uid, 0):
                self._set_local(self.index(row, self._local), record)
        if self._local == self.sort_column:
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

    def _rearrange(self, order: list[int]) -> None:
        """Show row ``order[n]`` as row *n*; selections and other persistent
        indexes move with their rows (Qt's own sort by each row's rank does that)."""
        if order == list(range(len(order))):
            return
        self.records = [self.records[i] for i in order]
        self._keys = [self._keys[i] for i in order]
        self.blockSignals(True)  # ranks are no news to the views
        try:
            for rank, row in enumerate(order):
                self.setData(self.index(row, 0), rank, _RANK_ROLE)
        finally:
            self.blockSignals(False)
        super().sort(0, Qt.SortOrder.AscendingOrder)
