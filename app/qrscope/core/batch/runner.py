"""A batch run: its items resolved, then fetched a few at a time, each end kept.

The runner knows nothing of the job store: it hands every item's new state to
``on_item`` (the job service writes it to the store and the report before
the next step), so that whatever ends the process the next run starts from
the last state written. An item found again after a crash is fetched as the
archive index says it stands: what is already on disk is not asked for.

* An item whose studies are already complete on disk is ``skipped``: one
  IMAGE-level C-FIND per study, no C-MOVE.
* A partial one fetches only its missing instances
  (:func:`~qrscope.core.retrieve.local.missing_scopes`).
* ``done`` only when every instance the PACS listed is in the archive index,
  otherwise ``partial`` with what is missing and why (the retrieve outcome's
  reasons), or ``failed`` when nothing came.
* A retrieve the PACS refused for load (A7xx), or that could not connect, is
  tried again after the pace's back-off, as many times as the pace allows.
* Outside the node's availability window no retrieve starts; the batch
  waits for the window to open.
* Paused by the user (:meth:`BatchRunner.pause`), no retrieve starts; those
  under way finish.
* Each retrieve runs in a slot the node's budget lends (``slots``, a
  :class:`~qrscope.core.batch.slots.RetrieveSlots`): the job service lends
  them so that a batch and the single retrieves of its node together keep to
  the node's limit, the single ones first.

Each item's plans (what the PACS lists of its studies, which decides
``done``) are learnt one item ahead, while the item before is fetched, on
one C-FIND association (:class:`~qrscope.core.batch.ahead.PlansAhead`), so
that at ``--max-parallel 1`` one C-MOVE follows another with no C-FIND
between.

Every step is also handed to ``on_progress`` as a
:class:`~qrscope.core.batch.progress.BatchProgress` (items, instances, rate,
ETA, pace, window), for a front end's live view.

How many retrieves run at once, and how long to wait before an item's next
try, is the pace's to say (:class:`~qrscope.core.batch.pace.Pace`): it is
told how every retrieve ended, and each change it makes is logged with why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from qrscope.core.batch.ahead import PlanningStopped, PlansAhead
from qrscope.core.batch.items import FoundStudy, ItemProgress, ItemStatus
from qrscope.core.batch.pace import Pace, PaceChange
from qrscope.core.batch.progress import BatchPhase, BatchProgress, RateMeter, snapshot
from qrscope.core.batch.resolve import Resolver
from qrscope.core.batch.resolving import ResolveAhead
from qrscope.core.batch.slots import RetrieveSlots, UnlimitedSlots
from qrscope.core.batch.window import AvailabilityWindow
from qrscope.core.dicom.status import OUT_OF_RESOURCES_FAMILY
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import AssociationFailure
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.receive.listener import StorageListener
from qrscope.core.receive.storage import InstanceStore
from qrscope.core.retrieve.job import RetrieveJob
from qrscope.core.retrieve.local import local_instance_uids, missing_scopes
from qrscope.core.retrieve.outcome import RetrieveOutcome
from qrscope.core.retrieve.types import RetrieveProgress, RetrieveScope

__all__ = ["BatchResult", "BatchRunner"]

_LOGGER = logging.getLogger(__name__)
_PAUSE_POLL_S = 0.5
"""How often a paused batch looks whether the pace allows a retrieve again."""
_LIVE_EVERY_S = 0.25
"""At most this often a progress for instances arriving (item and pace steps always)."""


@dataclass(frozen=True)
class BatchResult:
    """How a run ended: the items as they stand, and whether the PACS was out of reach."""

    items: tuple[ItemProgress, ...]
    unreachable: str = ""
    cancelled: bool = False
    pace: tuple[PaceChange, ...] = ()
    """Every change of the pace in this run, with why (``qrscope batch --json``)."""


@dataclass
class _Fetch:
    """One item's fetch so far."""

    expected: int | None = 0
    received: int = 0
    asked: bool = False
    missing: tuple[str, ...] = ()
    present: int = 0
    """Instances the PACS listed that are on disk."""
    reasons: tuple[str, ...] = ()
    outcomes: tuple[RetrieveOutcome, ...] = ()
    retry_reason: str = ""


class BatchRunner:
    """Runs one batch's items against *node*; :meth:`run` in a worker thread."""

    def __init__(self, node: RemoteNode, local: LocalAE, log: AssociationLog,
                 items: Iterable[ItemProgress], *, method: RetrieveMethod,
                 on_item: Callable[[ItemProgress], None], pace: Pace,
                 listener: StorageListener | None = None, move_destination: str = "",
                 cancel: threading.Event | None = None,
                 hint_for: Callable[[RetrieveOutcome], str] | None = None,
                 window: AvailabilityWindow | None = None,
                 slots: RetrieveSlots | None = None,
                 on_progress: Callable[[BatchProgress], None] | None = None,
                 job_id: str = "batch", debug: bool = False) -> None:
        self.node, self.local, self.log = node, local, log
        self.items = {p.index: p for p in items}
        self.method = method
        self.on_item = on_item
        self.pace = pace
        self.listener = listener
        self.destination = move_destination or local.ae_title
        self._cancel = cancel or threading.Event()
        self.hint_for = hint_for
        self.job_id = job_id
        self.debug = debug
        self._lock = threading.Condition()
        self._running = 0
        self._parts = 0
        self._jobs: set[RetrieveJob] = set()
        self._resolver: Resolver | None = None
        self._ahead: PlansAhead | None = None
        self.window = window
        self._pace_changes = 0
        self._store = listener.store if listener is not None else InstanceStore(
            local.storage_folder)
        self.slots: RetrieveSlots = slots or UnlimitedSlots()
        self.on_progress = on_progress
        self._paused = False
        self._phase = BatchPhase.RESOLVING
        self._live: dict[int, int] = {}
        """Instances an item's running attempt brought that its progress does not count yet."""
        self._meter = RateMeter()
        self._retrieving = 0
        self._last_live = 0.0

    # -- the run ---------------------------------------------------------------------
    def run(self) -> BatchResult:
        resolving = self._start_resolving()
        with self._lock:
            self._ahead = PlansAhead(self.node, self.local, self.log, debug=self.debug)
            if self._cancel.is_set():
                self._ahead.cancel()
        try:
            self._fetch_all(resolving)
        finally:
            self._ahead.close()
            resolving.join()  # an unexpected error of the resolving is raised here
        if resolving.unreachable:
            return self._end(BatchResult(self._snapshot(), unreachable=resolving.unreachable))
        return self._end(BatchResult(self._snapshot(), cancelled=self._cancel.is_set(),
                                     pace=tuple(self.pace.changes)))

    def _start_resolving(self) -> ResolveAhead:
        """The items not resolved yet, resolved in order on one association in a thread
        of their own (released at the end, or at a cancel), while those before are
        fetched."""
        resolver = Resolver(self.node, self.local, self.log, debug=self.debug)
        pending = [self.items[i] for i in sorted(self.items)
                   if self.items[i].status is ItemStatus.PENDING]
        resolving = ResolveAhead(resolver, pending, self._keep, self._lock, self._cancel,
                                 name=f"qrscope-{self.job_id}-resolve")
        with self._lock:
            self._resolver = resolver
            if self._cancel.is_set():
                resolver.cancel()
        resolving.start()
        return resolving

    def _fetching(self) -> None:
        """The batch's phase is fetching from its first retrieve, or once all is resolved."""
        with self._lock:
            if self._phase is BatchPhase.FETCHING:
                return
            self._phase = BatchPhase.FETCHING
        self._report()

    def _fetch_all(self, resolving: ResolveAhead) -> None:
        """Each found item in its own thread once it is resolved and the pace, the window
        and the user allow, its plans learnt while the item before it runs."""
        threads = []
        resolving.wait_for_first(self.pace.allowed())
        for index in sorted(self.items):
            if not resolving.wait_for(index):
                break  # the resolving ended short of it: cancelled, or the PACS is gone
            progress = self.items[index]
            if progress.status is not ItemStatus.FOUND:
                continue
            self._fetching()
            with self._lock:
                may_start = not self._paused and self._window_open()
                waits = self._running >= self.pace.allowed()
            if may_start and waits and self._ahead is not None:
                # Its plan learnt while the items before it run (see batch/ahead).
                self._ahead.prepare(index, progress.studies)
            if not self._slot():
                break
            thread = threading.Thread(target=self._item_thread, args=(index,),
                                      name=f"qrscope-{self.job_id}-{index}", daemon=True)
            thread.start()
            threads.append(thread)
        self._fetching()
        for thread in threads:
            thread.join()

    def _end(self, result: BatchResult) -> BatchResult:
        with self._lock:
            self._phase = BatchPhase.ENDED
        self._report()
        return result

    def _slot(self) -> bool:
        """Wait until the pace allows one more item at once, the window is open and
        the user has not paused the batch (the pace's pauses end by the clock, so
        the wait looks again now and then); ``False``: cancelled."""
        with self._lock:
            while not self._cancel.is_set() and (self._running >= self.pace.allowed()
                                                 or self._paused or not self._window_open()):
                self._lock.wait(_PAUSE_POLL_S)
            if self._cancel.is_set():
                return False
            self._running += 1
            return True

    def _window_open(self) -> bool:
        return self.window is None or self.window.open_at(datetime.now())

    def _snapshot(self) -> tuple[ItemProgress, ...]:
        return tuple(self.items[i] for i in sorted(self.items))

    def _keep(self, progress: ItemProgress) -> None:
        with self._lock:
            self.items[progress.index] = progress
            self._live.pop(progress.index, None)  # counted in the item's received now
        self.on_item(progress)
        self._report()

    def _item_thread(self, index: int) -> None:
        try:
            self._fetch_item(index)
        except Exception as exc:  # an item must never stay half-way in this run
            if self._cancel.is_set():
                # Stopped with the batch (a quit, a cancel): the item stays where its
                # last recorded step left it, for the next run; not 'failed'.
                _LOGGER.info("batch item %s stopped with the batch (%s)", index, exc)
                return
            _LOGGER.exception("batch item %s failed", index)
            self._keep(self.items[index].but(status=ItemStatus.FAILED, reason=f"failed: {exc}"))
        finally:
            with self._lock:
                self._running -= 1
                self._lock.notify_all()

    # -- one item --------------------------------------------------------------------
    def _fetch_item(self, index: int) -> None:
        progress = self.items[index]
        received = progress.received
        while True:
            attempt = progress.attempts + 1
            fetch = self._fetch(index, progress.studies)
            received += fetch.received
            progress = progress.but(attempts=attempt, received=received,
                                    expected=fetch.expected)
            if self._cancel.is_set():
                self._keep(progress)  # stays 'found': the next run takes it up
                return
            if not fetch.retry_reason or not self.pace.may_retry(attempt):
                break
            self._keep(progress)
            delay = self.pace.delay_before_retry(attempt)
            _LOGGER.info("item %s: %s; again in %.1f s", index, fetch.retry_reason, delay)
            if self._cancel.wait(delay):
                return
            while not self._cancel.is_set() and self.pace.allowed() == 0:
                self._cancel.wait(_PAUSE_POLL_S)  # the node's pause after a busy answer
        self._keep(self._ended(progress, fetch))

    def _ended(self, progress: ItemProgress, fetch: _Fetch) -> ItemProgress:
        hint = next((h for o in fetch.outcomes if self.hint_for and (h := self.hint_for(o))),
                    "")
        if not fetch.missing and fetch.expected is not None:
            status = ItemStatus.DONE if fetch.asked else ItemStatus.SKIPPED
            reason = "" if fetch.asked else "already complete on disk"
            return progress.but(status=status, reason=reason, hint="")
        why = "; ".join(dict.fromkeys(filter(None, (fetch.retry_reason, *fetch.reasons))))
        if fetch.expected is None:
            why = why or "the PACS did not list the study's instances: completeness unknown"
        status = ItemStatus.PARTIAL if fetch.present or progress.received else ItemStatus.FAILED
        if fetch.missing:
            why = f"{len(fetch.missing)} of {fetch.expected} missing: {why}"
        return progress.but(status=status, reason=why, hint=hint)

    def _fetch(self, index: int, studies: tuple[FoundStudy, ...]) -> _Fetch:
        """Each study: what of it is not on disk, asked for; then what is still missing."""
        fetch = _Fetch()
        for study in studies:
            if self._cancel.is_set():
                break
            self._fetch_study(index, study, fetch)
        return fetch

    def _fetch_study(self, index: int, study: FoundStudy, fetch: _Fetch) -> None:
        if self._ahead is None:
            raise RuntimeError("an item fetched outside run()")
        try:
            plan = self._ahead.plan(index, study)
        except PlanningStopped:
            return  # the batch was cancelled: the item stays where it was
        except AssociationFailure as exc:
            self._failed(fetch, f"the PACS could not be reached: {exc.message}")
            return
        if self._cancel.is_set():
            return
        have = local_instance_uids(self.local.storage_folder, study.study_uid)
        parts = missing_scopes(plan, have)
        if parts is None:
            parts = [plan.request_scope()]
        for part in parts:
            if not self._turn():
                return
            fetch.asked = True
            started = time.monotonic()
            try:
                outcome = self._retrieve(index, part)
            finally:
                self.slots.release()
            fetch.outcomes += (outcome,)
            fetch.received += sum(1 for r in outcome.stored
                                  if r.stored is not None and not r.stored.duplicate)
            self._judge(outcome, fetch, started)
        listed = {i.sop_instance_uid for i in plan.instances} if plan.complete else None
        if listed is None:
            fetch.expected = None
            return
        if fetch.expected is not None:
            fetch.expected += len(listed)
        on_disk = local_instance_uids(self.local.storage_folder, study.study_uid)
        fetch.missing += tuple(sorted(listed - on_disk))
        fetch.present += len(listed & on_disk)

    def _turn(self) -> bool:
        """Wait until the user's pause is lifted, then for a slot of the node's budget
        (a pause that came meanwhile gives the slot back); ``False``: cancelled."""
        while True:
            with self._lock:
                while self._paused and not self._cancel.is_set():
                    self._lock.wait(_PAUSE_POLL_S)
            if self._cancel.is_set() or not self.slots.acquire(self._cancel):
                return False
            with self._lock:
                if not self._paused:
                    return True
            self.slots.release()

    def _retrieve(self, index: int, scope: RetrieveScope) -> RetrieveOutcome:
        with self._lock:
            self._parts += 1
            job_id = f"{self.job_id}.{self._parts}"
        seen = 0

        def arrived(progress: RetrieveProgress) -> None:
            nonlocal seen
            with self._lock:
                new, seen = progress.received - seen, max(seen, progress.received)
                if new <= 0:
                    return
                self._live[index] = self._live.get(index, 0) + new
                self._meter.add(new)
            self._report(live=True)

        job = RetrieveJob(self.node, self.local, self.log, scope, method=self.method,
                          listener=self.listener, store=self._store,
                          move_destination=self.destination, debug=self.debug, job_id=job_id,
                          on_progress=arrived)
        with self._lock:
            if self._cancel.is_set():
                job.cancel()
            self._jobs.add(job)
            self._retrieving += 1
        try:
            return job.run()
        finally:
            with self._lock:
                self._jobs.discard(job)
                self._retrieving -= 1

    def pause(self) -> None:
        """Start no new retrieve until :meth:`resume`; those under way finish."""
        with self._lock:
            self._paused = True
            ahead = self._ahead
            self._lock.notify_all()
        if ahead is not None:
            ahead.drop()  # plans prepared now would be old when the batch resumes
        self._report()

    def resume(self) -> None:
        """Lift :meth:`pause`."""
        with self._lock:
            self._paused = False
            self._lock.notify_all()
        self._report()

    @property
    def paused(self) -> bool:
        return self._paused

    def progress(self) -> BatchProgress:
        """Where the batch stands now (any thread)."""
        with self._lock:
            return snapshot(self.job_id, self._phase, self._snapshot(), self._live,
                            pace=self.pace, meter=self._meter, window=self.window,
                            paused=self._paused, running=self._retrieving)

    def _report(self, *, live: bool = False) -> None:
        """Hand the progress on; for instances arriving, at most every :data:`_LIVE_EVERY_S`."""
        if self.on_progress is None:
            return
        now = time.monotonic()
        with self._lock:
            if live and now - self._last_live < _LIVE_EVERY_S:
                return
            self._last_live = now
        try:
            self.on_progress(self.progress())
        except Exception:  # a front end's trouble must not stop the batch
            _LOGGER.exception("batch progress callback failed")

    def cancel(self) -> None:
        """Cancel the run from any thread: no item starts, running retrieves and a
        resolving C-FIND get C-CANCEL; the items they were fetching stay ``found``
        (``pending``, resolving) for the next run."""
        with self._lock:
            self._cancel.set()
            jobs = list(self._jobs)
            resolver, ahead = self._resolver, self._ahead
            self._lock.notify_all()
        if resolver is not None:
            resolver.cancel()  # a C-FIND under way ends now, not after its answer
        if ahead is not None:
            ahead.cancel()
        for job in jobs:
            job.cancel()

    def _judge(self, outcome: RetrieveOutcome, fetch: _Fetch, started: float) -> None:
        """Tell the pace how the retrieve went; note why what is missing is missing."""
        status = outcome.final_status
        with self._lock:  # the pace is not thread-safe; items end in their own threads
            if outcome.failure is not None:
                fetch.retry_reason = outcome.failure.message
                self.pace.on_failure(fetch.retry_reason, started=started)
            elif status is not None and status.code in OUT_OF_RESOURCES_FAMILY:
                fetch.retry_reason = f"the PACS is busy ({status})"
                self.pace.on_busy(fetch.retry_reason, started=started)
            elif outcome.status == "success":
                self.pace.on_success()
            self._log_pace()
        fetch.reasons += tuple(f"{m.reason.value}: {m.detail}" if m.detail else m.reason.value
                               for m in outcome.missing[:3])
        if status is not None and status.code and not outcome.missing:
            fetch.reasons += (str(status),)

    def _failed(self, fetch: _Fetch, why: str) -> None:
        fetch.retry_reason = why
        with self._lock:
            self.pace.on_failure(why)
            self._log_pace()

    def _log_pace(self) -> None:
        """Each change of the pace, in the log with why (called holding the lock)."""
        for change in self.pace.changes[self._pace_changes:]:
            _LOGGER.info("%s: pace %s", self.node.name, change)
        self._pace_changes = len(self.pace.changes)
