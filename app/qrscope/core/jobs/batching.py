"""A batch job's run: its items from the store, each new state written back at once.

Every item's step (resolved, fetched, skipped, failed) is written to the
jobs file and to the report before the next one
(:meth:`~qrscope.core.jobs.store.JobStore.record_item`), so that a batch cut
short by a quit, a crash or ``kill -9`` resumes where it stopped: the next
run resolves only the items not resolved yet and fetches, of an item that
was being fetched, only what the archive index does not hold yet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from qrscope.core.batch.items import ItemProgress, ItemStatus
from qrscope.core.batch.pace import Pace
from qrscope.core.batch.progress import BatchProgress
from qrscope.core.batch.report import counts, write_report
from qrscope.core.batch.runner import BatchResult, BatchRunner
from qrscope.core.batch.slots import RetrieveSlots
from qrscope.core.batch.window import AvailabilityWindow
from qrscope.core.jobs.records import JobRecord, JobState
from qrscope.core.jobs.store import JobStore
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve.outcome import RetrieveOutcome

__all__ = ["BATCH_RETRIED", "BatchHint", "batch_state", "batch_summary", "prepare_batch",
           "reopen_items"]

_LOGGER = logging.getLogger(__name__)

BatchHint = Callable[[RetrieveOutcome], str]
"""The id of the hint that explains a retrieve's outcome ('' none): the diagnosis
lives above the core, so the front end that runs the batch gives it."""


BATCH_RETRIED = (ItemStatus.FAILED, ItemStatus.PARTIAL, ItemStatus.PENDING, ItemStatus.FOUND)
"""A finished batch's items a retry runs again: those not done. Not found and
ambiguous items need the list fixed, not a second try."""


def reopen_items(store: JobStore, job_id: str) -> None:
    """A finished batch run again: its partial and failed items are tried again."""
    for progress in store.batch_items(job_id):
        if progress.status in (ItemStatus.PARTIAL, ItemStatus.FAILED):
            status = ItemStatus.FOUND if progress.studies else ItemStatus.PENDING
            store.record_item(job_id, progress.but(status=status, attempts=0))


def prepare_batch(record: JobRecord, node: RemoteNode, local: LocalAE, log: AssociationLog,
                  store: JobStore, listener: StorageListener | None, destination: str, *,
                  hint: BatchHint | None,
                  on_item: Callable[[str, ItemProgress], None] | None,
                  slots: RetrieveSlots | None = None,
                  on_progress: Callable[[BatchProgress], None] | None = None,
                  debug: bool) -> BatchRunner:
    """The runner of *record*'s next run, writing each item's step to *store* and the
    report; its retrieves in *slots* of the node's budget."""
    assert record.batch is not None  # a batch's
    spec = record.batch
    items = {p.index: p for p in store.batch_items(record.job_id)}
    # Items end in threads of their own: one report written at a time, each from the
    # items as they stand then, or two writers share a temporary file and the later
    # state can be overwritten by the earlier one (a done item left 'found').
    writing = threading.Lock()

    def keep(progress: ItemProgress) -> None:
        store.record_item(record.job_id, progress)
        with writing:
            items[progress.index] = progress
            if spec.report:
                try:
                    write_report(Path(spec.report), [items[i] for i in sorted(items)])
                except OSError:  # the batch goes on; the report lags
                    _LOGGER.exception("could not write the batch report %s", spec.report)
        if on_item is not None:
            on_item(record.job_id, progress)

    return BatchRunner(node, local, log, list(items.values()), method=record.method,
                       on_item=keep, pace=Pace(spec.max_parallel), listener=listener,
                       move_destination=destination, hint_for=hint, job_id=record.job_id,
                       window=AvailabilityWindow.parse(spec.window) if spec.window else None,
                       slots=slots, on_progress=on_progress, debug=debug)


def batch_state(result: BatchResult) -> JobState:
    """The job's state from its items: success when each is done or skipped."""
    if result.unreachable:
        return JobState.FAILED
    if result.cancelled:
        return JobState.CANCELLED
    numbers = counts(result.items)
    if numbers["pending"]:
        return JobState.PARTIAL
    fine = numbers["done"] + numbers["skipped"]
    return JobState.SUCCESS if fine == len(result.items) else JobState.PARTIAL


def batch_summary(result: BatchResult) -> str:
    """How a batch ended, in a line for ``qrscope jobs`` and the record."""
    if result.unreachable:
        return f"failed: the PACS could not be reached: {result.unreachable}"
    numbers = {k: v for k, v in counts(result.items).items() if v}
    received = sum(p.received for p in result.items)
    text = ", ".join(f"{v} {k}" for k, v in numbers.items())
    return f"{len(result.items)} items: {text}; {received} instances received"
