"""How a send is going and how it ended: plain values for every front end."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from qrscope.core.dicom.status import StatusInfo
from qrscope.core.net.connection import AssociationFailure

__all__ = ["InstanceState", "SendOutcome", "SendProgress", "SendResult", "SendState"]


class SendState(StrEnum):
    CONNECTING = "connecting"
    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in (SendState.CONNECTING, SendState.RUNNING)


class InstanceState(StrEnum):
    STORED = "stored"
    WARNING = "warning"
    """Stored, with a warning status (PS3.4 B.2.3: coerced, elements discarded, ...)."""
    FAILED = "failed"

    @property
    def sent(self) -> bool:
        """The peer holds it: a resumed send does not send it again."""
        return self is not InstanceState.FAILED


@dataclass(frozen=True)
class SendResult:
    """One instance's end: its state, the peer's status, the syntax it went as."""

    sop_instance_uid: str
    sop_class_uid: str
    state: InstanceState
    status: StatusInfo | None = None
    reason: str = ""
    """Why it failed (the status's meaning, or what stopped it before any status)."""
    syntax: str = ""
    note: str = ""
    """Set when it was converted: "sent as X: the peer accepted no Y context"."""
    size: int = 0

    def to_dict(self) -> dict[str, Any]:
        status = self.status
        return {"sop_instance_uid": self.sop_instance_uid, "sop_class_uid": self.sop_class_uid,
                "state": self.state.value, "transfer_syntax": self.syntax, "note": self.note,
                "status": None if status is None else {
                    "code": f"0x{status.code:04X}", "category": status.category.value,
                    "meaning": status.meaning},
                "reason": self.reason, "bytes": self.size}


@dataclass(frozen=True)
class SendProgress:
    """A snapshot for progress bars and the command line's progress line."""

    job_id: str
    state: SendState
    total: int
    stored: int
    warning: int
    failed: int
    bytes_sent: int
    elapsed: float

    @property
    def done(self) -> int:
        return self.stored + self.warning + self.failed

    @property
    def rate(self) -> float:
        """Instances per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def bytes_per_second(self) -> float:
        return self.bytes_sent / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class SendOutcome:
    """How a send ended: per instance, and the association failure if one stopped it."""

    job_id: str
    node_name: str
    total: int
    results: list[SendResult] = field(default_factory=list)
    failure: AssociationFailure | None = None
    cancelled: bool = False
    seconds: float = 0.0
    already_sent: int = 0
    """Instances a resumed job had sent before it was cut short (not sent again)."""
    refused_classes: list[str] = field(default_factory=list)
    """SOP classes the peer accepted no context for."""
    resumed: str = ""
    """Why the send went on on a new association (associations lost mid-send)."""
    associations: int = 0
    """The most associations the send had open at once."""

    def count(self, state: InstanceState) -> int:
        return sum(1 for r in self.results if r.state is state)

    @property
    def failed_uids(self) -> list[str]:
        return [r.sop_instance_uid for r in self.results if r.state is InstanceState.FAILED]

    @property
    def converted(self) -> list[SendResult]:
        return [r for r in self.results if r.note]

    @property
    def bytes_sent(self) -> int:
        return sum(r.size for r in self.results if r.state.sent)

    @property
    def status(self) -> str:
        """success (everything the peer holds now), partial, failed or cancelled."""
        sent = sum(1 for r in self.results if r.state.sent) + self.already_sent
        if self.cancelled:
            return SendState.CANCELLED.value
        if sent == self.total and self.failure is None:
            return SendState.SUCCESS.value
        return (SendState.PARTIAL if sent else SendState.FAILED).value

    def to_dict(self) -> dict[str, Any]:
        failure = self.failure
        return {
            "job_id": self.job_id, "status": self.status, "node": self.node_name,
            "total": self.total, "stored": self.count(InstanceState.STORED),
            "warning": self.count(InstanceState.WARNING),
            "failed": self.count(InstanceState.FAILED), "already_sent": self.already_sent,
            "not_sent": self.total - self.already_sent - len(self.results),
            "converted": len(self.converted), "bytes": self.bytes_sent,
            "seconds": round(self.seconds, 3), "refused_classes": self.refused_classes,
            "resumed": self.resumed or None, "associations": self.associations,
            "error": None if failure is None else {"reason": failure.reason.value,
                                                   "message": failure.message},
            "instances": [r.to_dict() for r in self.results],
        }
