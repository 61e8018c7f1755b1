"""How a retrieve ended: one frozen value, built once from the job's books.

:func:`build_outcome` joins the two sources of truth a retrieve has, what
the PACS said in its responses and what actually reached us (both in the
job's :class:`~qrscope.core.retrieve.ledger.RetrieveLedger`), with what only
the job knows at its end (:class:`Ending`: a failure, a cancel, the incoming
associations, what is missing and why). :func:`outcome_status` turns them
into ``success``, ``partial``, ``failed`` or ``cancelled``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from qrscope.core.dicom.status import StatusCategory, StatusInfo
from qrscope.core.profiles import RetrieveMethod
from qrscope.core.receive.claims import originator_quirk
from qrscope.core.retrieve.scope import RetrieveScope

if TYPE_CHECKING:
    from qrscope.core.net.connection import AssociationFailure
    from qrscope.core.receive.listener import IncomingConnection
    from qrscope.core.receive.reception import ReceivedInstance
    from qrscope.core.retrieve.ledger import LedgerRecord

__all__ = ["Ending", "MissingInstance", "MissingReason", "RetrieveOutcome", "build_outcome",
           "outcome_status"]


class MissingReason(StrEnum):
    """Why an instance the PACS holds for the scope did not arrive."""

    NO_CONTEXT = "no-context"
    """C-GET: we proposed no context the PACS could send its SOP class or syntax on."""
    NOT_PROPOSED = "not-proposed"
    """C-GET: its class was left out of our proposal (more classes than an association holds)."""
    FAILED_AT_PACS = "failed-at-pacs"
    """The PACS counted the sub-operation as failed (Failed SOP Instance UID List)."""
    NOT_STORED = "not-stored"
    """It arrived, but we could not store it (disk full, unreadable data)."""
    NOT_SENT = "not-sent"
    """Listed by C-FIND, never arrived, and the PACS did not say it failed."""
    CANCELLED = "cancelled"
    """The retrieve was cancelled before it arrived."""


@dataclass(frozen=True)
class MissingInstance:
    """One instance of the scope that is not on disk after the retrieve, and why."""

    sop_instance_uid: str
    reason: MissingReason
    detail: str = ""
    sop_class_uid: str = ""
    series_uid: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"sop_instance_uid": self.sop_instance_uid, "reason": self.reason.value,
                "detail": self.detail, "sop_class_uid": self.sop_class_uid,
                "series_uid": self.series_uid}


@dataclass(frozen=True)
class RetrieveOutcome:
    """How a retrieve ended, with the evidence for hints.

    Frozen: made once, by :func:`build_outcome` at the end of a job (or by
    :meth:`combined`, or by the job service for a job that could not run);
    a changed view of it is a new one (``dataclasses.replace``). The lists
    are the outcome's own copies.
    """

    job_id: str
    method: RetrieveMethod
    move_destination: str = ""
    status: str = "failed"
    final_status: StatusInfo | None = None
    remaining: int | None = None
    completed: int = 0
    failed: int = 0
    warning: int = 0
    failed_uids: list[str] = field(default_factory=list)
    received: list[ReceivedInstance] = field(default_factory=list)
    late: list[ReceivedInstance] = field(default_factory=list)
    """Instances that arrived after the final response (non-conformant PACS)."""
    incoming_associations: list[IncomingConnection] = field(default_factory=list)
    failure: AssociationFailure | None = None
    cancelled: bool = False
    timed_out: str | None = None
    responses: int = 0
    first_response_seconds: float | None = None
    seconds: float = 0.0
    association_id: str = ""
    local_address: str = ""
    recovered: list[str] = field(default_factory=list)
    """C-GET instances that failed at first and arrived when asked again."""
    peer_aborted: bool = False
    """The PACS aborted the association (A-ABORT, or closed the connection) before
    its final response; an abort of ours (timeout, cancel) does not count."""
    expected: int | None = None
    """How many instances the C-FIND listed for the scope, when it was asked."""
    missing: list[MissingInstance] = field(default_factory=list)
    """Every instance of the scope known to be absent after the retrieve, with why."""
    sender_aliases: list[str] = field(default_factory=list)
    """AE titles other than the node's that its C-MOVE sub-operations came under."""
    originator_quirk: str = ""
    """How the node filled the Move Originator fields of its sub-operations wrongly
    (its own AE title, a Message ID of no request); empty when it did not."""
    patient_id_missing: bool = False
    """Patient Root, and a request went out without the Patient ID: none was given and
    the PACS did not tell it (strict servers refuse such a request, PS3.4 C.4.2.2.1)."""

    @property
    def stored(self) -> list[ReceivedInstance]:
        return [r for r in self.received if r.ok]

    @property
    def files(self) -> list[str]:
        return [str(r.stored.path) for r in self.received if r.stored is not None]

    def retry_scopes(self, scope: RetrieveScope) -> list[RetrieveScope]:
        """What a retry of *scope* should ask for: exactly what is missing.

        One instance-level scope per series of the missing instances; the
        whole *scope* again when the gaps cannot be placed in a series.
        """
        if not self.missing:
            return [scope]
        by_series: dict[str, list[MissingInstance]] = {}
        for item in self.missing:
            series = item.series_uid or (scope.series_uids[0] if len(scope.series_uids) == 1
                                         else "")
            if not series:
                return [scope]
            by_series.setdefault(series, []).append(item)
        return [RetrieveScope.instances(
                    scope.study_uid, series, *[m.sop_instance_uid for m in items],
                    patient_id=scope.patient_id, modalities=scope.modalities,
                    sop_classes=tuple(dict.fromkeys(m.sop_class_uid for m in items
                                                    if m.sop_class_uid)) or scope.sop_classes)
                for series, items in by_series.items()]

    @classmethod
    def combined(cls, parts: list[RetrieveOutcome]) -> RetrieveOutcome:
        """One outcome for a job that ran as several requests in turn (a resumed job
        asks for each series' missing instances apart): counts and evidence
        joined, the status the worst of theirs. *parts* must not be empty."""
        if len(parts) == 1:
            return parts[0]
        first, last = parts[0], parts[-1]
        statuses = {p.status for p in parts}
        status = ("cancelled" if "cancelled" in statuses else
                  next(iter(statuses)) if len(statuses) == 1 else "partial")
        expected = [p.expected for p in parts]
        return cls(
            job_id=first.job_id, method=first.method, move_destination=first.move_destination,
            status=status, final_status=last.final_status, remaining=last.remaining,
            completed=sum(p.completed for p in parts), failed=sum(p.failed for p in parts),
            warning=sum(p.warning for p in parts),
            failed_uids=[u for p in parts for u in p.failed_uids],
            received=[r for p in parts for r in p.received],
            late=[r for p in parts for r in p.late],
            incoming_associations=[c for p in parts for c in p.incoming_associations],
            failure=next((p.failure for p in parts if p.failure is not None), None),
            cancelled=any(p.cancelled for p in parts),
            timed_out=next((p.timed_out for p in parts if p.timed_out), None),
            responses=sum(p.responses for p in parts),
            first_response_seconds=first.first_response_seconds,
            seconds=sum(p.seconds for p in parts), association_id=last.association_id,
            local_address=last.local_address, recovered=[u for p in parts for u in p.recovered],
            peer_aborted=any(p.peer_aborted for p in parts),
            expected=None if None in expected else sum(e or 0 for e in expected),
            missing=[m for p in parts for m in p.missing],
            sender_aliases=list(dict.fromkeys(a for p in parts for a in p.sender_aliases)),
            originator_quirk=next((p.originator_quirk for p in parts if p.originator_quirk), ""),
            patient_id_missing=any(p.patient_id_missing for p in parts))

    def to_dict(self) -> dict[str, Any]:
        """The CLI's ``--json`` shape (hints are added by the caller)."""
        return {
            "job_id": self.job_id,
            "status": self.status,
            "method": self.method.value,
            "move_destination": self.move_destination,
            "received": len(self.stored),
            "failed": self.failed,
            "warning": self.warning,
            "completed": self.completed,
            "remaining": self.remaining,
            "failed_sop_instance_uids": self.failed_uids,
            "not_stored": [{"sop_instance_uid": r.sop_instance_uid, "error": r.error}
                           for r in self.received if not r.ok],
            "duplicates": sum(1 for r in self.stored if r.stored and r.stored.duplicate),
            "late_instances": len(self.late),
            "recovered_sop_instance_uids": self.recovered,
            "expected": self.expected,
            "missing": [m.to_dict() for m in self.missing],
            "peer_aborted": self.peer_aborted,
            "sender_aliases": self.sender_aliases,
            "originator_quirk": self.originator_quirk,
            "patient_id_missing": self.patient_id_missing,
            "final_status": None if self.final_status is None else {
                "code": f"0x{self.final_status.code:04X}",
                "category": self.final_status.category.value,
                "meaning": self.final_status.meaning,
            },
            "incoming_associations": [
                {"calling_ae": c.calling_ae, "called_ae": c.called_ae,
                 "address": f"{c.address}:{c.port}", "instances": c.instances}
                for c in self.incoming_associations
            ],
            "error": None if self.failure is None else {
                "reason": self.failure.reason.value, "message": self.failure.message},
            "cancelled": self.cancelled,
            "timed_out": self.timed_out,
            "seconds": round(self.seconds, 3),
            "files": self.files,
            "hints": [],
        }


def outcome_status(outcome: RetrieveOutcome, observable: bool) -> str:
    """success / partial / failed / cancelled from the PACS's word and ours.

    *observable* is whether we can see the instances arrive (C-GET, or
    C-MOVE to our own listener); otherwise the PACS's counts are all we have.
    """
    got = len(outcome.stored)
    problems = outcome.failed + outcome.warning + sum(1 for r in outcome.received if not r.ok)
    final = outcome.final_status
    if outcome.cancelled:
        return "cancelled"
    if outcome.failure is not None or final is None:
        return "partial" if got else "failed"
    all_recovered = bool(outcome.recovered) and outcome.failed == 0
    if final.category is StatusCategory.FAILURE and not all_recovered:
        return "partial" if got or outcome.completed else "failed"
    if observable:
        # Nothing arrived is never a success, not even when the PACS answered
        # "success" with zero sub-operations: the hint says why.
        if got == 0:
            return "failed"
        if got < outcome.completed or problems or outcome.missing or outcome.remaining:
            return "partial"
        return "success"
    if outcome.completed + outcome.warning == 0:
        return "failed"
    if problems or (final.category is StatusCategory.WARNING and not all_recovered):
        return "partial" if outcome.completed else "failed"
    return "success"


@dataclass(frozen=True)
class Ending:
    """What a job knows at its end that its ledger does not hold."""

    job_id: str
    method: RetrieveMethod
    our_ae: str
    """Our AE title: Move Originator fields naming another are a quirk of the PACS."""
    observable: bool
    """Whether we see the instances arrive (C-GET, or C-MOVE to our own listener)."""
    move_destination: str = ""
    failure: AssociationFailure | None = None
    cancelled: bool = False
    seconds: float = 0.0
    incoming_associations: tuple[IncomingConnection, ...] = ()
    missing: tuple[MissingInstance, ...] = ()


def build_outcome(record: LedgerRecord, ending: Ending) -> RetrieveOutcome:
    """The one outcome of a job: its closed ledger plus its :class:`Ending`."""
    counts, requests = record.counts, record.requests
    first = requests[0] if requests else None
    outcome = RetrieveOutcome(
        job_id=ending.job_id, method=ending.method, move_destination=ending.move_destination,
        final_status=counts.final, remaining=counts.remaining, completed=counts.completed,
        failed=counts.failed, warning=counts.warning, failed_uids=list(counts.failed_uids),
        received=list(record.received), late=list(record.late),
        incoming_associations=list(ending.incoming_associations), failure=ending.failure,
        cancelled=ending.cancelled,
        timed_out=next((r.expired for r in requests if r.expired in ("idle", "total")), None),
        responses=counts.responses, first_response_seconds=counts.first_response,
        seconds=ending.seconds, association_id=first.association_id if first else "",
        local_address=first.local_address if first else "",
        recovered=sorted(record.recovered), peer_aborted=any(r.peer_aborted for r in requests),
        expected=record.expected, missing=list(ending.missing),
        sender_aliases=sorted(record.aliases),
        originator_quirk=originator_quirk(record.received, ending.our_ae, record.message_ids),
        patient_id_missing=record.patient_id_missing)
    return replace(outcome, status=outcome_status(outcome, ending.observable))
