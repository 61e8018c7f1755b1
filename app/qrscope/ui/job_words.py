"""Short words for a job's scope and outcome, shown next to the job."""

from __future__ import annotations

from qrscope.core.dicom.records import QueryLevel
from qrscope.core.retrieve.types import RetrieveOutcome, RetrieveScope

__all__ = ["count", "describe_outcome", "describe_scope", "images_here"]


def count(number: int, noun: str) -> str:
    """``1 instance``, ``0 instances``, ``2 series`` (a noun whose plural adds an s)."""
    plural = noun if noun.endswith("s") else f"{noun}s"
    return f"{number} {noun if number == 1 else plural}"


def images_here(label: str, have: int, total: int | None) -> str:
    """What of a study is on disk already: ``CT chest: 1 of 1 image here``."""
    if total is None:
        return f"{label}: {count(have, 'image')} here (the PACS did not say how many it has)"
    return f"{label}: {have} of {count(total, 'image')} here"


def describe_scope(scope: RetrieveScope) -> str:
    if scope.level is QueryLevel.IMAGE:
        return f"{count(len(scope.instance_uids), 'instance')} of series " \
               f"…{scope.series_uids[0][-8:]}"
    if scope.level is QueryLevel.SERIES:
        return f"{len(scope.series_uids)} series of study …{scope.study_uid[-8:]}"
    return f"study …{scope.study_uid[-12:]}"


def describe_outcome(outcome: RetrieveOutcome) -> str:
    """Why the job ended as it did, in one line (the hint bar has the full story)."""
    got = len(outcome.stored)
    if outcome.failure is not None:
        return outcome.failure.message
    if outcome.cancelled:
        return f"cancelled after {count(got, 'instance')}"
    if outcome.timed_out:
        return f"stopped: no progress within the {outcome.timed_out} time limit"
    final = outcome.final_status
    if outcome.status != "success" and (outcome.peer_aborted or final is None):
        # No final response: the association ended under us (an A-ABORT, or
        # a closed connection), whichever the PACS chose.
        arrived = (f"{got} of {count(outcome.expected, 'instance')}" if outcome.expected
                   else count(got, "instance"))
        return (f"the PACS ended the association (aborted) before its final answer, after "
                f"{arrived} had arrived")
    if outcome.status == "success":
        extra = f", {len(outcome.recovered)} after a second request" if outcome.recovered else ""
        return f"{count(got, 'instance')} received{extra}"
    if final is not None and final.code != 0 and got == 0:
        seen = ("; the PACS never connected to our listener"
                if outcome.method.value == "move" and not outcome.incoming_associations else "")
        return f"PACS answered {final}{seen}"
    if got < outcome.completed:
        return (f"PACS reports {outcome.completed} sent but {got} arrived here: "
                "another program may be receiving them")
    failed = len(outcome.failed_uids) or outcome.failed
    return f"{got} received, {failed} failed ({final})" if final else f"{got} received"
