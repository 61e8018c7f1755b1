"""Thumbnails made in worker processes, so that the caller's interpreter is left alone.

Making a thumbnail in a thread of the window held the window's interpreter:
parsing the file, pydicom's own RLE decoder (a Python loop, about 7 ms a
512 x 512 frame) and the windowing run with the interpreter lock held, so
the GUI thread waited for it at each of its Python calls, and their garbage
was walked by the GUI thread's collector (:mod:`qrscope.ui.gui_gc`). That
made the window stall up to 40-50 ms while thumbnails were made
(docs/PERFORMANCE.md, "The next session: the 53 ms stall").

:func:`make_thumbnail_apart` makes one in one of :data:`PROCESSES` worker
processes with :func:`make_thumbnail`, and waits for it (call it from a
worker thread: the wait releases the lock). The processes are started with
"spawn", never "fork" (the caller has threads, Qt's among them, that a fork
would copy mid-work), once per process and only when a thumbnail is first
to be made; they run at a lower scheduling priority (:data:`NICENESS`), so
on a busy machine the window gets the processor first, and end when the
process that started them ends, however it ends. A thumbnail already
known (:func:`known_thumbnail`) is answered here, without a process.

Where processes cannot be used the thumbnail is made in the calling thread,
as before: in a frozen bundle (PyInstaller), whose executable is the
application and not a Python interpreter (its entry point would have to
call ``multiprocessing.freeze_support``), and when the processes cannot be
started or die (a broken pool is dropped; the next call starts a new one).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from qrscope.core.imaging.thumbnails import ThumbnailResult, known_thumbnail, make_thumbnail

__all__ = ["NICENESS", "PROCESSES", "make_thumbnail_apart", "processes_available",
           "shut_down", "workers_running"]

PROCESSES = 2
"""Thumbnails made at once (as the window's thumbnail threads, which wait for them)."""
NICENESS = 10
"""Added to the worker processes' nice value (POSIX): the window's process goes first."""

_LOCK = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def processes_available() -> bool:
    """Whether thumbnails can be made in other processes here (not in a frozen bundle)."""
    return not getattr(sys, "frozen", False)


def make_thumbnail_apart(root: Path, series_uid: str, size: int = 128) -> ThumbnailResult:
    """:func:`make_thumbnail` of *series_uid*, made in a worker process; blocks until made.

    Raises :class:`UnknownSeries` as :func:`make_thumbnail` does.
    """
    root = Path(root)
    known = known_thumbnail(root, series_uid, size)
    if known is not None:
        return known
    pool = _processes()
    if pool is None:
        return make_thumbnail(root, series_uid, size)
    try:
        return pool.submit(make_thumbnail, root, series_uid, size).result()
    except BrokenProcessPool:  # a worker died (killed, out of memory): here, this once
        _drop(pool)
        return make_thumbnail(root, series_uid, size)


def workers_running() -> bool:
    """Whether worker processes are up (started by a thumbnail, ended by :func:`shut_down`)."""
    with _LOCK:
        return _pool is not None


def shut_down() -> None:
    """Stop the worker processes (started again by the next thumbnail to make)."""
    global _pool
    with _LOCK:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def _processes() -> ProcessPoolExecutor | None:
    global _pool
    if not processes_available():
        return None
    with _LOCK:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=PROCESSES,
                                        mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_worker_started)
        return _pool


def _drop(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _LOCK:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def _worker_started() -> None:
    """In each worker process: yield the processor to the window (POSIX nice value), and
    end with the process that started it.

    A worker holds both ends of the pool's queue, so it never reads an end of
    file: without the watch, a window that crashed, was killed or left with
    ``os._exit`` would leave its workers waiting forever.
    """
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):  # not permitted: run at the caller's priority
            os.nice(NICENESS)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent.sentinel,), daemon=True,
                         name="qrscope-thumbs-parent-watch").start()


def _end_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(0)  # nothing of the worker's to keep: a thumbnail half made is made again
