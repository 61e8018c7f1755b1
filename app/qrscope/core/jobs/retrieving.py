"""A retrieve job's run: its scope asked for, or only what is missing after a cut.

A job cut short by the process ending (``interrupted``) first asks the PACS
what the scope holds and fetches only what the storage folder lacks
(:func:`~qrscope.core.retrieve.local.what_is_missing`); a fresh one asks
for its scope whole.
"""

from __future__ import annotations

from collections.abc import Callable

from qrscope.core.jobs.records import JobRecord
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import AssociationFailure
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.receive.listener import StorageListener
from qrscope.core.receive.storage import InstanceStore
from qrscope.core.retrieve.job import RetrieveJob
from qrscope.core.retrieve.local import what_is_missing
from qrscope.core.retrieve.types import RetrieveOutcome, RetrieveProgress

__all__ = ["retrieve_summary", "run_retrieve"]


def run_retrieve(record: JobRecord, node: RemoteNode, local: LocalAE, log: AssociationLog,
                 listener: StorageListener | None, destination: str, *,
                 started: Callable[[RetrieveJob], bool],
                 on_progress: Callable[[RetrieveProgress], None] | None,
                 debug: bool) -> RetrieveOutcome | None:
    """Run the job's requests in turn; ``None`` when nothing had to be asked for.

    *started* is told each :class:`RetrieveJob` before it runs (so that a
    cancel reaches it) and answers ``False`` when the job was cancelled.
    """
    assert record.scope is not None  # a retrieve's
    parts = [record.scope]
    if record.interrupted:
        try:
            missing = what_is_missing(node, local, log, record.scope, debug=debug)
        except AssociationFailure as exc:
            return RetrieveOutcome(job_id=record.job_id, method=record.method,
                                   move_destination=destination, failure=exc)
        if missing is not None:
            parts = missing
    outcomes: list[RetrieveOutcome] = []
    for part in parts:
        job = RetrieveJob(
            node, local, log, part, method=record.method, listener=listener,
            store=listener.store if listener is not None else InstanceStore(
                local.storage_folder),
            move_destination=destination, on_progress=on_progress, debug=debug,
            job_id=record.job_id)
        if not started(job):
            break
        outcomes.append(job.run())
        if outcomes[-1].cancelled:
            break
    return RetrieveOutcome.combined(outcomes) if outcomes else None


def retrieve_summary(outcome: RetrieveOutcome) -> str:
    """How a retrieve ended, in a line for ``qrscope jobs`` and the record."""
    if outcome.failure is not None:
        return f"{outcome.status}: {outcome.failure.message}"
    expected = f" of {outcome.expected}" if outcome.expected is not None else ""
    failed = f", {outcome.failed} failed at the PACS" if outcome.failed else ""
    missing = f", {len(outcome.missing)} missing" if outcome.missing else ""
    return f"{outcome.status}: {len(outcome.stored)}{expected} received{failed}{missing}"


