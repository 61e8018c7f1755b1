"""The batch view's calls off the GUI thread: reading a list, resolving it.

A spreadsheet of thousands of rows takes a while to read, and resolving is a
C-FIND per row against a PACS that may be slow: both run in a worker of
their own, so that the window never waits. Resolving reports each item as
it is resolved (:attr:`BatchWorker.resolved`); a cancel ends the C-FIND
under way (C-CANCEL) and no item after it is resolved. Signals are never
emitted once :meth:`BatchWorker.shutdown` has run (the window is closing and
the receiver may be gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from qrscope.core.batch.input import BatchInput, parse_text, read_batch
from qrscope.core.batch.items import BatchItem, ItemProgress, ItemStatus
from qrscope.core.batch.resolve import Resolver
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import AssociationFailure
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.retrieve.local import local_counts
from qrscope.ui.batch.models import ALREADY_HERE

__all__ = ["BatchWorker"]

_T = TypeVar("_T")


class BatchWorker(QObject):
    """Reads and resolves batches in one worker thread, in the order asked.

    Signals: ``resolved(int, ItemProgress)`` for each item of resolve run
    *n*; ``resolve_ended(int, str)`` when run *n* ended ('' or why it stopped:
    the PACS could not be reached, cancelled).
    """

    resolved = Signal(int, object)
    resolve_ended = Signal(int, str)

    def __init__(self, log: AssociationLog, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log = log
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qrscope-batch")
        self._lock = threading.Lock()
        self._closed = False
        self._cancel = threading.Event()
        self._resolver: Resolver | None = None
        """The resolver of the run under way, which :meth:`cancel` cancels."""
        self._runs = iter(range(1, 1 << 62))

    def _in_worker(self, fn: Callable[[], _T]) -> asyncio.Future[_T]:
        return asyncio.get_event_loop().run_in_executor(self._executor, fn)

    async def read_file(self, path: Path, columns: dict[str, str]) -> BatchInput:
        """The list in *path*; raises ``BatchInputError``."""
        return await self._in_worker(lambda: read_batch(path, columns))

    async def read_text(self, text: str, columns: dict[str, str]) -> BatchInput:
        """Pasted text; raises ``BatchInputError``."""
        return await self._in_worker(lambda: parse_text(text, columns))

    def resolve(self, node: RemoteNode, local: LocalAE, items: list[BatchItem],
                debug: bool = False) -> int:
        """Resolve *items* against *node* (C-FIND, in the worker); the run's number."""
        self.cancel()
        self._cancel = cancel = threading.Event()
        run = next(self._runs)
        self._executor.submit(self._resolve, run, cancel, node, local, items, debug)
        return run

    def cancel(self) -> None:
        """Stop the resolve under way, its C-FIND included (C-CANCEL)."""
        with self._lock:
            self._cancel.set()
            resolver = self._resolver
        if resolver is not None:
            resolver.cancel()

    def _resolve(self, run: int, cancel: threading.Event, node: RemoteNode, local: LocalAE,
                 items: list[BatchItem], debug: bool) -> None:
        resolver = Resolver(node, local, self.log, debug=debug)
        with self._lock:
            self._resolver = resolver
            if cancel.is_set():
                resolver.cancel()
        why = ""
        try:
            # every row on one association, released when the rows end or at a cancel
            with contextlib.closing(resolver.resolve_all(items)) as found_all:
                for index, (item, found) in enumerate(zip(items, found_all, strict=False)):
                    if resolver.cancelled:  # this item's answer, if any, is not the PACS's
                        why = "cancelled"
                        break
                    progress = found.applied_to(ItemProgress(index=index, item=item))
                    self._emit(self.resolved, run,
                               _with_local(progress, local.storage_folder))
        except AssociationFailure as exc:
            why = f"the PACS could not be reached: {exc.message}"
        except Exception as exc:  # the page must not wait for ever
            why = f"resolving failed: {exc}"
        with self._lock:
            if self._resolver is resolver:
                self._resolver = None
        self._emit(self.resolve_ended, run, why)

    def _emit(self, signal: Any, *args: Any) -> None:
        with self._lock:
            if not self._closed:
                signal.emit(*args)

    def shutdown(self) -> None:
        """The window closes: the resolve stops, nothing more is emitted."""
        with self._lock:
            self._closed = True
        self.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _with_local(progress: ItemProgress, storage: Path) -> ItemProgress:
    """A found item whose studies the archive already holds whole, said so: the run
    will skip it (it asks the PACS for the instance list and fetches nothing)."""
    studies = progress.studies
    if progress.status is not ItemStatus.FOUND or any(s.instances is None for s in studies):
        return progress
    try:
        here = local_counts(storage, [s.study_uid for s in studies])
    except OSError:
        return progress
    if all(here.get(s.study_uid, 0) >= (s.instances or 0) for s in studies):
        return progress.but(reason=ALREADY_HERE)
    return progress
