"""The job service: every retrieve of a process, queued per node, run, recorded, resumed.

One :class:`JobService` owns every retrieve job of a running qrscope, the
window's and the command line's alike:

* **Ids from creation.** :meth:`JobService.submit` writes the job to the
  :class:`~qrscope.core.jobs.store.JobStore`, which gives it its id; a queued
  job is named by that id like a running one, and :meth:`JobService.cancel`
  acts on exactly the job named.
* **A queue per node, one budget.** At most the node's own
  ``max_parallel_retrieves`` (else :data:`RETRIEVES_PER_NODE`) retrieves run
  at once against one node, a batch's and single ones counted together
  (:mod:`~qrscope.core.jobs.queues`); the others wait in the order they were
  asked for, single retrieves ahead of a batch's items (:class:`JobPriority`),
  so that a radiologist's one study is not stuck behind a night's list.
* **Pause, resume, cancel of a batch** (:meth:`JobService.pause`,
  :meth:`JobService.resume_paused`, :meth:`JobService.cancel`), and its live
  :class:`~qrscope.core.batch.progress.BatchProgress`.
* **Pace.** A job is given the node as the profiles hold it *when it
  starts*, so a port fixed meanwhile is used.
* **A record at every state change**, so that whatever ends the process the
  next one knows what was unfinished, and :meth:`JobService.resume` runs it
  again, asking only for what is not on disk yet.

Progress and changes are reported through plain callbacks, from worker and
pynetdicom threads, as :class:`~qrscope.core.retrieve.job.RetrieveJob` reports
``on_progress``; the front ends turn them into what they show.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from qrscope.core.jobs.queues import NodeQueue
from qrscope.core.jobs.records import JobKind, JobPriority, JobRecord, JobState
from qrscope.core.jobs.running import JobRun, JobThreads, ListenerSource
from qrscope.core.jobs.sending import undelivered
from qrscope.core.jobs.store import JobStore
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.send.selection import SendSelection
from qrscope.core.send.types import SendProgress

# The batch machinery is imported by the batch jobs that use it (see running.py).
if TYPE_CHECKING:
    from qrscope.core.batch.items import BatchItem, BatchSpec, ItemProgress
    from qrscope.core.batch.progress import BatchProgress
    from qrscope.core.batch.runner import BatchRunner
    from qrscope.core.jobs.batching import BatchHint
    from qrscope.core.retrieve.types import RetrieveProgress, RetrieveScope

__all__ = ["RETRIEVES_PER_NODE", "JobPriority", "JobService", "ListenerSource"]

_LOGGER = logging.getLogger(__name__)

RETRIEVES_PER_NODE = 2
"""Retrieves that run at once against one node; the others wait their turn.

A PACS is shared by every workstation of a department: ten studies selected
at once must not become ten parallel C-MOVEs, and two keep the pipe full.
"""


class JobService(JobThreads):
    """Every retrieve job of a process. Thread-safe; callbacks come from any thread.

    Parameters
    ----------
    store : JobStore
        Where the jobs are recorded.
    local : callable
        Our AE as it is now (the storage folder of a new job is taken from it).
    listener : callable, optional
        For a C-MOVE to our own AE title: the running listener, or why there
        is none (the job then ends unstarted with that reason).
    nodes : callable, optional
        The nodes as the profiles hold them now; a job's node is looked up by
        name when it starts, the copy made when it was asked for otherwise.
    on_change : callable, optional
        Called with a copy of a job's record whenever it changes state.
    on_progress : callable, optional
        Called with each :class:`RetrieveProgress` of a running job (its
        ``job_id`` is the job's).
    on_send_progress : callable, optional
        Called with each :class:`SendProgress` of a running send job.
    on_batch_progress : callable, optional
        Called with each :class:`BatchProgress` of a running batch job: at
        every item's step, pace change and pause, and as instances arrive
        (at most a few times a second).
    """

    def __init__(self, store: JobStore, log: AssociationLog, *,
                 local: Callable[[], LocalAE],
                 listener: ListenerSource | None = None,
                 nodes: Callable[[], Iterable[RemoteNode]] | None = None,
                 on_change: Callable[[JobRecord], None] | None = None,
                 on_progress: Callable[[RetrieveProgress], None] | None = None,
                 on_send_progress: Callable[[SendProgress], None] | None = None,
                 debug: Callable[[], bool] = lambda: False,
                 per_node: int = RETRIEVES_PER_NODE,
                 batch_hint: BatchHint | None = None,
                 on_batch_item: Callable[[str, ItemProgress], None] | None = None,
                 on_batch_progress: Callable[[BatchProgress], None] | None = None) -> None:
        self.store = store
        self.log = log
        self._local = local
        self._listener = listener
        self._nodes = nodes
        self._on_change = on_change
        self._on_progress = on_progress
        self._on_send_progress = on_send_progress
        self._debug = debug
        self.per_node = per_node
        self._batch_hint = batch_hint
        self._on_batch_item = on_batch_item
        self._on_batch_progress = on_batch_progress
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._slot_free = threading.Condition(self._lock)
        self._lent: Counter[str] = Counter()  # node name -> slots lent to its batches now
        self._paused: set[str] = set()  # batch jobs the user paused (this process only)
        self._listener_lock = threading.Lock()
        self._records: dict[str, JobRecord] = {}  # this process's jobs, in creation order
        self._queues: dict[str, NodeQueue] = {}  # node name -> queued job ids
        self._running: dict[str, JobRun] = {}
        self._closing = False

    # -- asking ----------------------------------------------------------------------
    def submit(self, node: RemoteNode, scope: RetrieveScope, method: RetrieveMethod,
               label: str = "", move_destination: str = "",
               priority: JobPriority = JobPriority.SINGLE) -> JobRecord:
        """Queue one retrieve of *scope* from *node*; it starts when the node has a slot."""
        return self.submit_many(node, [(scope, label)], method, move_destination, priority)[0]

    def submit_many(self, node: RemoteNode, scopes: list[tuple[RetrieveScope, str]],
                    method: RetrieveMethod, move_destination: str = "",
                    priority: JobPriority = JobPriority.SINGLE) -> list[JobRecord]:
        """Queue several retrieves from one node, written to the store in one transaction."""
        folder = str(self._local().storage_folder)
        records = self.store.add(
            JobRecord(job_id="", node=node, scope=scope.validated(), method=method,
                      label=label, storage_folder=folder, move_destination=move_destination,
                      priority=priority)
            for scope, label in scopes)
        with self._lock:
            for record in records:
                self._enqueue(record)
            self._pump(node.name)
        return [replace(r) for r in records]

    def submit_send(self, node: RemoteNode, selection: SendSelection, label: str = "",
                    storage_folder: Path | None = None, retry_of: str = "") -> JobRecord:
        """Queue a send of the archive's *selection* to *node*, in the node's queue.

        The archive is that of *storage_folder* (default: our storage folder);
        *retry_of* names the job this one retries.
        """
        folder = str(storage_folder or self._local().storage_folder)
        (record,) = self.store.add([JobRecord(
            job_id="", node=node, scope=None, method=RetrieveMethod.MOVE,
            label=label or f"send {selection.validated().describe()} to {node.name}",
            storage_folder=folder, kind=JobKind.SEND, send=selection, retry_of=retry_of)])
        return self._queue(record)

    def submit_batch(self, node: RemoteNode, method: RetrieveMethod, spec: BatchSpec,
                     items: list[BatchItem | ItemProgress], label: str = "",
                     move_destination: str = "",
                     storage_folder: Path | None = None) -> JobRecord:
        """Queue a batch of *items* from *node*: one job, its items kept in the store,
        its files in *storage_folder* (default: our storage folder).

        An item given as an :class:`ItemProgress` the user reviewed (resolved to its
        studies, not found, ambiguous) is kept as it is: the run fetches what the
        user saw and confirmed, and asks the PACS no second C-FIND for it, in this
        run or in one resumed after a kill. A :class:`BatchItem` is resolved by the
        run."""
        (record,) = self.store.add([JobRecord(
            job_id="", node=node, scope=None, method=method,
            label=label or f"batch of {len(items)} from {node.name}",
            storage_folder=str(storage_folder or self._local().storage_folder),
            move_destination=move_destination, kind=JobKind.BATCH, batch=spec,
            priority=JobPriority.BATCH)])
        self.store.add_batch_items(record.job_id, items)
        return self._queue(record)

    def take(self, job_id: str) -> JobRecord | str:
        """Run the stored job *job_id* again: unfinished, where it stopped; a finished
        batch, its partial and failed items once more. A string says why not."""
        record = self.store.claim(job_id)
        if isinstance(record, str):
            return record
        if record.kind is JobKind.BATCH and not record.interrupted:
            from qrscope.core.jobs.batching import reopen_items

            reopen_items(self.store, job_id)
        return self._queue(record)

    def _queue(self, record: JobRecord) -> JobRecord:
        with self._lock:
            self._enqueue(record)
            self._pump(record.node_name)
        return replace(record)

    def _enqueue(self, record: JobRecord) -> None:
        """Into its node's queue, in its lane (a batch waits behind single retrieves
        asked for meanwhile, also one written before the lane was kept)."""
        if record.kind is JobKind.BATCH:
            record.priority = JobPriority.BATCH
        self._records[record.job_id] = record
        self._queues.setdefault(record.node_name, NodeQueue()).append(record.job_id,
                                                                       record.priority)
        self._changed(record)

    def retry_failed(self, job_id: str) -> JobRecord | None:
        """What finished job *job_id* did not do, asked for again.

        A send: a new send, linked to it, of the instances the peer failed and
        those that never went out (:func:`~qrscope.core.jobs.sending.undelivered`),
        to the node of the job's name as the profiles hold it now (an AE title
        fixed since is used). A batch: the same job run again for its items
        not done (failed, partial, or never reached); a not-found or ambiguous
        item needs its row fixed, not a second try. ``None``: no such finished
        send or batch, or nothing left to do.
        """
        record = self.get(job_id) or next(
            (r for r in self.store.records() if r.job_id == job_id), None)
        if record is not None and record.batch is not None and record.state.is_final:
            return self._retry_batch(job_id)
        if record is None or record.send is None or not record.state.is_final:
            return None
        missing = undelivered(record, self.store)
        if not missing:
            return None
        return self.submit_send(self._node_for(record), record.send.narrowed(missing),
                                f"retry of {job_id}: {len(missing)} instance(s)",
                                Path(record.storage_folder), retry_of=job_id)

    def _retry_batch(self, job_id: str) -> JobRecord | None:
        from qrscope.core.jobs.batching import BATCH_RETRIED

        if not any(p.status in BATCH_RETRIED for p in self.store.batch_items(job_id)):
            return None
        taken = self.take(job_id)
        return None if isinstance(taken, str) else taken

    def resume(self) -> list[JobRecord]:
        """Take up the jobs a process left unfinished (quit, crash, kill), in their order.

        A job that was running comes back with ``interrupted`` raised: its
        next run asks the PACS what the scope holds and fetches only what is
        not in the storage folder yet.
        """
        claimed = self.store.claim_unfinished()
        with self._lock:
            for record in claimed:
                self._enqueue(record)
            for name in {r.node_name for r in claimed}:
                self._pump(name)
        return [replace(r) for r in claimed]

    def cancel(self, job_id: str) -> bool:
        """Cancel exactly the job *job_id*: a queued one leaves its queue and never
        starts, a running one is cancelled (C-CANCEL). ``False``: nothing to cancel."""
        with self._lock:
            record = self._records.get(job_id)
            if record is None or record.state.is_final:
                return False
            run = self._running.get(job_id)
            if run is None:
                self._queues[record.node_name].remove(job_id)
                self._end(record, JobState.CANCELLED, "cancelled before it started")
                return True
            run.cancel.set()
            job = run.job
        if job is not None:
            job.cancel()
        with self._lock:
            self._slot_free.notify_all()  # a batch waiting for a slot sees its cancel
        return True

    def pause(self, job_id: str) -> bool:
        """Pause batch *job_id*: it starts no new retrieve, lets those under way finish,
        and its progress says "paused by the user". ``False``: no such unfinished batch.

        The pause is this process's: a batch left paused by a quit runs
        unpaused when the next process resumes it, as quitting already stopped
        it and starting again is asking for it to go on.
        """
        with self._lock:
            record = self._records.get(job_id)
            if record is None or record.kind is not JobKind.BATCH or record.state.is_final:
                return False
            self._paused.add(job_id)
            runner = self._runner(job_id)
        if runner is not None:
            runner.pause()
        return True

    def resume_paused(self, job_id: str) -> bool:
        """Lift :meth:`pause` of batch *job_id*. ``False``: it was not paused."""
        with self._lock:
            if job_id not in self._paused:
                return False
            self._paused.discard(job_id)
            runner = self._runner(job_id)
        if runner is not None:
            runner.resume()
        return True

    def is_paused(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._paused

    def batch_progress(self, job_id: str) -> BatchProgress | None:
        """Where running batch *job_id* stands now (``None``: not a batch that runs)."""
        with self._lock:
            runner = self._runner(job_id)
        return runner.progress() if runner is not None else None

    def _runner(self, job_id: str) -> BatchRunner | None:
        from qrscope.core.batch.runner import BatchRunner

        run = self._running.get(job_id)
        return run.job if run is not None and isinstance(run.job, BatchRunner) else None

    # -- what is known ---------------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        """A copy of the job's record (jobs of this process)."""
        with self._lock:
            record = self._records.get(job_id)
            return replace(record) if record is not None else None

    def records(self) -> list[JobRecord]:
        """Copies of this process's jobs, in the order they were asked for."""
        with self._lock:
            return [replace(r) for r in self._records.values()]

    def node_of(self, job_id: str) -> RemoteNode | None:
        """The node a running job started with (``None`` when it does not run)."""
        with self._lock:
            run = self._running.get(job_id)
            return run.node if run is not None else None

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    @property
    def unfinished(self) -> int:
        """Jobs queued or running."""
        with self._lock:
            return sum(1 for r in self._records.values() if not r.state.is_final)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running; ``False`` if *timeout* passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self.unfinished == 0, timeout)

    def shutdown(self) -> None:
        """The process ends: start nothing more, stop what runs, keep both for next time.

        Running retrieves are cancelled, but their end is not recorded: in
        the store they stay *running*, which the next :meth:`resume` takes
        as interrupted (as after a crash). Queued jobs stay queued.
        """
        with self._lock:
            if self._closing:
                return
            self._closing = True
            runs = list(self._running.values())
        for run in runs:
            run.cancel.set()
            if run.job is not None:
                run.job.cancel()
        with self._lock:
            self._slot_free.notify_all()
        self.store.release()
