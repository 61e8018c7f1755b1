"""The seam between the GUI thread and the core's blocking calls.

Every network call, and every bind or stop of our listener, runs in a worker
thread and is awaited by the GUI through qasync; core callbacks, which fire on
worker and pynetdicom threads, are re-emitted as Qt signals, which Qt queues
to the GUI thread. No widget calls the core's network functions directly, and
the bridge runs only the operations it names: verify, find, what is missing,
the doctor, our address towards a node, counting what is on disk, the demo
PACS, and our listener's start, stop, restart and the session's end.

The Local view's reads and deletes of the archive go to one worker of their
own, in order (a listing asked after a delete sees it done); its thumbnails
to a small pool, and the viewer's decoding to one more worker, so that a
frame the user asked for never waits behind a page of thumbnails.

Retrieves are not run here: the core's job service runs each in a thread of
its own, at most a few per node, so a search, a Verify or a host look-up
never waits behind them; the bridge only turns its reports into signals
(:meth:`CoreBridge.job_callbacks`).

Our listener's operations go to one worker of their own, in the order asked
(a Stop then a Start never overtake each other) and never behind a search;
a C-MOVE job may also start it from its own thread
(:meth:`CoreBridge.start_listener_here`). Each change of its state is
reported through :attr:`CoreBridge.listener_state`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QTimer, Signal

from qrscope.core.archive.delete import DeleteReport
from qrscope.core.archive.index import ArchiveFilter
from qrscope.core.batch.items import ItemProgress
from qrscope.core.batch.progress import BatchProgress
from qrscope.core.dicom.records import QueryLevel
from qrscope.core.imaging.apart import shut_down as shut_down_thumbnail_processes
from qrscope.core.jobs import JobRecord
from qrscope.core.net.verify import EchoResult, verify
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.query.find import FindOperation, FindResult, QueryFilter
from qrscope.core.receive.listener import ListenerError, StorageListener
from qrscope.core.retrieve.local import local_counts, what_is_missing
from qrscope.core.retrieve.types import RetrieveProgress, RetrieveScope
from qrscope.core.send.selection import SendSelection
from qrscope.diagnosis.doctor import DoctorReport, DoctorStep, run_doctor
from qrscope.session import Session
from qrscope.ui.local import listing

__all__ = ["ERROR", "RUNNING", "STARTING", "STOPPED", "STOPPING", "CoreBridge", "FindTask",
           "spawn"]

_LOGGER = logging.getLogger(__name__)
_RUNNING: set[asyncio.Task[Any]] = set()
_T = TypeVar("_T")

STARTING, RUNNING, STOPPING, STOPPED, ERROR = "starting", "running", "stopping", "stopped", "error"
"""The listener's states as :attr:`CoreBridge.listener_state` reports them."""


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Run *coro* on the GUI's event loop, keeping it alive and logging its failure.

    asyncio holds only weak references to tasks; a task started from a slot
    and not stored could be collected half-way.
    """
    task = asyncio.ensure_future(coro)
    _RUNNING.add(task)

    def done(finished: asyncio.Task[Any]) -> None:
        _RUNNING.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            _LOGGER.error("background task failed", exc_info=finished.exception())

    task.add_done_callback(done)
    return task

BATCH_SECONDS = 0.1
BATCH_SIZE = 250
INTERACTIVE_WORKERS = 4
"""Searches, Verify, look-ups: short calls, a few at a time."""
THUMBNAIL_WORKERS = 2
"""Thumbnails decode at most this many series at once (the GUI thread keeps its share)."""


class FindTask:
    """A running search: await :attr:`done`, call :meth:`cancel` from the GUI."""

    def __init__(self, operation: FindOperation, done: asyncio.Future[FindResult]) -> None:
        self.operation = operation
        self.done = done

    def cancel(self) -> None:
        self.operation.cancel()


class CoreBridge(QObject):
    """Runs the core's named operations off the GUI thread and reports back through signals.

    Each operation is a coroutine (or, for a search, returns a future) to
    await on the GUI's qasync loop; its blocking part runs in a worker.
    """

    events_logged = Signal(list)  # list[AssociationEvent], in order, batched
    records_arrived = Signal(int, list)  # search id, list[Record]
    job_progress = Signal(object)  # RetrieveProgress
    job_changed = Signal(object)  # JobRecord (a copy), at each state change
    instance_received = Signal(object)  # ReceivedInstance (listener)
    caller_refused = Signal(object)  # RefusedCaller (listener's accept policy)
    listener_state = Signal(str, object)  # STARTING..ERROR, the ListenerError or None
    delete_progress = Signal(int, int)  # files removed so far, of how many
    batch_item = Signal(str, object)  # a batch job's id, an ItemProgress it wrote
    batch_progress = Signal(object)  # BatchProgress of a running batch job

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.log = session.log
        self._gui_thread = threading.current_thread()
        self._executor = ThreadPoolExecutor(max_workers=INTERACTIVE_WORKERS,
                                            thread_name_prefix="qrscope-core")
        self._listener_executor = ThreadPoolExecutor(max_workers=1,
                                                     thread_name_prefix="qrscope-listener")
        self._archive_executor = ThreadPoolExecutor(max_workers=1,
                                                    thread_name_prefix="qrscope-archive")
        self.thumbnail_executor = ThreadPoolExecutor(max_workers=THUMBNAIL_WORKERS,
                                                     thread_name_prefix="qrscope-thumbs")
        self._pixel_executor = ThreadPoolExecutor(max_workers=1,
                                                  thread_name_prefix="qrscope-pixels")
        self._closed = False
        self._emit_lock = threading.RLock()
        # The log gets an event per DIMSE message, from pynetdicom's threads:
        # 10,000 in a large search. One queued signal each kept the GUI thread
        # running slots for up to 0.7 s at a time, its timers waiting
        # (benchmarks/window.py); they go over in batches, as records do, the
        # rest of each burst within BATCH_SECONDS.
        self._events = _Batcher(self._safely(self.events_logged))
        self._unsubscribe = self.log.subscribe(self._events.add)
        self._events_timer = QTimer(self)
        self._events_timer.setInterval(int(BATCH_SECONDS * 1000))
        self._events_timer.timeout.connect(self._events.flush)
        self._events_timer.start()
        self._watch_lock = threading.Lock()
        self._watched: StorageListener | None = None
        self._listener_unsubscribe: Callable[[], None] | None = None
        self._listener_emit = self._safely(self.listener_state)
        self._search_ids = iter(range(1, 1 << 62))
        self.debug = False
        """Record PDUs and full identifiers for operations started from now on."""

    def _in_worker(self, fn: Callable[[], _T],
                   executor: ThreadPoolExecutor | None = None) -> asyncio.Future[_T]:
        """Run *fn* in a worker thread; the GUI awaits the result."""
        return asyncio.get_event_loop().run_in_executor(executor or self._executor, fn)

    # -- asking a node ---------------------------------------------------------------
    async def verify(self, node: RemoteNode, local: LocalAE) -> EchoResult:
        """C-ECHO; raises ``AssociationFailure``."""
        return await self._in_worker(lambda: verify(node, local, self.log, debug=self.debug))

    async def missing(self, node: RemoteNode, local: LocalAE,
                      scope: RetrieveScope) -> list[RetrieveScope] | None:
        """The requests for what of *scope* is not on disk (``None``: not known).

        Asks the PACS for the scope's instances (C-FIND) and compares them
        with the storage folder; raises ``AssociationFailure``.
        """
        return await self._in_worker(lambda: what_is_missing(node, local, self.log, scope,
                                                             debug=self.debug))

    def find(self, node: RemoteNode, local: LocalAE, level: QueryLevel, query: QueryFilter,
             limit: int | None = None) -> tuple[int, FindTask]:
        """Start a search; records arrive in batches through :attr:`records_arrived`."""
        search_id = next(self._search_ids)
        operation = FindOperation(node, local, self.log, level, query, limit=limit,
                                  debug=self.debug)
        records = self._safely(self.records_arrived)
        batcher = _Batcher(lambda batch: records(search_id, batch))

        def work() -> FindResult:
            try:
                return operation.run(on_record=batcher.add)
            finally:
                batcher.flush()

        return search_id, FindTask(operation, self._in_worker(work))

    async def doctor(self, node: RemoteNode, local: LocalAE, listener: StorageListener,
                     on_step: Callable[[DoctorStep], None]) -> DoctorReport:
        """Check *node* end to end (*on_step* is called from the worker: a signal's emit)."""
        return await self._in_worker(lambda: run_doctor(node, local, self.log, listener,
                                                        on_step=on_step))

    async def address_towards(self, node: RemoteNode) -> str:
        """Our address on the route to *node* (may resolve its host name)."""
        return await self._in_worker(lambda: self.session.address_towards(node))

    async def count_local(self, folder: Path, study_uids: list[str]) -> dict[str, int]:
        """How many instances of each study the archive of *folder* holds (its index)."""
        return await self._in_worker(lambda: local_counts(folder, study_uids))

    async def start_demo_pacs(self, fault: str | None) -> RemoteNode:
        """(Re)start the built-in demo PACS with *fault*; it learns where we listen."""
        def work() -> RemoteNode:
            node = self.session.start_demo_pacs(fault)
            self.session.demo_knows_listener()
            return node

        return await self._in_worker(work)

    # -- the local archive (its index and files) -------------------------------------
    async def archive_listing(self, root: Path, query: ArchiveFilter) -> listing.ArchiveListing:
        """Patients, studies and series of the archive of *root* (``InvalidValue``: bad date)."""
        return await self._in_worker(lambda: listing.read_listing(root, query),
                                     self._archive_executor)

    async def series_instances(self, root: Path, series_uid: str) -> list[dict[str, Any]]:
        """The instances of one series, in order, with their files."""
        return await self._in_worker(lambda: listing.series_instances(root, series_uid),
                                     self._archive_executor)

    async def folder_of(self, root: Path, selection: SendSelection) -> Path | None:
        """The folder holding the files of *selection*."""
        return await self._in_worker(lambda: listing.folder_of(root, selection),
                                     self._archive_executor)

    async def delete_plan(self, root: Path, selection: SendSelection) -> listing.DeletePlan:
        """What deleting *selection* would remove (to ask the user first)."""
        return await self._in_worker(lambda: listing.delete_plan(root, selection),
                                     self._archive_executor)

    async def delete(self, root: Path, plan: listing.DeletePlan) -> DeleteReport:
        """Remove the plan's files and rows; :attr:`delete_progress` reports as it goes."""
        progress = self._safely(self.delete_progress)
        return await self._in_worker(lambda: listing.run_delete(root, plan, progress),
                                     self._archive_executor)

    async def in_pixel_worker(self, fn: Callable[[], _T]) -> _T:
        """Decode for the viewer (a frame, an object's text) in its own worker."""
        return await self._in_worker(fn, self._pixel_executor)

    # -- our listener ----------------------------------------------------------------
    async def start_listener(self) -> StorageListener:
        """Bind and serve (no-op when running); raises ``ListenerError``."""
        return await self._in_worker(self._start_listener, self._listener_executor)

    def start_listener_here(self) -> StorageListener:
        """:meth:`start_listener` in the calling thread, for a job's own thread.

        A C-MOVE job asks for the listener from the job service's thread and
        cannot await; binding there blocks only that job. Never on the GUI
        thread: the window would freeze while the port is bound.
        """
        if threading.current_thread() is self._gui_thread:
            raise RuntimeError("the listener is never started on the GUI thread")
        return self._start_listener()

    async def stop_listener(self) -> None:
        """Stop it; waits up to a second for its associations."""
        def work() -> None:
            self._listener_emit(STOPPING, None)
            self.session.stop_listener()
            self._listener_emit(STOPPED, None)

        await self._in_worker(work, self._listener_executor)

    async def apply_local(self, local: LocalAE) -> None:
        """New local AE settings; a running listener restarts on them (``ListenerError``)."""
        def work() -> None:
            running = self.session.listener
            if running is not None and running.is_running:
                self._listener_emit(STARTING, None)
            try:
                self.session.set_local(local)
            except ListenerError as exc:
                self._listener_emit(ERROR, exc)
                raise
            self._listener_ready()

        await self._in_worker(work, self._listener_executor)

    async def close_session(self) -> None:
        """The window closes: stop the listener and the demo PACS, save the profiles."""
        def work() -> None:
            self._listener_emit(STOPPING, None)
            self.session.close()
            # No thumbnail starts the worker processes again once they are ended
            # here, and not left to the interpreter's exit: a window's process may
            # end without it (os._exit), leaving their semaphores behind.
            self.thumbnail_executor.shutdown(wait=True, cancel_futures=True)
            shut_down_thumbnail_processes()
            self._listener_emit(STOPPED, None)

        await self._in_worker(work, self._listener_executor)

    def _start_listener(self) -> StorageListener:
        running = self.session.listener
        if running is None or not running.is_running:
            self._listener_emit(STARTING, None)
        try:
            listener = self.session.start_listener()
        except ListenerError as exc:
            self._listener_emit(ERROR, exc)
            raise
        self._listener_ready()
        return listener

    def _listener_ready(self) -> StorageListener | None:
        """After a start or restart: follow the listener's receptions, tell the demo PACS."""
        listener = self.session.listener
        if listener is None or not listener.is_running:
            self._listener_emit(STOPPED, None)
            return None
        self._watch(listener)
        self.session.demo_knows_listener()
        self._listener_emit(RUNNING, None)
        return listener

    def _watch(self, listener: StorageListener) -> None:
        """Its receptions and refusals become signals (each listener once)."""
        with self._watch_lock:
            if listener is self._watched:
                return
            if self._listener_unsubscribe is not None:
                self._listener_unsubscribe()
            stop_instances = listener.subscribe(self._safely(self.instance_received))
            stop_refused = listener.subscribe_refused(self._safely(self.caller_refused))

            def unsubscribe() -> None:
                stop_instances()
                stop_refused()

            self._watched = listener
            self._listener_unsubscribe = unsubscribe

    # -- retrieves (the job service runs them) ---------------------------------------
    def job_callbacks(self) -> tuple[Callable[[JobRecord], None],
                                     Callable[[RetrieveProgress], None]]:
        """The job service's ``on_change`` and ``on_progress``, as signals.

        Changes all go over (:attr:`job_changed`); progress at most ~10 times
        a second per job (:attr:`job_progress`), but always the final one.
        """
        last: dict[str, float] = {}
        emit = self._safely(self.job_progress)

        def report(progress: RetrieveProgress) -> None:
            now = time.monotonic()
            if progress.state.is_final or now - last.get(progress.job_id, 0.0) >= BATCH_SECONDS:
                last[progress.job_id] = now
                emit(progress)

        return self._safely(self.job_changed), report

    def batch_callbacks(self) -> tuple[Callable[[str, ItemProgress], None],
                                       Callable[[BatchProgress], None]]:
        """The job service's ``on_batch_item`` and ``on_batch_progress``, as signals
        (the service sends progress a few times a second at most: all go over)."""
        return self._safely(self.batch_item), self._safely(self.batch_progress)

    def _safely(self, signal: Any) -> Callable[..., None]:
        """*signal*'s emit for worker threads: never after :meth:`shutdown`.

        A retrieve or search may still be finishing in a worker when the
        window closes; an emit racing the deletion of this object crashes
        the process, so emits and shutdown exclude each other.
        """
        def emit(*args: Any) -> None:
            with self._emit_lock:
                if not self._closed:
                    signal.emit(*args)

        return emit

    def shutdown(self) -> None:
        """Stop the workers (window closing; the job service and session are closed first)."""
        self._events_timer.stop()
        with self._emit_lock:
            self._closed = True
        self._unsubscribe()
        with self._watch_lock:
            if self._listener_unsubscribe is not None:
                self._listener_unsubscribe()
        for executor in (self._executor, self._listener_executor, self._archive_executor,
                         self.thumbnail_executor, self._pixel_executor):
            executor.shutdown(wait=False, cancel_futures=True)


class _Batcher:
    """Collects items (records, log events) from worker threads and hands them over in batches."""

    def __init__(self, emit: Callable[[list[Any]], None]) -> None:
        self._emit = emit
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._items: list[Any] = []
        self._last = time.monotonic()

    def add(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)
            due = (len(self._items) >= BATCH_SIZE
                   or time.monotonic() - self._last >= BATCH_SECONDS)
        if due:
            self.flush()

    def flush(self) -> None:
        with self._flushing:  # one flush at a time, so that batches keep their order
            with self._lock:
                items, self._items = self._items, []
                self._last = time.monotonic()
            if items:
                self._emit(items)

