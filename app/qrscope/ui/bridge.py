"""The seam between the GUI thread and the core's blocking calls.

Every network call runs in a worker thread (``loop.run_in_executor``) and is
awaited by the GUI through qasync; core callbacks, which fire on worker and
pynetdicom threads, are re-emitted as Qt signals, which Qt queues to the GUI
thread. No widget calls the core's network functions directly.

Retrieves are not run here: the core's job service runs each in a thread of
its own, at most a few per node, so a search, a Verify or a host look-up
never waits behind them; the bridge only turns its reports into signals
(:meth:`CoreBridge.job_callbacks`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from qrscope.core.dicom.records import QueryLevel
from qrscope.core.jobs import JobRecord
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.verify import EchoResult, verify
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.query.find import FindOperation, FindResult, QueryFilter
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve.local import what_is_missing
from qrscope.core.retrieve.types import RetrieveProgress, RetrieveScope

__all__ = ["CoreBridge", "FindTask", "spawn"]

_LOGGER = logging.getLogger(__name__)
_RUNNING: set[asyncio.Task[Any]] = set()


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


class FindTask:
    """A running search: await :attr:`done`, call :meth:`cancel` from the GUI."""

    def __init__(self, operation: FindOperation, done: asyncio.Future[FindResult]) -> None:
        self.operation = operation
        self.done = done

    def cancel(self) -> None:
        self.operation.cancel()


class CoreBridge(QObject):
    """Runs core operations off the GUI thread and reports back through signals."""

    events_logged = Signal(list)  # list[AssociationEvent], in order, batched
    records_arrived = Signal(int, list)  # search id, list[Record]
    job_progress = Signal(object)  # RetrieveProgress
    job_changed = Signal(object)  # JobRecord (a copy), at each state change
    instance_received = Signal(object)  # ReceivedInstance (listener)
    caller_refused = Signal(object)  # RefusedCaller (listener's accept policy)

    def __init__(self, log: AssociationLog, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log = log
        self._executor = ThreadPoolExecutor(max_workers=INTERACTIVE_WORKERS,
                                            thread_name_prefix="qrscope-core")
        self._closed = False
        self._emit_lock = threading.RLock()
        # The log gets an event per DIMSE message, from pynetdicom's threads:
        # 10,000 in a large search. One queued signal each kept the GUI thread
        # running slots for up to 0.7 s at a time, its timers waiting
        # (benchmarks/window.py); they go over in batches, as records do, the
        # rest of each burst within BATCH_SECONDS.
        self._events = _Batcher(self._safely(self.events_logged))
        self._unsubscribe = log.subscribe(self._events.add)
        self._events_timer = QTimer(self)
        self._events_timer.setInterval(int(BATCH_SECONDS * 1000))
        self._events_timer.timeout.connect(self._events.flush)
        self._events_timer.start()
        self._listener_unsubscribe: Callable[[], None] | None = None
        self._search_ids = iter(range(1, 1 << 62))
        self.debug = False
        """Record PDUs and full identifiers for operations started from now on."""

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run a blocking core call in a worker thread; await the result."""
        return asyncio.get_event_loop().run_in_executor(self._executor, fn, *args)

    # -- operations ------------------------------------------------------------
    async def verify(self, node: RemoteNode, local: LocalAE) -> EchoResult:
        """C-ECHO; raises ``AssociationFailure``."""
        return await self.run(lambda: verify(node, local, self.log, debug=self.debug))

    async def missing(self, node: RemoteNode, local: LocalAE,
                      scope: RetrieveScope) -> list[RetrieveScope] | None:
        """The requests for what of *scope* is not on disk (``None``: not known).

        Asks the PACS for the scope's instances (C-FIND) and compares them
        with the storage folder; raises ``AssociationFailure``.
        """
        return await self.run(lambda: what_is_missing(node, local, self.log, scope,
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

        return search_id, FindTask(operation, self.run(work))

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

    def watch_listener(self, listener: StorageListener) -> None:
        if self._listener_unsubscribe is not None:
            self._listener_unsubscribe()
        stop_instances = listener.subscribe(self._safely(self.instance_received))
        stop_refused = listener.subscribe_refused(self._safely(self.caller_refused))

        def unsubscribe() -> None:
            stop_instances()
            stop_refused()

        self._listener_unsubscribe = unsubscribe

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
        """Stop the workers (window closing; the job service is shut down first)."""
        self._events_timer.stop()
        with self._emit_lock:
            self._closed = True
        self._unsubscribe()
        if self._listener_unsubscribe is not None:
            self._listener_unsubscribe()
        self._executor.shutdown(wait=False, cancel_futures=True)


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

