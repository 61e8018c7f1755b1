"""Rows of filed instances, committed a batch at a time by one writer thread.

A transaction per received instance costs about as much as the rest of the
index's work on it, and the association threads that file instances would
each wait for it and for the index's lock. Here they only append the row;
a writer thread commits what has gathered once :data:`BATCH_ROWS` rows wait
or :data:`BATCH_SECONDS` after the first of them, in one transaction.

The rule of the index holds: a row is queued only after its file is durable
and after this process holds its writer mark (:mod:`.marks`), so a kill
before the commit leaves the mark and the next start heals the index from
the files. Readers of this process first :meth:`RowWriter.flush`, so they
see every instance filed before they asked; a clean end flushes before the
mark is released.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from qrscope.core.archive.index.describe import InstanceRow

__all__ = ["BATCH_ROWS", "BATCH_SECONDS", "RowWriter"]

_LOGGER = logging.getLogger(__name__)

BATCH_ROWS = 500
BATCH_SECONDS = 0.2  # how long another process (qrscope archive list) may not see a row


class RowWriter:
    """Queues rows for *add* (one transaction per call) and commits them in batches."""

    def __init__(self, add: Callable[[list[InstanceRow]], int], name: str) -> None:
        self._add = add
        self._name = name
        self._pending: list[InstanceRow] = []
        self._first = 0.0  # when the oldest pending row was queued (monotonic)
        self._ready = threading.Condition()
        self._writing = threading.Lock()  # batches commit in the order they were queued
        self._thread: threading.Thread | None = None
        self._closed = False
        self.lost = False
        """A batch failed: its rows are missing until the index is healed from the files."""

    def put(self, row: InstanceRow) -> None:
        """Queue *row*; the writer commits it within :data:`BATCH_SECONDS`."""
        with self._ready:
            if self._closed:
                raise RuntimeError("the archive index was closed")
            if not self._pending:
                self._first = time.monotonic()
            self._pending.append(row)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"archive index writer {self._name}")
                self._thread.start()
            if len(self._pending) >= BATCH_ROWS:
                self._ready.notify()

    def flush(self) -> None:
        """Commit every queued row now (in this thread)."""
        with self._writing:
            with self._ready:
                rows, self._pending = self._pending, []
            self._commit(rows)

    def close(self) -> None:
        """Commit what is queued and stop the writer thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.flush()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._due():
                    if self._closed:
                        return
                    wait = None if not self._pending else \
                        self._first + BATCH_SECONDS - time.monotonic()
                    self._ready.wait(wait)
            self.flush()

    def _due(self) -> bool:
        """Called with the condition held: a batch is full or its first row waited enough."""
        return bool(self._pending) and (
            self._closed or len(self._pending) >= BATCH_ROWS
            or time.monotonic() - self._first >= BATCH_SECONDS)

    def _commit(self, rows: list[InstanceRow]) -> None:
        if not rows:
            return
        try:
            self._add(rows)
        except Exception as exc:  # the files are stored; the next start heals the index
            self.lost = True
            _LOGGER.warning("%d stored instances are not yet in the archive index of %s (%s); "
                            "the next start adds them", len(rows), self._name, exc)
