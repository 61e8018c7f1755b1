"""What the job service knows of one job: what was asked, where it is, how it ended.

Plain values, shared by the store, the service and the front ends; the core's
:class:`~qrscope.core.retrieve.types.RetrieveOutcome` of a job that ran in this
process rides along, but only the counts and a summary are kept on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any

from qrscope.core.profiles import RemoteNode, RetrieveMethod
from qrscope.core.send.selection import SendSelection
from qrscope.core.send.types import SendOutcome

if TYPE_CHECKING:
    from qrscope.core.batch.items import BatchSpec
    from qrscope.core.batch.runner import BatchResult
    from qrscope.core.retrieve.types import RetrieveOutcome, RetrieveScope

__all__ = ["JobKind", "JobPriority", "JobRecord", "JobState"]


class JobKind(StrEnum):
    """What a job does: fetch from a node, send the archive's instances to one, or
    fetch a list of studies (a batch, its items kept in the store)."""

    RETRIEVE = "retrieve"
    SEND = "send"
    BATCH = "batch"


class JobPriority(IntEnum):
    """Which jobs a node's queue starts first; within one, the order they were asked for.

    Kept with the job (the jobs file's ``priority`` column), so that after a
    restart a batch's items still wait behind single retrieves.
    """

    SINGLE = 0
    """A retrieve someone asked for now, from the window or the command line."""
    BATCH = 1
    """An item of a batch: it waits behind every single retrieve of its node."""

    @property
    def word(self) -> str:
        """The lane's name, as ``qrscope jobs`` shows it (``single``, ``batch``)."""
        return self.name.lower()


class JobState(StrEnum):
    """Where a job is. ``queued`` and ``running`` are unfinished: a process that
    ends with such a job leaves it to the next one (:meth:`JobService.resume`)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


@dataclass
class JobRecord:
    """One retrieve job, from the moment it is asked for.

    ``job_id`` is given when the job is created (the store's row number), so a
    queued job has its id like any other: front ends name jobs by it alone.
    ``node`` is the node as given when the job was asked for; the service
    prefers the node of that *name* as the profiles hold it when the job
    starts (a port fixed meanwhile is used), and falls back to this copy for
    a node that is not in the profiles (``qrscope retrieve --host ...``).
    """

    job_id: str
    node: RemoteNode
    scope: RetrieveScope | None
    """What a retrieve asks for (``None`` for a send)."""
    method: RetrieveMethod
    label: str
    storage_folder: str
    move_destination: str = ""
    state: JobState = JobState.QUEUED
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    interrupted: int = 0
    """How many runs were cut short by the process ending (quit, crash, kill)."""
    received: int = 0
    completed: int = 0
    failed: int = 0
    warning: int = 0
    expected: int | None = None
    summary: str = ""
    """How it ended, or why it never started, in words."""
    outcome: RetrieveOutcome | None = field(default=None, compare=False, repr=False)
    """The outcome, for a job that ended in this process (not kept on disk)."""
    kind: JobKind = JobKind.RETRIEVE
    send: SendSelection | None = None
    """What a send job sends (``None`` for a retrieve)."""
    send_outcome: SendOutcome | None = field(default=None, compare=False, repr=False)
    """A send's outcome, for a job that ended in this process (not kept on disk)."""
    batch: BatchSpec | None = None
    """What a batch job is (``None`` for the other kinds); its items are in the store."""
    batch_result: BatchResult | None = field(default=None, compare=False, repr=False)
    """A batch's last run, for a job that ran in this process (not kept on disk)."""
    retry_of: str = ""
    """The job this one retries (a send of what that one did not deliver); empty if none."""
    priority: JobPriority = JobPriority.SINGLE
    """Its lane in the node's queue (a batch job is always in the batch lane)."""

    @property
    def node_name(self) -> str:
        return self.node.name

    def to_dict(self) -> dict[str, Any]:
        """The ``qrscope jobs --json`` shape."""
        scope = self.scope
        return {
            "job_id": self.job_id, "kind": self.kind.value, "state": self.state.value,
            "label": self.label, "node": self.node_name, "method": self.method.value,
            "move_destination": self.move_destination,
            "scope": None if scope is None else {
                "level": scope.level.value, "study_uid": scope.study_uid,
                "series_uids": list(scope.series_uids),
                "instance_uids": list(scope.instance_uids), "patient_id": scope.patient_id},
            "send": None if self.send is None else self.send.to_dict(),
            "batch": None if self.batch is None else self.batch.to_dict(),
            "storage_folder": self.storage_folder, "created": self.created,
            "started": self.started, "ended": self.ended, "interrupted": self.interrupted,
            "received": self.received, "completed": self.completed, "failed": self.failed,
            "warning": self.warning, "expected": self.expected, "summary": self.summary,
            "retry_of": self.retry_of or None, "priority": self.priority.word,
        }
