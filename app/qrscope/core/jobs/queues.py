"""A node's queue and its one budget of parallel retrieves, shared with its batches.

A node has one budget, its ``max_parallel_retrieves`` (else the service's
default): single retrieves and sends each hold a slot while they run, and a
batch job holds none itself but borrows one for each retrieve it starts
(:class:`LentSlots`, the service's side of
:class:`~qrscope.core.batch.slots.RetrieveSlots`); a send borrows more the
same way, one for each extra association
(:class:`~qrscope.core.send.shares.ExtraSlots`). Counted together they
never exceed the budget; the pace of each batch bounds its own share below it.

Who goes first when a slot frees: the node's queue, single retrieves ahead of
batch items (:class:`~qrscope.core.jobs.records.JobPriority`), then a batch's
next retrieve. A batch lends no slot while a job that needs one waits in the
queue, so that a radiologist's one study is not stuck behind a night's list.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator

from qrscope.core.jobs.records import JobPriority

__all__ = ["LentSlots", "NodeQueue"]

_WAKE_S = 0.5
"""The longest a batch waiting for a slot sleeps before it looks again (a safety net:
every slot freed and every cancel wakes it at once)."""


class NodeQueue:
    """A node's queued job ids: single retrieves first, each priority in the order asked."""

    def __init__(self) -> None:
        self._lanes: dict[JobPriority, deque[str]] = {p: deque() for p in JobPriority}

    def append(self, job_id: str, priority: JobPriority = JobPriority.SINGLE) -> None:
        self._lanes[priority].append(job_id)

    def first(self) -> str:
        return next(lane[0] for lane in self._lanes.values() if lane)

    def popleft(self) -> str:
        return next(lane.popleft() for lane in self._lanes.values() if lane)

    def remove(self, job_id: str) -> None:
        next(lane for lane in self._lanes.values() if job_id in lane).remove(job_id)

    def __iter__(self) -> Iterator[str]:
        """Queued ids in the order they will start."""
        return (job_id for lane in self._lanes.values() for job_id in lane)

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())


class LentSlots:
    """One batch's borrowing from its node's budget (the service's ``RetrieveSlots``).

    *changed* is the service's condition (its lock held for every count);
    *may_lend* says, under it, whether the node has a free slot and no queued
    job waiting for one; *lent* and *returned* move the service's count of
    slots lent to the node's batches (*returned* also starts what the freed
    slot lets start).
    """

    def __init__(self, changed: threading.Condition, *, may_lend: Callable[[], bool],
                 lent: Callable[[], None], returned: Callable[[], None]) -> None:
        self._changed = changed
        self._may_lend = may_lend
        self._lent = lent
        self._returned = returned

    def acquire(self, cancel: threading.Event) -> bool:
        with self._changed:
            while not cancel.is_set():
                if self._may_lend():
                    self._lent()
                    return True
                self._changed.wait(_WAKE_S)
            return False

    def release(self) -> None:
        with self._changed:
            self._returned()
            self._changed.notify_all()

    def wake(self) -> None:
        """Make a borrower blocked in :meth:`acquire` look at its *cancel* at once (a
        send whose share ran out stops waiting for a slot without the safety net's
        delay)."""
        with self._changed:
            self._changed.notify_all()
