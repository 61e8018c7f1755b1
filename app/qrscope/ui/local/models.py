"""The Local view's tables: rows of the archive index (plain dictionaries) as Qt models.

Each level has its columns (:data:`PATIENT_COLUMNS`, :data:`STUDY_COLUMNS`,
:data:`SERIES_COLUMNS`): a header, the row's key, how the value is shown
and how it sorts (counts and bytes as numbers, never as text: "9" after
"10" would be wrong). The model sorts its own rows, as the search results
do, and keeps the user's order across refreshes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QPixmap

from qrscope.ui.local.listing import human_bytes
from qrscope.ui.models.result_columns import person_name
from qrscope.ui.models.table_base import Index, ListTableModel

__all__ = ["PATIENT_COLUMNS", "SERIES_COLUMNS", "STUDY_COLUMNS", "ArchiveTableModel", "Column"]


def _date(value: Any) -> str:
    text = str(value or "")
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("inf")  # rows without a number go last


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    show: Callable[[Any], str] = _text
    sort_key: Callable[[Any], Any] | None = None
    align_right: bool = False


def _count(header: str, key: str) -> Column:
    return Column(header, key, _text, _number, True)


_SIZE = Column("Size", "bytes", human_bytes, _number, True)
_NAME = Column("Patient name", "patient_name", lambda v: person_name(str(v or "")))

PATIENT_COLUMNS = (_NAME, Column("Patient ID", "patient_id"),
                   Column("Birth date", "birth_date", _date), Column("Sex", "sex"),
                   _count("Studies", "studies"), _count("Series", "series"),
                   _count("Images", "instances"), _SIZE)
STUDY_COLUMNS = (Column("Date", "study_date", _date), _NAME, Column("Patient ID", "patient_id"),
                 Column("Modalities", "modalities"), Column("Description", "description"),
                 Column("Accession", "accession_number"), _count("Series", "series"),
                 _count("Images", "instances"), _SIZE, Column("Study UID", "study_uid"))
SERIES_COLUMNS = (Column("", "series_number", _text, _number, True),
                  Column("Modality", "modality"), Column("Series description", "description"),
                  _count("Images", "instances"), _SIZE, Column("Series UID", "series_uid"))
"""The first series column shows the thumbnail beside the series number."""


class ArchiveTableModel(ListTableModel):
    """Rows of one level; :attr:`rows` in the shown order, :attr:`key` names a row."""

    def __init__(self, columns: Sequence[Column], key: str, parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = tuple(columns)
        self.headers = tuple(c.header for c in self.columns)
        self.key = key
        self.rows: list[dict[str, Any]] = []
        self.sort_column = -1
        self.sort_order = Qt.SortOrder.AscendingOrder
        self.icons: dict[str, QPixmap] = {}
        """Decoration of the first column by row key (the series' thumbnails)."""
        self.tips: dict[str, str] = {}
        """Tooltip of the first column by row key (why a thumbnail failed)."""

    def row_list(self) -> Sequence[Any]:
        return self.rows

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        """Show *rows* (the archive as it is now), in the user's order."""
        self.beginResetModel()
        self.rows = list(rows)
        self._order()
        self.endResetModel()

    def key_of(self, row: int) -> str:
        return str(self.rows[row][self.key])

    def row_of(self, key: str) -> int:
        return next((n for n, row in enumerate(self.rows) if row[self.key] == key), -1)

    def set_icons(self, icons: dict[str, tuple[QPixmap, str]]) -> None:
        """The thumbnails (or placeholders) and tooltips of the rows *icons* names, by key,
        shown by one change of the first column (one repaint for many thumbnails)."""
        if not icons:
            return
        for key, (pixmap, tip) in icons.items():
            self.icons[key] = pixmap
            self.tips[key] = tip
        numbers = [n for n, row in enumerate(self.rows) if str(row[self.key]) in icons]
        if numbers:
            self.dataChanged.emit(self.index(min(numbers), 0), self.index(max(numbers), 0),
                                  [Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ToolTipRole])

    def cell_text(self, row: int, column: int) -> str:
        spec = self.columns[column]
        return spec.show(self.rows[row].get(spec.key))

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cell_text(index.row(), index.column())
        if role == Qt.ItemDataRole.TextAlignmentRole and column.align_right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if index.column() == 0 and role == Qt.ItemDataRole.DecorationRole:
            return self.icons.get(self.key_of(index.row()))
        if role == Qt.ItemDataRole.ToolTipRole:
            if index.column() == 0 and self.key_of(index.row()) in self.tips:
                return self.tips[self.key_of(index.row())]
            return self.cell_text(index.row(), index.column()) or None
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sort_column, self.sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        kept = self.persistentIndexList()  # the selection follows its rows
        keys = [(self.key_of(i.row()), i.column()) for i in kept]
        self._order()
        rows = {str(row[self.key]): n for n, row in enumerate(self.rows)}
        self.changePersistentIndexList(kept, [self.index(rows[k], c) for k, c in keys])
        self.layoutChanged.emit()

    def _order(self) -> None:
        if not 0 <= self.sort_column < len(self.columns):
            return
        spec = self.columns[self.sort_column]

        def key(row: dict[str, Any]) -> Any:
            value = row.get(spec.key)
            return spec.sort_key(value) if spec.sort_key else spec.show(value).casefold()

        self.rows.sort(key=key, reverse=self.sort_order == Qt.SortOrder.DescendingOrder)

    def clear(self) -> None:
        self.set_rows([])

    def index_of(self, key: str) -> QModelIndex:
        number = self.row_of(key)
        return self.index(number, 0) if number >= 0 else QModelIndex()
