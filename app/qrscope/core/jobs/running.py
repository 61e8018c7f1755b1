"""The job service's side that runs jobs: each in its thread, a node's budget kept.

:class:`JobThreads` is what :class:`~qrscope.core.jobs.service.JobService`
does once a job leaves its queue: the node's budget counted
(:meth:`JobThreads.running_on`, slots lent to batches included), the job
started in its own thread with the node as the profiles hold it then, the
kind's run (a retrieve, :mod:`~qrscope.core.jobs.retrieving`; a send,
:mod:`~qrscope.core.jobs.sending`; a batch, :mod:`~qrscope.core.jobs.batching`),
its end recorded and the queue moved on. The service holds the state (its
attributes are declared here); asking and knowing are the service's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from qrscope.core.jobs.queues import LentSlots, NodeQueue
from qrscope.core.jobs.records import JobKind, JobRecord, JobState
from qrscope.core.jobs.sending import prepare_send, send_summary
from qrscope.core.jobs.store import JobStore
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.send.job import SendJob
from qrscope.core.send.types import InstanceState, SendOutcome, SendProgress

# Retrieves and batches are imported by the jobs that run them: a send (and the
# command line's start-up for one) does without the retrieve and batch machinery.
if TYPE_CHECKING:
    from qrscope.core.batch.items import ItemProgress
    from qrscope.core.batch.progress import BatchProgress
    from qrscope.core.batch.runner import BatchResult, BatchRunner
    from qrscope.core.jobs.batching import BatchHint
    from qrscope.core.receive.listener import StorageListener
    from qrscope.core.retrieve.job import RetrieveJob
    from qrscope.core.retrieve.types import RetrieveOutcome, RetrieveProgress

__all__ = ["NOTHING_MISSING", "JobRun", "JobThreads", "ListenerSource"]

_LOGGER = logging.getLogger(__name__)

ListenerSource = Callable[[str], "StorageListener | str"]
"""Our listener for a C-MOVE to us that stores in the given folder, or why there is none."""

NOTHING_MISSING = "everything was already here"


@dataclass
class JobRun:
    """A job while it runs: the node it started with, the retrieve of the moment."""

    node: RemoteNode
    cancel: threading.Event = field(default_factory=threading.Event)
    job: RetrieveJob | SendJob | BatchRunner | None = None



class JobThreads:
    """Starting, running and ending the jobs of a :class:`JobService` (its base)."""

    store: JobStore
    log: AssociationLog
    per_node: int
    _local: Callable[[], LocalAE]
    _listener: ListenerSource | None
    _nodes: Callable[[], Iterable[RemoteNode]] | None
    _on_change: Callable[[JobRecord], None] | None
    _on_progress: Callable[[RetrieveProgress], None] | None
    _on_send_progress: Callable[[SendProgress], None] | None
    _debug: Callable[[], bool]
    _batch_hint: BatchHint | None
    _on_batch_item: Callable[[str, ItemProgress], None] | None
    _on_batch_progress: Callable[[BatchProgress], None] | None
    _lock: threading.RLock
    _idle: threading.Condition
    _slot_free: threading.Condition
    _listener_lock: threading.Lock
    _lent: Counter[str]
    _paused: set[str]
    _records: dict[str, JobRecord]
    _queues: dict[str, NodeQueue]
    _running: dict[str, JobRun]
    _closing: bool

    def running_on(self, node_name: str) -> int:
        """Retrieves and sends running against the node, a batch's counted one by one."""
        with self._lock:
            return self._lent[node_name] + sum(
                1 for job_id in self._running
                if self._records[job_id].node_name == node_name
                and self._records[job_id].kind is not JobKind.BATCH)

    # -- running ---------------------------------------------------------------------
    def _pump(self, node_name: str) -> None:
        """Start what the node's budget allows, in queue order. A batch job starts
        without a slot of its own: it borrows one per retrieve (:meth:`_lender`)."""
        queue = self._queues.get(node_name)
        while queue and not self._closing:
            first = self._records[queue.first()]
            if (first.kind is not JobKind.BATCH
                    and self.running_on(node_name) >= self._slots(first)):
                break
            self._start(self._records[queue.popleft()])
        self._slot_free.notify_all()

    def _lender(self, record: JobRecord) -> LentSlots:
        """The node's budget as batch *record* borrows it: a slot when one is free
        and no job waits in the node's queue for one."""
        name = record.node_name

        def may_lend() -> bool:
            waiting = any(self._records[j].kind is not JobKind.BATCH
                          for j in self._queues.get(name, ()))
            return (not self._closing and not waiting
                    and self.running_on(name) < self._slots(record))

        def lent() -> None:
            self._lent[name] += 1

        def returned() -> None:
            self._lent[name] -= 1
            self._pump(name)

        return LentSlots(self._slot_free, may_lend=may_lend, lent=lent, returned=returned)

    def _slots(self, record: JobRecord) -> int:
        """Retrieves that may run at once on the job's node: its own setting as the
        profiles hold it now, else the service's."""
        return self._node_for(record).max_parallel_retrieves or self.per_node

    def _node_for(self, record: JobRecord) -> RemoteNode:
        """The node of the job's name as the profiles hold it now, else the copy kept."""
        known = self._nodes() if self._nodes is not None else ()
        return next((n for n in known if n.name == record.node_name), record.node)

    def _start(self, record: JobRecord) -> None:
        node = self._node_for(record)
        local = replace(self._local(), storage_folder=Path(record.storage_folder))
        destination = (record.move_destination or node.move_destination
                       or local.ae_title).strip()
        record.node = node
        record.state = JobState.RUNNING
        record.started = time.time()
        run = JobRun(node)
        self._running[record.job_id] = run
        self._save(record)
        self._changed(record)
        threading.Thread(target=self._work, args=(record, run, local, destination),
                         name=f"qrscope-{record.job_id}", daemon=True).start()

    def _work(self, record: JobRecord, run: JobRun, local: LocalAE, destination: str) -> None:
        """The job's thread: our listener if needed, the retrieve, then its end
        written and the queue moved on."""
        if record.kind is JobKind.SEND:
            self._send(record, run, local)
            return
        try:
            listener = self._listener_for(record, local, destination)
            if isinstance(listener, str):
                self._not_started(record, listener)
                return
            if record.kind is JobKind.BATCH:
                self._batch(record, run, local, listener, destination)
                return
            outcome = self._retrieve(record, run, local, listener, destination)
        except Exception as exc:  # a job must never stay 'running' for ever
            _LOGGER.exception("job %s failed", record.job_id)
            from qrscope.core.retrieve.types import RetrieveOutcome

            outcome = RetrieveOutcome(job_id=record.job_id, method=record.method,
                                      move_destination=destination)
            self._finish(record, run, outcome, f"failed: {exc}")
            return
        self._finish(record, run, outcome, "")

    def _listener_for(self, record: JobRecord, local: LocalAE,
                      destination: str) -> StorageListener | str | None:
        """Our listener for a C-MOVE to us, or why there is none (``None``: not needed).

        Asked here, in the job's thread, never in the thread that submitted
        the job or ended the one before: getting it may start it, and a bind
        can block (the window submits from its GUI thread). One job asks at
        a time, so two never start two listeners.
        """
        if record.method is not RetrieveMethod.MOVE or destination != local.ae_title:
            return None
        if self._listener is None:
            return "no listener to receive a C-MOVE"
        with self._listener_lock:
            return self._listener(record.storage_folder)

    def _retrieve(self, record: JobRecord, run: JobRun, local: LocalAE,
                  listener: StorageListener | None, destination: str,
                  ) -> RetrieveOutcome | None:
        """Run the job's requests in turn; ``None`` when nothing had to be asked for."""
        from qrscope.core.jobs.retrieving import run_retrieve

        def started(job: RetrieveJob) -> bool:
            with self._lock:
                if run.cancel.is_set():
                    return False
                run.job = job
                return True

        return run_retrieve(record, run.node, local, self.log, listener, destination,
                            started=started, on_progress=self._on_progress,
                            debug=self._debug())

    def _finish(self, record: JobRecord, run: JobRun, outcome: RetrieveOutcome | None,
                why: str) -> None:
        with self._lock:
            self._running.pop(record.job_id, None)
            if self._closing:
                return  # left 'running' in the store: resumed as interrupted next time
            if outcome is None:
                state = JobState.CANCELLED if run.cancel.is_set() else JobState.SUCCESS
                self._end(record, state, "cancelled before it asked for anything"
                          if run.cancel.is_set() else NOTHING_MISSING)
            else:
                record.outcome = outcome
                record.received = len(outcome.stored)
                record.completed, record.failed = outcome.completed, outcome.failed
                record.warning, record.expected = outcome.warning, outcome.expected
                from qrscope.core.jobs.retrieving import retrieve_summary

                self._end(record, JobState(outcome.status), why or retrieve_summary(outcome))
            self._pump(record.node_name)

    def _batch(self, record: JobRecord, run: JobRun, local: LocalAE,
               listener: StorageListener | None, destination: str) -> None:
        """A batch job's thread: its items resolved and fetched, the job ended from them."""
        from qrscope.core.jobs.batching import prepare_batch

        runner = prepare_batch(record, run.node, local, self.log, self.store, listener,
                               destination, hint=self._batch_hint,
                               on_item=self._on_batch_item, slots=self._lender(record),
                               on_progress=self._on_batch_progress, debug=self._debug())
        with self._lock:
            cancelled = run.cancel.is_set()
            run.job = runner
            if record.job_id in self._paused:
                runner.pause()
        if cancelled:
            runner.cancel()
        result = runner.run()
        with self._lock:
            self._running.pop(record.job_id, None)
            self._paused.discard(record.job_id)
            if self._closing:
                return  # left 'running': resumed as interrupted next time
            self._end_batch(record, result)
            self._pump(record.node_name)

    def _end_batch(self, record: JobRecord, result: BatchResult) -> None:
        from qrscope.core.jobs.batching import batch_state, batch_summary

        record.batch_result = result
        record.expected = sum(p.expected or 0 for p in result.items)
        record.received = sum(p.received for p in result.items)
        self._end(record, batch_state(result), batch_summary(result))

    def _send(self, record: JobRecord, run: JobRun, local: LocalAE) -> None:
        """A send job's thread: its instances less those sent by an earlier run."""
        try:
            job = prepare_send(record, run.node, local, self.log, self.store,
                               on_progress=self._on_send_progress, debug=self._debug(),
                               slots=self._lender(record))
            if isinstance(job, str):
                self._finish_send(record, run, None, f"not started: {job}")
                return
            with self._lock:
                cancelled = run.cancel.is_set()
                run.job = job
            if cancelled:
                job.cancel()
            outcome = job.run()
        except Exception as exc:  # a job must never stay 'running' for ever
            _LOGGER.exception("job %s failed", record.job_id)
            self._finish_send(record, run, None, f"failed: {exc}")
            return
        self._finish_send(record, run, outcome, "")

    def _finish_send(self, record: JobRecord, run: JobRun, outcome: SendOutcome | None,
                     why: str) -> None:
        """A send job's end: its counts and state recorded, the queue moved on."""
        with self._lock:
            self._running.pop(record.job_id, None)
            if self._closing:
                return  # left 'running': resumed as interrupted next time
            if outcome is None:
                self._end(record, JobState.FAILED, why)
            else:
                record.send_outcome = outcome
                record.expected = outcome.total
                record.completed = outcome.count(InstanceState.STORED) + outcome.already_sent
                record.warning = outcome.count(InstanceState.WARNING)
                record.failed = outcome.count(InstanceState.FAILED)
                record.received = record.completed + record.warning
                self._end(record, JobState(outcome.status), why or send_summary(outcome))
            self._pump(record.node_name)

    def _not_started(self, record: JobRecord, why: str) -> None:
        with self._lock:
            self._running.pop(record.job_id, None)
            if self._closing:
                return
            self._end(record, JobState.FAILED, f"not started: {why}")
            self._pump(record.node_name)

    def _end(self, record: JobRecord, state: JobState, summary: str) -> None:
        record.state = state
        record.summary = summary
        record.ended = time.time()
        self._save(record)
        self._changed(record)
        self._idle.notify_all()

    def _save(self, record: JobRecord) -> None:
        try:
            self.store.update(record)
        except Exception:  # the job goes on; only its record on disk lags
            _LOGGER.exception("could not record job %s", record.job_id)

    def _changed(self, record: JobRecord) -> None:
        if self._on_change is not None:
            self._on_change(replace(record))

