"""Ctrl-C during a job run from the command line: cancel that job, the second time abort."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Protocol

__all__ = ["cancel_on_interrupt"]


class _Cancels(Protocol):
    def cancel(self, job_id: str) -> object: ...


@contextlib.contextmanager
def cancel_on_interrupt(service: _Cancels, job_id: str, words: str) -> Iterator[None]:
    """While inside, the first SIGINT says *words* and cancels *job_id* (the job ends
    through its own cancel path and reports what it has); a second one raises
    KeyboardInterrupt as usual. Only the main thread can take signals: elsewhere
    (the CLI run from a test's thread) nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        sys.stderr.write(f"\n{words}\n")
        signal.signal(signal.SIGINT, signal.default_int_handler)
        service.cancel(job_id)

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
