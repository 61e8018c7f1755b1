"""Short words for a job's scope and outcome, shown next to the job."""

from __future__ import annotations

from qrscope.core.dicom.records import QueryLevel
from qrscope.core.retrieve.types import RetrieveOutcome, RetrieveScope

__all__ = ["describe_outcome", "describe_scope"]


def describe_scope(scope: RetrieveScope) -> str:
    if scope.level is QueryLevel.IMAGE:
        return f"{len(scope.instance_uids)} instance(s) of series …{scope.series_uids[0][-8:]}"
    if scope.level is QueryLevel.SERIES:
        return f"{len(scope.series_uids)} series of study …{scope.study_uid[-8:]}"
    return f"study …{scope.study_uid[-12:]}"


def describe_outcome(outcome: RetrieveOutcome) -> str:
    """Why the job ended as it did, in one line (the hint bar has the full story)."""
    got = len(outcome.stored)
    if outcome.failure is not None:
        return outcome.failure.message
    if outcome.cancelled:
        return f"cancelled after {got} instance(s)"
    if outcome.timed_out:
        return f"stopped: no progress within the {outcome.timed_out} time limit"
    final = outcome.final_status
    if outcome.status != "success" and (outcome.peer_aborted or final is None):
        # No final response: the association ended under us (an A-ABORT, or
        # a closed connection), whichever the PACS chose.
        expected = f" of {outcome.expected}" if outcome.expected else ""
        return (f"the PACS ended the association (aborted) before its final answer, after "
                f"{got}{expected} instance(s) had arrived")
    if outcome.status == "success":
        extra = f", {len(outcome.recovered)} after a second request" if outcome.recovered else ""
        return f"{got} instance(s) received{extra}"
    if final is not None and final.code != 0 and got == 0:
        seen = ("; the PACS never connected to our listener"
                if outcome.method.value == "move" and not outcome.incoming_associations else "")
        return f"PACS answered {final}{seen}"
    if got < outcome.completed:
        return (f"PACS reports {outcome.completed} sent but {got} arrived here: "
                "another program may be receiving them")
    failed = len(outcome.failed_uids) or outcome.failed
    return f"{got} received, {failed} failed ({final})" if final else f"{got} received"
