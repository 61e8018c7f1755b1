"""Retrieve jobs as a table model: progress, rate, time left, and why a job ended as it did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from qrscope.core.profiles import RetrieveMethod
from qrscope.core.retrieve.types import (
    RetrieveOutcome,
    RetrieveProgress,
    RetrieveScope,
    RetrieveState,
)
from qrscope.ui.models.table_base import Index, ListTableModel

__all__ = ["JobRow", "JobTableModel"]

HEADERS = ("Job", "What", "Node", "Method", "State", "Progress", "Rate", "Left", "Why")
PROGRESS_COLUMN = 5


@dataclass
class JobRow:
    """One retrieve the user asked for: queued, running or done.

    The row is the job's one record in the window (``RetrieveJobs`` owns the
    list): what was asked (``scope``, ``retrieve_method``, the node's name,
    never a copy of the node, so that a retry uses the node as it is now),
    and what happened. ``job_id`` is the core job's id, empty while queued.
    """

    key: str
    what: str
    node: str
    method: str
    job_id: str = ""
    scope: RetrieveScope | None = None
    retrieve_method: RetrieveMethod = RetrieveMethod.MOVE
    progress: RetrieveProgress | None = None
    outcome: RetrieveOutcome | None = None
    not_started: str = ""
    """Why the job never started (cancelled while queued, listener stopped)."""
    why: str = ""
    folder: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> RetrieveState:
        if self.outcome is not None:
            return RetrieveState(self.outcome.status)
        if self.not_started:
            return (RetrieveState.CANCELLED if self.not_started.startswith("cancelled")
                    else RetrieveState.FAILED)
        return self.progress.state if self.progress else RetrieveState.PENDING

    @property
    def queued(self) -> bool:
        return not self.job_id and not self.not_started

    @property
    def state_text(self) -> str:
        return "queued" if self.queued else self.state.value

    def fraction(self) -> float | None:
        """How much of the retrieve is on disk, for the bar; ``None``: not known yet.

        The bar shows what arrived, not what the PACS has dealt with: a
        failed job that brought nothing is an empty bar, never a full one.
        """
        progress = self.progress
        final = self.state.is_final
        received = len(self.outcome.stored) if self.outcome is not None else (
            progress.received if progress else 0)
        total = progress.total if progress is not None else None
        if self.outcome is not None and self.outcome.expected:
            total = self.outcome.expected
        if not total:
            if final:
                return 1.0 if self.state is RetrieveState.SUCCESS else 0.0
            return None
        if not final and progress is not None:
            done = progress.completed + progress.failed + progress.warning
            return min(1.0, max(done, received) / total)
        return min(1.0, received / total)

    def progress_text(self) -> str:
        p = self.progress
        if self.queued:
            return "queued: waiting for a free slot on the node"
        if self.not_started:
            return self.not_started
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
        """The row of a job by its core id or, while it is queued, its key."""
        return next((i for i, r in enumerate(self.rows)
                     if job_id in (r.job_id, r.key)), -1)

    def find(self, job_id: str) -> JobRow | None:
        number = self.row_of(job_id)
        return self.rows[number] if number >= 0 else None

    def update(self, which: str, /, **changes: Any) -> None:
        """Change the row of job id or key *which*, and redraw it."""
        number = self.row_of(which)
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
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 1:
            return row.what
        if role == Qt.ItemDataRole.ForegroundRole and index.column() in (4, 8):
            color = {RetrieveState.FAILED: "#c62828", RetrieveState.PARTIAL: "#ef6c00",
                     RetrieveState.SUCCESS: "#2e7d32"}.get(row.state)
            return QBrush(QColor(color)) if color else None
        return None

    @staticmethod
    def _text(row: JobRow, column: int) -> str:
        p = row.progress
        if column == 0:
            return row.job_id or "—"
        if column == 1:
            return row.what
        if column == 2:
            return row.node
        if column == 3:
            return row.method
        if column == 4:
            return row.state_text
        if column == PROGRESS_COLUMN:
            return row.progress_text()
        if column == 6:
            return f"{p.rate:.1f}/s" if p and p.received else ""
        if column == 7:
            left = p.seconds_left if p else None
            return "" if left is None or row.state.is_final else f"{left:.0f} s"
        return row.why
