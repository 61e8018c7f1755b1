"""What a retrieve asks for, how it is going, and how it ended.

Kept apart from :mod:`qrscope.core.retrieve` so that the GUI models, the CLI
and the diagnosis can use these plain values without the network machinery.
The scope lives in :mod:`~qrscope.core.retrieve.scope` and the outcome in
:mod:`~qrscope.core.retrieve.outcome`; their names are importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from qrscope.core.dicom.status import StatusInfo
from qrscope.core.retrieve.outcome import (
    MissingInstance,
    MissingReason,
    RetrieveOutcome,
    outcome_status,
)
from qrscope.core.retrieve.scope import RetrieveScope

__all__ = ["MissingInstance", "MissingReason", "RetrieveOutcome", "RetrieveProgress",
           "RetrieveScope", "RetrieveState", "outcome_status"]


class RetrieveState(StrEnum):
    PENDING = "pending"
    CONNECTING = "connecting"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (RetrieveState.SUCCESS, RetrieveState.PARTIAL, RetrieveState.FAILED,
                        RetrieveState.CANCELLED)


@dataclass(frozen=True)
class RetrieveProgress:
    """A snapshot for progress bars; counts are the PACS's, ``received`` is ours."""

    job_id: str
    state: RetrieveState
    remaining: int | None
    completed: int
    failed: int
    warning: int
    received: int
    elapsed: float
    last_status: StatusInfo | None = None

    @property
    def total(self) -> int | None:
        if self.remaining is None:
            return None
        return self.remaining + self.completed + self.failed + self.warning

    @property
    def rate(self) -> float:
        """Instances per second received so far."""
        return self.received / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        if self.remaining is None or self.rate <= 0:
            return None
        return self.remaining / self.rate
