"""Retrieve jobs as a table model: progress, rate, time left, and why a job ended as it did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from qrscope.core.jobs.records import JobState
from qrscope.core.jobs.service import RETRIEVES_PER_NODE
from qrscope.core.profiles import RetrieveMethod
from qrscope.core.retrieve.types import (
    RetrieveOutcome,
    RetrieveProgress,
    RetrieveScope,
    RetrieveState,
)
from qrscope.ui.job_words import count
from qrscope.ui.models.table_base import Index, ListTableModel

__all__ = ["JobRow", "JobTableModel"]

QUEUED_WORDS = "queued"
QUEUED_WHY = (f"Queued: at most {RETRIEVES_PER_NODE} retrieves run at once on a node; "
              "this one starts when one of them ends")

HEADERS = ("Job", "What", "Node", "Method", "State", "Progress", "Rate", "Left", "Why")
PROGRESS_COLUMN = 5
WIDEST_PROGRESS = "8888/8888 received, 888 failed"
"""The longest progress a job commonly shows: its column is made this wide."""


@dataclass
class JobRow:
    """One retrieve the user asked for: queued, running or done.

    The row shows a job of the core's job service (``RetrieveJobs`` keeps the
    list in step with it): ``job_id`` is the service's id, given when the job
    was asked for, so a queued row has its id like any other and is named by
    it alone. What was asked (``scope``, ``retrieve_method``, the node's
    name, never a copy of the node, so that a retry uses the node as it is
    now), where the job is (``job_state``) and what happened.
    """

    job_id: str
    what: str
    node: str
    method: str
    scope: RetrieveScope | None = None
    retrieve_method: RetrieveMethod = RetrieveMethod.MOVE
    job_state: JobState = JobState.QUEUED
    progress: RetrieveProgress | None = None
    outcome: RetrieveOutcome | None = None
    why: str = ""
    folder: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> RetrieveState:
        if self.outcome is not None:
            return RetrieveState(self.outcome.status)
        if self.job_state.is_final:
            return RetrieveState(self.job_state.value)
        if self.progress is None:
            return RetrieveState.PENDING
        # The retrieve's last progress comes before the service has recorded
        # its end and sent the outcome: until then the job is still running.
        return RetrieveState.RUNNING if self.progress.state.is_final else self.progress.state

    @property
    def queued(self) -> bool:
        return self.job_state is JobState.QUEUED

    @property
    def not_started(self) -> str:
        """Why a job ended without an outcome (cancelled while queued, listener
        stopped, nothing missing); empty otherwise."""
        return self.why if self.job_state.is_final and self.outcome is None else ""

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
        if self.queued:  # the tooltip says why; the words fit the bar
            return QUEUED_WORDS
        if self.not_started:
            return self.not_started
        if p is None:
            return ""
        total = f"/{p.total}" if p.total is not None else ""
        parts = [f"{p.received}{total} received"]
        if p.failed:
            parts.append(f"{p.failed} failed")
        if p.warning:
            parts.append(f"{count(p.warning, 'warning')}")
        # One count, of the PACS's total: no "remaining" beside it, which is
        # the PACS's own count and lags behind the images that have arrived.
        return ", ".join(parts)


class JobTableModel(ListTableModel):
    headers = HEADERS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[JobRow] = []
        self._numbers: dict[str, int] = {}  # job id -> row; rows are only appended

    def add(self, row: JobRow) -> None:
        self.add_many([row])

    def add_many(self, rows: list[JobRow]) -> None:
        """Append rows in one insertion (two thousand jobs asked for at once)."""
        if not rows:
            return
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        for number, row in enumerate(rows, first):
            self._numbers[row.job_id] = number
        self.rows.extend(rows)
        self.endInsertRows()

    def row_of(self, job_id: str) -> int:
        """The row of the job *job_id* (every row has its own, queued or not)."""
        return self._numbers.get(job_id, -1)

    def find(self, job_id: str) -> JobRow | None:
        number = self.row_of(job_id)
        return self.rows[number] if number >= 0 else None

    def update(self, which: str, /, **changes: Any) -> None:
        """Change the row of the job *which*, and redraw it."""
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
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == PROGRESS_COLUMN:
            return QUEUED_WHY if row.queued else row.progress_text() or None
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
