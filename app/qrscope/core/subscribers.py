"""Callbacks that want each new item, added and removed from any thread.

The association log, the listener's received instances and its refused
callers all tell whoever subscribed, from the thread that has the item
(a reactor, an association thread); the window's bridge only queues a
signal there. One small owner for that list instead of a copy in each.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Subscribers"]

T = TypeVar("T")


class Subscribers(Generic[T]):
    """A thread-safe list of callbacks; :meth:`add` returns the function that removes one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[T], None]] = []

    def add(self, callback: Callable[[T], None]) -> Callable[[], None]:
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def snapshot(self) -> list[Callable[[T], None]]:
        """The callbacks now: call them outside any lock of the caller's."""
        with self._lock:
            return list(self._callbacks)
