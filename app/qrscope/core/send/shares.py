"""How one association plan's instances are shared among the send's associations.

A peer such as Orthanc answers one C-STORE at a time per association (it
negotiates no asynchronous operations window, PS3.7 D.3.3.3), but serves
several associations at once: a send of many instances goes faster on
several. PS3.4 B.2 imposes no order on the instances of a series, so each
association takes a **contiguous run** of the plan's instances (which are
in series order): the first one starts with all of them, each association
that joins takes the back half of the largest run still held, and one whose
run is done takes the back half of the largest other's. Shares stay
contiguous by series, balanced to the end, and no instance is sent twice.

An association that ends before the peer answered anything on it (an extra
one a peer aborts) gives its run back, its last instance included, and the
others take it.

The extra associations take slots of the node's budget of parallel work
(:class:`ExtraSlots`), lent by the job service as it lends them to a batch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from qrscope.core.send.selection import SendItem

__all__ = ["ExtraSlots", "NoExtraSlots", "Share", "Shares"]


class ExtraSlots(Protocol):
    """The node's slots a send borrows for its extra associations (the job service's
    ``LentSlots``): it holds one slot of its own as it runs."""

    def acquire(self, cancel: threading.Event) -> bool:
        """Block until a slot is lent (``True``) or *cancel* is set (``False``)."""

    def release(self) -> None:
        """Give back a slot :meth:`acquire` lent."""

    def wake(self) -> None:
        """Make a blocked :meth:`acquire` look at its *cancel* now."""


class NoExtraSlots:
    """A send on its own (no job service): one association, none borrowed."""

    def acquire(self, cancel: threading.Event) -> bool:
        return False

    def release(self) -> None:
        """Nothing was lent."""

    def wake(self) -> None:
        """Nothing waits."""


@dataclass
class _Run:
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


class Shares:
    """The plan's instances, as runs held by associations or given back."""

    def __init__(self, items: Sequence[SendItem]) -> None:
        self._items = list(items)
        self._lock = threading.Lock()
        self._free: list[_Run] = [_Run(0, len(self._items))] if self._items else []
        self._held: list[_Run] = []

    def take(self) -> Share | None:
        """A new association's share: a run given back, else the back half of the
        largest held (``None``: too little is left to be worth an association)."""
        with self._lock:
            run = self._next_run(None)
            return None if run is None else Share(self, run)

    def _next_run(self, current: _Run | None) -> _Run | None:
        """Under the lock: *current* done, the run its association goes on with."""
        if current is not None:
            self._held.remove(current)
        if self._free:
            run = self._free.pop(0)
        else:
            victim = max(self._held, key=len, default=None)
            if victim is None or len(victim) < 2:
                return None
            middle = victim.start + (len(victim) + 1) // 2  # its next instance stays
            run = _Run(middle, victim.end)
            victim.end = middle
        self._held.append(run)
        return run

    @property
    def left(self) -> int:
        """Instances not taken yet."""
        with self._lock:
            return sum(len(r) for r in (*self._free, *self._held))


class Share:
    """One association's run of a plan's instances."""

    def __init__(self, shares: Shares, run: _Run) -> None:
        self._shares = shares
        self._run: _Run | None = run
        self._last: int | None = None

    def next(self) -> SendItem | None:
        """The next instance to send here (``None``: nothing is left to anyone)."""
        shares = self._shares
        with shares._lock:
            run = self._run
            while run is not None and len(run) == 0:
                run = self._run = shares._next_run(run)
            if run is None:
                return None
            self._last = run.start
            run.start += 1
            return shares._items[self._last]

    def upcoming(self) -> SendItem | None:
        """The instance :meth:`next` will most likely give (another may take it first)."""
        shares = self._shares
        with shares._lock:
            run = self._run
            return shares._items[run.start] if run is not None and len(run) else None

    def give_back(self) -> None:
        """This association ends before the peer answered anything on it: its run,
        from the last instance taken, goes to the others."""
        shares = self._shares
        with shares._lock:
            run, self._run = self._run, None
            if run is None:
                return
            shares._held.remove(run)
            start = self._last if self._last is not None and self._last == run.start - 1 \
                else run.start
            if run.end > start:
                shares._free.append(_Run(start, run.end))
