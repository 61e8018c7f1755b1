"""Retrieve jobs as a table model: progress, rate, time left, and why a job ended as it did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from qrscope.core.retrieve.types import RetrieveOutcome, RetrieveProgress, RetrieveState
from qrscope.ui.models.table_base import Index, ListTableModel

__all__ = ["JobRow", "JobTableModel"]

HEADERS = ("Job", "What", "Node", "Method", "State", "Progress", "Rate", "Left", "Why")
PROGRESS_COLUMN = 5


@dataclass
class JobRow:
    job_id: str
    what: str
    node: str
    method: str
    progress: RetrieveProgress | None = None
    outcome: RetrieveOutcome | None = None
    why: str = ""
    folder: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> RetrieveState:
        if self.outcome is not None:
            return RetrieveState(self.outcome.status)
        return self.progress.state if self.progress else RetrieveState.PENDING

    def fraction(self) -> float | None:
        progress = self.progress
        if progress is None or progress.total in (None, 0):
            return 1.0 if self.state is RetrieveState.SUCCESS else None
        done = progress.completed + progress.failed + progress.warning
        return min(1.0, done / progress.total)  # type: ignore[operator]

    def progress_text(self) -> str:
        p = self.progress
        if p is None:
            return ""
        total = f"/{p.total}" if p.total is not None else ""
        parts = [f"{p.received}{total} received"]
        if p.failed:
            parts.append(f"{p.failed} failed")
        if p.warning:
            parts.append(f"{p.warning} warning")
        if p.remaining:
            parts.append(f"{p.remaining} remaining")
        return ", ".join(parts)


class JobTableModel(ListTableModel):
    headers = HEADERS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[JobRow] = []

    def add(self, row: JobRow) -> None:
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows))
        self.rows.append(row)
        self.endInsertRows()

    def row_of(self, job_id: str) -> int:
        return next((i for i, r in enumerate(self.rows) if r.job_id == job_id), -1)

    def update(self, job_id: str, **changes: Any) -> None:
        number = self.row_of(job_id)
        if number < 0:
            return
        for key, value in changes.items():
            setattr(self.rows[number], key, value)
        self.dataChanged.emit(self.index(number, 0), self.index(number, len(HEADERS) - 1))

    def row_list(self) -> list[Any]:
        return self.rows

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, index.column())
        if role == Qt.ItemDataRole.UserRole:
            return row.fraction()
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == len(HEADERS) - 1:
            return row.why
        if role == Qt.ItemDataRole.ForegroundRole and index.column() in (4, 8):
            color = {RetrieveState.FAILED: "#c62828", RetrieveState.PARTIAL: "#ef6c00",
                     RetrieveState.SUCCESS: "#2e7d32"}.get(row.state)
            return QBrush(QColor(color)) if color else None
        return None

    @staticmethod
    def _text(row: JobRow, column: int) -> str:
        p = row.progress
        if column == 0:
            return row.job_id
        if column == 1:
            return row.what
        if column == 2:
            return row.node
        if column == 3:
            return row.method
        if column == 4:
            return row.state.value
        if column == PROGRESS_COLUMN:
            return row.progress_text()
        if column == 6:
            return f"{p.rate:.1f}/s" if p and p.received else ""
        if column == 7:
            left = p.seconds_left if p else None
            return "" if left is None or row.state.is_final else f"{left:.0f} s"
        return row.why
