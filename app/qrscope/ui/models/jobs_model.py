"""Jobs as a table model: progress, rate, time left, and why a job ended as it did.

Most jobs are retrieves; a send of the archive to a node (``kind`` send)
shares the table, its progress counted in instances sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from qrscope.core.batch.items import ItemProgress
from qrscope.core.batch.progress import BatchProgress
from qrscope.core.jobs.batching import BATCH_RETRIED
from qrscope.core.jobs.records import JobKind, JobState
from qrscope.core.jobs.service import RETRIEVES_PER_NODE
from qrscope.core.profiles import RetrieveMethod
from qrscope.core.retrieve.types import (
    RetrieveOutcome,
    RetrieveProgress,
    RetrieveScope,
    RetrieveState,
)
from qrscope.core.send.selection import SendSelection
from qrscope.core.send.types import InstanceState, SendOutcome, SendProgress
from qrscope.ui.job_words import count
from qrscope.ui.models.table_base import Index, ListTableModel

__all__ = ["BatchCounts", "JobRow", "JobTableModel"]

QUEUED_WORDS = "queued"
QUEUED_WHY = (f"Queued: at most {RETRIEVES_PER_NODE} retrieves run at once on a node; "
              "this one starts when one of them ends")

HEADERS = ("Job", "What", "Node", "Method", "State", "Progress", "Rate", "Left", "Why")
PROGRESS_COLUMN = 5
WIDEST_PROGRESS = "8888/8888 received, 888 failed"
"""The longest progress a job commonly shows: its column is made this wide."""


@dataclass(frozen=True)
class BatchCounts:
    """A batch job's numbers as its row shows them: the run page's items and instances."""

    finished: int
    items: int
    received: int
    expected: int
    to_retry: int = 0
    """Items a retry would run again (counted once the batch ended)."""

    @classmethod
    def of_progress(cls, progress: BatchProgress) -> BatchCounts:
        open_ = progress.counts.get("pending", 0) + progress.counts.get("found", 0)
        return cls(progress.items - open_, progress.items, progress.instances_received,
                   progress.instances_expected)

    @classmethod
    def of_items(cls, items: tuple[ItemProgress, ...] | list[ItemProgress]) -> BatchCounts:
        finished = sum(1 for p in items if p.status.is_final)
        return cls(finished, len(items), sum(p.received for p in items),
                   sum(p.expected or 0 for p in items),
                   sum(1 for p in items if p.status in BATCH_RETRIED))

    def text(self) -> str:
        return (f"{self.finished}/{self.items} items, "
                f"{self.received}/{self.expected or '?'} instances")

    def fraction(self) -> float | None:
        return self.finished / self.items if self.items else None


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
    kind: JobKind = JobKind.RETRIEVE
    send: SendSelection | None = None
    """What a send job sends (``None`` for a retrieve)."""
    send_progress: SendProgress | None = None
    send_outcome: SendOutcome | None = None
    batch: BatchCounts | None = None
    """A batch job's items and instances, as it runs and as it ended."""

    @property
    def state(self) -> RetrieveState:
        if self.outcome is not None:
            return RetrieveState(self.outcome.status)
        if self.send_outcome is not None:
            return RetrieveState(self.send_outcome.status)
        if self.kind in (JobKind.SEND, JobKind.BATCH) and not self.job_state.is_final:
            sending = self.send_progress
            return RetrieveState.RUNNING if sending is not None else (
                RetrieveState.RUNNING if self.job_state is JobState.RUNNING
                else RetrieveState.PENDING)
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
        ended_bare = self.outcome is None and self.send_outcome is None and self.batch is None
        return self.why if self.job_state.is_final and ended_bare else ""

    @property
    def retryable(self) -> bool:
        """Ended with something not done that asking again may do."""
        if not self.state.is_final:
            return False
        if self.kind is JobKind.BATCH:
            return bool(self.batch and self.batch.to_retry)
        if self.not_started:
            return self.state is not RetrieveState.CANCELLED
        if self.send_outcome is not None:
            return bool(self.send_outcome.failed_uids or self.send_outcome.failure)
        outcome = self.outcome
        return bool(outcome and (outcome.failed_uids or outcome.failure
                                 or outcome.status in ("failed", "partial")))

    @property
    def state_text(self) -> str:
        return "queued" if self.queued else self.state.value

    def fraction(self) -> float | None:
        """How much of the retrieve is on disk, for the bar; ``None``: not known yet.

        The bar shows what arrived, not what the PACS has dealt with: a
        failed job that brought nothing is an empty bar, never a full one.
        """
        if self.kind is JobKind.SEND:
            return self._send_fraction()
        if self.kind is JobKind.BATCH:
            return self.batch.fraction() if self.batch is not None else None
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

    def _send_fraction(self) -> float | None:
        sent = self.send_progress
        if self.send_outcome is not None:
            done = self.send_outcome.total - len(self.send_outcome.failed_uids)
            return done / self.send_outcome.total if self.send_outcome.total else 1.0
        return sent.done / sent.total if sent is not None and sent.total else None

    def _send_text(self) -> str:
        ended, sent = self.send_outcome, self.send_progress
        if ended is not None:
            failed = ended.count(InstanceState.FAILED)
            done = (ended.count(InstanceState.STORED) + ended.count(InstanceState.WARNING)
                    + ended.already_sent)
            return f"{done}/{ended.total} sent" + (f", {failed} failed" if failed else "")
        if sent is None:
            return ""
        parts = [f"{sent.stored + sent.warning}/{sent.total} sent"]
        if sent.failed:
            parts.append(f"{sent.failed} failed")
        if sent.warning:
            parts.append(count(sent.warning, "warning"))
        return ", ".join(parts)

    def rate_text(self) -> str:
        if self.kind is JobKind.SEND:
            sent = self.send_progress
            return f"{sent.rate:.1f}/s" if sent is not None and sent.done else ""
        p = self.progress
        return f"{p.rate:.1f}/s" if p and p.received else ""

    def left_text(self) -> str:
        if self.state.is_final:
            return ""
        if self.kind is JobKind.SEND:
            sent = self.send_progress
            if sent is None or not sent.rate:
                return ""
            return f"{(sent.total - sent.done) / sent.rate:.0f} s"
        left = self.progress.seconds_left if self.progress else None
        return "" if left is None else f"{left:.0f} s"

    def progress_text(self) -> str:
        p = self.progress
        if self.queued:  # the tooltip says why; the words fit the bar
            return QUEUED_WORDS
        if self.not_started:
            return self.not_started
        if self.kind is JobKind.SEND:
            return self._send_text()
        if self.kind is JobKind.BATCH:
            return self.batch.text() if self.batch is not None else ""
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
            return row.rate_text()
        if column == 7:
            return row.left_text()
        return row.why
