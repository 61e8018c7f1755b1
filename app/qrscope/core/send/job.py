"""One send: the archive's instances, C-STOREd to a node, with progress and cancel.

``SendJob.run()`` walks the association plans of
:mod:`~qrscope.core.send.contexts`. For each, it opens an association
through :func:`~qrscope.core.net.connection.open_association` (so the log
records the contexts proposed and which were accepted, under the job's id;
each association has its own id there) and sends its share of the
instances, one C-STORE at a time (PS3.4 B.2,
:class:`~qrscope.core.send.association.AssociationSender`).

**Several associations at once.** Once the first is established, the job
borrows up to ``max_associations - 1`` more slots of the node's budget
(:class:`~qrscope.core.send.shares.ExtraSlots`, the same budget single
retrieves and batches share: borrowed only while free, and never ahead of
a job queued for the node), each for an association of its own that takes
a contiguous run of the instances left
(:class:`~qrscope.core.send.shares.Shares`); a slot is given back as its
association's share ends. A peer that refuses an extra association (a
per-AE association limit, A-ASSOCIATE-RJ) costs nothing: the send goes on
with those it has, and says so once in the log. Instance ends are reported
(``on_result``) and progress (``on_progress``) from whichever association's
thread, one at a time.

C-STORE has no C-CANCEL (PS3.7 9.3.2.3 names only C-FIND, C-GET and
C-MOVE): :meth:`SendJob.cancel` stops each association before its next
instance, and they are released.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pynetdicom import _config

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import (
    AssociationFailure,
    FailureReason,
    make_ae,
    open_association,
)
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.send.association import AssociationSender, Ended
from qrscope.core.send.contexts import AssociationPlan, plan_associations
from qrscope.core.send.selection import SendItem
from qrscope.core.send.shares import ExtraSlots, NoExtraSlots, Share, Shares
from qrscope.core.send.types import (
    InstanceState,
    SendOutcome,
    SendProgress,
    SendResult,
    SendState,
)

__all__ = ["SendJob"]

# pynetdicom's documented setting: a C-STORE of a file path streams the data set
# from the file as it lies on disk (no decode, no re-encode: byte for byte, and
# never the whole data set in memory). Only sends pass paths to send_c_store.
_config.STORE_SEND_CHUNKED_DATASET = True


_LOGGER = logging.getLogger(__name__)


class SendJob:
    """Send *items* to *node*; :meth:`run` blocks, callbacks come from its threads.

    *slots* lends the extra associations' slots (none: one association), at
    most *max_associations* in all (``None``: as many as *slots* lends).
    """

    def __init__(self, node: RemoteNode, local: LocalAE, log: AssociationLog,
                 items: Sequence[SendItem], *, job_id: str = "",
                 on_progress: Callable[[SendProgress], None] | None = None,
                 on_result: Callable[[SendResult], None] | None = None,
                 already_sent: int = 0, debug: bool = False,
                 slots: ExtraSlots | None = None,
                 max_associations: int | None = 1) -> None:
        self.node = node
        self.local = local
        self.log = log
        self.items = list(items)
        self.job_id = job_id
        self._on_progress = on_progress
        self._on_result = on_result
        self._debug = debug
        self._slots: ExtraSlots = slots or NoExtraSlots()
        self.max_associations = max(1, max_associations) if max_associations else None
        self._cancel = threading.Event()
        self._halt = threading.Event()  # cancelled, or the job failed: every association stops
        self._recruiting_over = threading.Event()  # borrow no more slots for this plan
        self._lock = threading.RLock()  # the outcome, the counts, the callbacks
        self._started = 0.0
        self._counts = dict.fromkeys(InstanceState, 0)
        self._bytes = 0
        self._resumes = 0
        self._open = 0
        self._refusal_said = False
        self.outcome = SendOutcome(job_id, node.name, len(self.items) + already_sent,
                                   already_sent=already_sent)

    def cancel(self) -> None:
        """Stop before the next instance (those on the wire finish) and release."""
        self._cancel.set()
        self._halt.set()
        self._recruiting_over.set()
        self._slots.wake()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> SendOutcome:
        self._started = time.monotonic()
        self._progress(SendState.CONNECTING)
        ae = make_ae(self.local, self.node)
        for plan in plan_associations(self.items):
            self._run_plan(ae, plan)
            if self._halt.is_set():
                break
        outcome = self.outcome
        outcome.cancelled = self._cancel.is_set()
        outcome.seconds = time.monotonic() - self._started
        self._progress(SendState(outcome.status))
        return outcome

    # -- the associations of a plan ---------------------------------------------------
    def _run_plan(self, ae: Any, plan: AssociationPlan) -> None:
        """Send *plan*'s instances: on this thread's association, and on the extra ones
        borrowed once it is established, until all are sent or the job halts."""
        shares = Shares(plan.items)
        share = shares.take()
        if share is None:
            return
        if not self._cancel.is_set():
            self._recruiting_over.clear()
        extras: list[threading.Thread] = []
        recruiter = threading.Thread(target=self._recruit, args=(ae, plan, shares, extras),
                                     name=f"qrscope-send-{self.job_id or 'job'}-recruit",
                                     daemon=True)

        def established() -> None:
            if self.max_associations != 1 and not self._recruiting_over.is_set():
                recruiter.start()

        try:
            self._work(ae, plan, shares, share, established=established)
        finally:
            self._recruiting_over.set()
            self._slots.wake()
            if recruiter.ident is not None:
                recruiter.join()
            for thread in extras:
                thread.join()
        while not self._halt.is_set():  # what an extra association gave back at its end
            share = shares.take()
            if share is None:
                return
            self._work(ae, plan, shares, share)

    def _recruit(self, ae: Any, plan: AssociationPlan, shares: Shares,
                 extras: list[threading.Thread]) -> None:
        """Borrow the node's free slots, one extra association each, while there is
        enough left to share (the recruiter's own thread)."""
        most = self.max_associations
        while (most is None or len(extras) < most - 1) and not self._recruiting_over.is_set():
            if not self._slots.acquire(self._recruiting_over):
                return
            if self._recruiting_over.is_set() or shares.left < 2:
                self._slots.release()
                return
            thread = threading.Thread(target=self._extra, args=(ae, plan, shares),
                                      name=f"qrscope-send-{self.job_id or 'job'}-"
                                           f"{len(extras) + 2}", daemon=True)
            extras.append(thread)
            thread.start()

    def _extra(self, ae: Any, plan: AssociationPlan, shares: Shares) -> None:
        try:
            self._work(ae, plan, shares, None, extra=True)
        except Exception:  # the others go on (what it held is sent at the plan's end)
            _LOGGER.exception("an extra association of send %s failed", self.job_id or "-")
        finally:
            self._slots.release()

    def _work(self, ae: Any, plan: AssociationPlan, shares: Shares, share: Share | None, *,
              extra: bool = False, established: Callable[[], None] | None = None) -> None:
        """Send *share* on an association of its own, and on a new one if that one is
        lost after the peer answered something on it (see :meth:`_lost`). An extra
        association takes its share once established: a peer that makes it wait
        (one that serves one association at a time) holds back nothing meanwhile."""
        pending = None  # the instance a lost association left without a response
        while not self._halt.is_set():
            try:
                out = open_association(ae, self.node, self.log, plan.contexts,
                                       job_id=self.job_id or None, debug=self._debug)
            except AssociationFailure as failure:
                if extra:
                    if share is not None:
                        share.give_back()
                    self._extra_refused(failure)
                else:
                    self._fail(failure)  # the next association would meet the same refusal
                return
            if established is not None:
                established()
                established = None
            share = share or shares.take()
            if share is None:
                out.close()
                return
            sender = AssociationSender(out, self._record, self._halt.is_set)
            self._opened(plan, sender.accepted)
            try:
                ended = sender.send(share, pending)
            finally:
                out.close()
                with self._lock:
                    self._open -= 1
            if ended.lost is None:
                return
            pending = self._lost(ended, shares.left + 1, share, extra)
            if pending is None:
                return

    def _opened(self, plan: AssociationPlan, accepted: dict[str, list[str]]) -> None:
        """An association is up: the classes it accepted no context for are noted."""
        refused = dict.fromkeys(str(cx.abstract_syntax) for cx in plan.contexts
                                if str(cx.abstract_syntax) not in accepted)
        with self._lock:
            self._open += 1
            self.outcome.associations = max(self.outcome.associations, self._open)
            self.outcome.refused_classes.extend(c for c in refused
                                                if c not in self.outcome.refused_classes)
            self._progress(SendState.RUNNING)

    def _extra_refused(self, failure: AssociationFailure) -> None:
        """An extra association refused (a peer's limit of associations per AE): no
        failure, the send goes on with those it has; said once in the log."""
        self._recruiting_over.set()
        with self._lock:
            said, self._refusal_said = self._refusal_said, True
            open_now = self._open
        if not said:
            _LOGGER.warning("'%s' refused an extra association (%s); the send goes on with "
                            "%d (job %s)", self.node.name, failure.message, open_now,
                            self.job_id or "-")

    def _lost(self, ended: Ended, left: int, share: Share, extra: bool) -> SendItem | None:
        """An association ended with instance *ended.lost* unanswered (perhaps on the
        wire): the instance to send first on a new one, or ``None``.

        A new association follows whenever the peer answered some instance on the
        lost one: each time, the send moved on, so it ends. A peer that aborts at
        the first C-STORE (as one that does not let our AE title store does) gets
        no second association: on the first association that is the job's
        failure; an extra one gives its share back to the others. The cause seen
        of a loss mid-send: on stock pynetdicom the association's reactor thread
        can take a C-STORE response meant for ``send_c_store``
        (docs/upstream/0001), which then waits out the response timeout (or the
        peer's idle timeout) and aborts: against Orthanc on a loaded machine,
        every few hundred instances.
        """
        if ended.answered > 0:
            with self._lock:
                self._resumes += 1
                self.outcome.resumed = (
                    f"the association with '{self.node.name}' was lost {self._resumes} "
                    f"time(s), the last after {ended.answered} instance(s) were answered "
                    f"with {left} left; the send went on on a new association each time")
            _LOGGER.warning("%s (job %s)", self.outcome.resumed, self.job_id or "-")
            return ended.lost
        if extra:
            share.give_back()
            self._extra_refused(AssociationFailure(
                FailureReason.ABORTED, "it ended before the peer answered any instance"))
            return None
        if ended.unanswered is not None:
            self._record(ended.unanswered)
        self._fail(AssociationFailure(
            FailureReason.ABORTED, f"the association with '{self.node.name}' ended "
            "before every instance was sent"))
        return None

    def _fail(self, failure: AssociationFailure) -> None:
        """The job's failure (the hints explain it): every association stops."""
        with self._lock:
            self.outcome.failure = self.outcome.failure or failure
        self._halt.set()
        self._recruiting_over.set()
        self._slots.wake()

    # -- reporting ----------------------------------------------------------------------
    def _record(self, result: SendResult) -> None:
        with self._lock:
            self.outcome.results.append(result)
            self._counts[result.state] += 1
            self._bytes += result.size if result.state.sent else 0
            if self._on_result is not None:
                self._on_result(result)
            self._progress(SendState.RUNNING)

    def _progress(self, state: SendState) -> None:
        if self._on_progress is None:
            return
        with self._lock:
            outcome = self.outcome
            self._on_progress(SendProgress(
                job_id=self.job_id, state=state, total=outcome.total,
                stored=self._counts[InstanceState.STORED] + outcome.already_sent,
                warning=self._counts[InstanceState.WARNING],
                failed=self._counts[InstanceState.FAILED], bytes_sent=self._bytes,
                elapsed=time.monotonic() - self._started))
