"""A batch's plans, learnt one item ahead of its retrieves, on one association.

Before an item's C-MOVE the batch learns the plan of each of its studies
(:class:`~qrscope.core.retrieve.plan.RetrievePlanner`: what the PACS lists,
which decides whether the item is ``done``). Learnt just before the C-MOVE,
those C-FINDs stood between one C-MOVE and the next; here one thread learns
them while the item before runs, so that at ``--max-parallel 1`` the C-MOVEs
follow each other with no planning between (docs/PERFORMANCE.md, batch
retrieval).

* The runner prepares an item only when it must wait before starting it
  (for a slot of the pace's, at most one item ahead), and only while the
  batch may start retrieves (not paused, the window open). Planning is not a
  retrieve: it takes no slot of the node's budget.
* The plans prepared ahead are learnt on this thread, on one C-FIND
  association to the node (:class:`~qrscope.core.query.find.FindAssociation`),
  released once the thread has had nothing to do for :data:`IDLE_S` (a batch
  waiting for its window, paused, or fetching a long study), and at the end.
* A plan is only data: :meth:`PlansAhead.drop` (a pause) forgets the
  prepared ones, and one older than :data:`FRESH_S` when its item starts is
  learnt again rather than trusted.
* An item whose plan was not prepared (it could start at once, a retry, an
  item after a pause) has it learnt on its own thread, on an association of
  its own, as before: items that start together plan side by side.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

from qrscope.core.batch.items import FoundStudy
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.query.find import FindAssociation
from qrscope.core.retrieve.plan import RetrievePlan, RetrievePlanner
from qrscope.core.retrieve.types import RetrieveScope

__all__ = ["FRESH_S", "IDLE_S", "PlanningStopped", "PlansAhead"]

_LOGGER = logging.getLogger(__name__)
IDLE_S = 1.0
"""Seconds with nothing to plan after which the C-FIND association is released."""
FRESH_S = 30.0
"""A prepared plan older than this when its item starts is learnt again."""


class PlanningStopped(Exception):
    """The batch was cancelled or ended before the plan was learnt."""


@dataclass
class _Task:
    index: int
    study: FoundStudy
    ahead: bool
    """Prepared for an item not started yet (dropped at a pause)."""
    future: Future[RetrievePlan] = field(default_factory=Future)
    learnt_at: float = 0.0


class PlansAhead:
    """Learns the plans of a batch's items on one thread; :meth:`close` at the end."""

    def __init__(self, node: RemoteNode, local: LocalAE, log: AssociationLog, *,
                 debug: bool = False) -> None:
        self.node, self.local, self.log, self.debug = node, local, log, debug
        self._lock = threading.Condition()
        self._queue: deque[_Task] = deque()
        self._prepared: dict[tuple[int, str], _Task] = {}
        self._planner: RetrievePlanner | None = None
        self._here: set[RetrievePlanner] = set()
        """Planners learning on an item's own thread (:meth:`plan` without a prepared one)."""
        self._stopped = False
        self._finds = FindAssociation(node, local, log, idle=IDLE_S, debug=debug)
        self._thread = threading.Thread(target=self._work, name="qrscope-plans-ahead",
                                        daemon=True)
        self._thread.start()

    # -- the runner's side -----------------------------------------------------------
    def prepare(self, index: int, studies: tuple[FoundStudy, ...]) -> None:
        """Learn item *index*'s plans in the background (returns at once)."""
        with self._lock:
            if self._stopped:
                return
            for study in studies:
                task = _Task(index, study, ahead=True)
                self._prepared[(index, study.study_uid)] = task
                self._queue.append(task)
            self._lock.notify_all()

    def plan(self, index: int, study: FoundStudy) -> RetrievePlan:
        """Item *index*'s plan of *study*: the one prepared if still fresh, else learnt
        now on this thread. Raises ``AssociationFailure`` (the PACS is not there) or
        :class:`PlanningStopped`."""
        with self._lock:
            task = self._prepared.pop((index, study.study_uid), None)
            if task is not None:
                task.ahead = False  # awaited now: a pause must not drop it
        if task is not None:
            plan = task.future.result()
            if time.monotonic() - task.learnt_at <= FRESH_S:
                return plan
        return self._learn_here(study)

    def _learn_here(self, study: FoundStudy) -> RetrievePlan:
        """The plan learnt on the caller's thread, on an association of its own: items
        started at once (more than one may start together) plan side by side."""
        planner = RetrievePlanner(self.node, self.local, self.log, debug=self.debug)
        with self._lock:
            if self._stopped:
                raise PlanningStopped
            self._here.add(planner)
        try:
            plan = planner.learn(_scope(study))
        finally:
            with self._lock:
                self._here.discard(planner)
        if self._stopped:
            raise PlanningStopped
        return plan

    def drop(self) -> None:
        """Forget the plans prepared for items not started (a pause: they would be old)."""
        with self._lock:
            self._prepared.clear()
            kept = [t for t in self._queue if not t.ahead]
            for task in self._queue:
                if task.ahead:
                    task.future.cancel()
            self._queue = deque(kept)

    def cancel(self) -> None:
        """From any thread: the C-FIND under way is cancelled, no plan is learnt after it."""
        with self._lock:
            self._stopped = True
            planners = [*self._here, *filter(None, [self._planner])]
            self._lock.notify_all()
        for planner in planners:
            planner.cancel()

    def close(self) -> None:
        """Stop the thread (after the plan under way) and release the association."""
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        self._thread.join()

    # -- the thread --------------------------------------------------------------------
    def _work(self) -> None:
        try:
            while (next_task := self._next()) is not None:
                self._learn(*next_task)
        except Exception:  # no item may wait for a thread that is gone
            _LOGGER.exception("learning the batch's plans stopped")
        finally:
            self._finds.close()
            with self._lock:
                self._stopped = True
                left, self._queue = list(self._queue), deque()
            for task in left:
                task.future.set_exception(PlanningStopped())

    def _next(self) -> tuple[_Task, RetrievePlanner] | None:
        """The next task to learn (None: stopped), with its planner, published for cancel."""
        with self._lock:
            while True:
                self._wait_for_work()
                if self._stopped:
                    return None
                task = self._queue.popleft()
                if task.future.set_running_or_notify_cancel():  # False: dropped meanwhile
                    self._planner = RetrievePlanner(self.node, self.local, self.log,
                                                    debug=self.debug, finds=self._finds)
                    return task, self._planner

    def _wait_for_work(self) -> None:
        """Wait (holding the lock) for a task or the stop; after :data:`IDLE_S` without
        either, the association is released (outside the lock: a release takes a
        round trip)."""
        deadline = time.monotonic() + IDLE_S
        released = False
        while not self._queue and not self._stopped:
            left = deadline - time.monotonic()
            if left > 0:
                self._lock.wait(left)
            elif not released:
                released = True
                self._lock.release()
                try:
                    self._finds.close()
                finally:
                    self._lock.acquire()
            else:
                self._lock.wait()

    def _learn(self, task: _Task, planner: RetrievePlanner) -> None:
        try:
            plan = planner.learn(_scope(task.study))
        except Exception as exc:  # AssociationFailure above all: the waiting item decides
            task.future.set_exception(exc)
            return
        finally:
            with self._lock:
                self._planner = None
        if self._stopped:
            task.future.set_exception(PlanningStopped())
            return
        task.learnt_at = time.monotonic()
        task.future.set_result(plan)


def _scope(study: FoundStudy) -> RetrieveScope:
    return RetrieveScope.study(study.study_uid, patient_id=study.patient_id)
