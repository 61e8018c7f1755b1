"""A send job's run: its instances from the archive, less those sent before, sent on.

Every instance's end is written to the jobs file as it comes
(:meth:`~qrscope.core.jobs.store.JobStore.record_sent`), so a job cut short
(quit, crash, ``kill -9``) resumes with what it had not sent, and a retry
takes exactly what the peer does not hold (:func:`undelivered`). An
instance's end is written while the next one's response is awaited
(:class:`~qrscope.core.send.job.SendJob` overlaps the two), so the process
dying mid-send leaves at most two instances unrecorded per association it
had open, the one on the wire and the one before it, and those go again; a
peer that stored them answers the second C-STORE for the same SOP Instance
UID as it does any duplicate.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qrscope.core.archive.index import open_index
from qrscope.core.jobs.records import JobRecord
from qrscope.core.jobs.store import JobStore
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.send.job import SendJob
from qrscope.core.send.selection import items_to_send
from qrscope.core.send.shares import ExtraSlots
from qrscope.core.send.types import InstanceState, SendOutcome, SendProgress, SendResult

__all__ = ["prepare_send", "send_summary", "undelivered"]


def prepare_send(record: JobRecord, node: RemoteNode, local: LocalAE, log: AssociationLog,
                 store: JobStore, *, on_progress: Callable[[SendProgress], None] | None,
                 debug: bool, slots: ExtraSlots | None = None) -> SendJob | str:
    """The :class:`SendJob` of *record*'s next run, or why it cannot run.

    *slots* lends it the node's free slots for extra associations (at most
    the selection's ``max_parallel`` in all; 0: as many as the budget lends)."""
    assert record.send is not None  # a send's
    folder = Path(record.storage_folder)
    if not folder.is_dir():
        return f"no archive at {folder}"
    done = {uid for uid, state in store.send_results(record.job_id).items()
            if InstanceState(state).sent}
    items = items_to_send(open_index(folder), record.send)
    if not items:
        return "the archive holds nothing of this selection"

    def keep(result: SendResult) -> None:
        store.record_sent(record.job_id, result.sop_instance_uid, result.state.value)

    return SendJob(node, local, log, [i for i in items if i.sop_instance_uid not in done],
                   job_id=record.job_id, on_progress=on_progress, on_result=keep,
                   already_sent=sum(1 for i in items if i.sop_instance_uid in done),
                   debug=debug, slots=slots, max_associations=record.send.max_parallel or None)


def undelivered(record: JobRecord, store: JobStore) -> list[str]:
    """The SOP Instance UIDs of send job *record* the peer does not hold, in send order.

    Those it answered with a failure, and those that never went out: the
    association was refused or cut short, or the job was cancelled. A retry
    sends exactly these; what the peer stored (or stored with a warning) never
    goes twice.
    """
    assert record.send is not None  # a send's
    folder = Path(record.storage_folder)
    if not folder.is_dir():
        return []
    sent = {uid for uid, state in store.send_results(record.job_id).items()
            if InstanceState(state).sent}
    return [item.sop_instance_uid for item in items_to_send(open_index(folder), record.send)
            if item.sop_instance_uid not in sent]


def send_summary(outcome: SendOutcome) -> str:
    """How a send ended, in a line for ``qrscope jobs`` and the record."""
    if outcome.failure is not None and not outcome.results:
        return f"{outcome.status}: {outcome.failure.message}"
    parts = [f"{outcome.count(InstanceState.STORED) + outcome.already_sent} of "
             f"{outcome.total} stored"]
    for state in (InstanceState.WARNING, InstanceState.FAILED):
        if outcome.count(state):
            parts.append(f"{outcome.count(state)} {state.value}")
    if outcome.converted:
        parts.append(f"{len(outcome.converted)} converted")
    if outcome.resumed:
        parts.append("went on on a new association after one was lost")
    return f"{outcome.status}: {', '.join(parts)}"
