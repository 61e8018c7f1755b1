"""A deadline that activity pushes back: how long waits end without cutting off progress.

pynetdicom's DIMSE timeout restarts only when a message arrives on the same
association. During a C-MOVE the images arrive on *another* association (to
our listener) and the PACS may send no pending response for minutes, so the
retrieve needs a timer that the listener can reset too. The watchdog also
carries the "bounded wait after C-CANCEL" and the optional total limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Watchdog"]


class Watchdog:
    """Calls ``on_expire(reason)`` once, from its own thread, when a limit passes.

    Parameters
    ----------
    idle : float or None
        Seconds without :meth:`touch` before expiring (``None``: never).
    total : float or None
        Seconds from :meth:`start` before expiring whatever happens (``None``/0: never).
    on_expire : callable
        Receives ``"idle"``, ``"total"`` or the reason given to :meth:`expire_in`.
    """

    def __init__(self, idle: float | None, total: float | None,
                 on_expire: Callable[[str], None]) -> None:
        self.idle = idle or None
        self.total = total or None
        self._on_expire = on_expire
        self._cond = threading.Condition()
        self._last = time.monotonic()
        self._started = self._last
        self._deadline: tuple[float, str] | None = None
        self._stopped = False
        self.expired: str | None = None
        self._thread = threading.Thread(target=self._run, name="qrscope-watchdog", daemon=True)

    def start(self) -> Watchdog:
        self._started = self._last = time.monotonic()
        self._thread.start()
        return self

    def touch(self) -> None:
        """Record activity: the idle limit starts again from now.

        The watchdog's thread is not woken: a touch only moves the idle
        deadline later, and the thread, waking at the earlier one, looks
        again. A retrieve touches once per instance and per response; waking
        a thread each time cost the receiving threads the interpreter lock
        thousands of times a study.
        """
        self._last = time.monotonic()  # one store of a float: no lock needed

    def expire_in(self, seconds: float, reason: str) -> None:
        """Expire after *seconds* whatever the activity (e.g. the grace after a cancel)."""
        with self._cond:
            when = time.monotonic() + seconds
            if self._deadline is None or when < self._deadline[0]:
                self._deadline = (when, reason)
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _next(self) -> tuple[float, str]:
        candidates: list[tuple[float, str]] = []
        if self.idle:
            candidates.append((self._last + self.idle, "idle"))
        if self.total:
            candidates.append((self._started + self.total, "total"))
        if self._deadline:
            candidates.append(self._deadline)
        return min(candidates) if candidates else (float("inf"), "")

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                when, reason = self._next()
                remaining = when - time.monotonic()
                if remaining <= 0:
                    self.expired = reason
                    break
                self._cond.wait(timeout=min(remaining, 3600))
            else:
                return
        self._on_expire(self.expired or "idle")
