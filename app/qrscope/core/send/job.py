"""One send: the archive's instances, C-STOREd to a node, with progress and cancel.

``SendJob.run()`` walks the association plans of
:mod:`~qrscope.core.send.contexts`: it opens each association through
:func:`~qrscope.core.net.connection.open_association` (so the log records
the contexts proposed and which were accepted, under the job's id), then
sends every instance of the plan on the context its
:class:`~qrscope.core.send.convert.Delivery` names, one C-STORE at a time
(PS3.4 B.2), and reports each instance's end (``on_result``) and the
progress (``on_progress``) as it goes, from the thread that runs it.

C-STORE has no C-CANCEL (PS3.7 9.3.2.3 names only C-FIND, C-GET and
C-MOVE): :meth:`SendJob.cancel` stops before the next instance, and the
association is released.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pynetdicom import _config

from qrscope.core.dicom.status import Service, StatusCategory, decode_status
from qrscope.core.engine import send_lane
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import (
    AssociationFailure,
    FailureReason,
    OutgoingAssociation,
    make_ae,
    next_message_id,
    open_association,
)
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.send.contexts import AssociationPlan, plan_associations
from qrscope.core.send.convert import NotSendable, delivery_for
from qrscope.core.send.selection import SendItem
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
_NO_RESPONSE = "no response: the association was aborted or timed out"


class SendJob:
    """Send *items* to *node*; :meth:`run` blocks, callbacks come from its thread."""

    def __init__(self, node: RemoteNode, local: LocalAE, log: AssociationLog,
                 items: Sequence[SendItem], *, job_id: str = "",
                 on_progress: Callable[[SendProgress], None] | None = None,
                 on_result: Callable[[SendResult], None] | None = None,
                 already_sent: int = 0, debug: bool = False) -> None:
        self.node = node
        self.local = local
        self.log = log
        self.items = list(items)
        self.job_id = job_id
        self._on_progress = on_progress
        self._on_result = on_result
        self._debug = debug
        self._cancel = threading.Event()
        self._started = 0.0
        self._counts = dict.fromkeys(InstanceState, 0)
        self._bytes = 0
        self._unrecorded: SendResult | None = None
        self._resumes = 0
        self._prepared: send_lane.Prepared | None = None
        self.outcome = SendOutcome(job_id, node.name, len(self.items) + already_sent,
                                   already_sent=already_sent)

    def cancel(self) -> None:
        """Stop before the next instance (the one on the wire finishes) and release."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> SendOutcome:
        self._started = time.monotonic()
        self._progress(SendState.CONNECTING)
        ae = make_ae(self.local, self.node)
        for plan in plan_associations(self.items):
            if not self._run_plan(ae, plan):
                break
        outcome = self.outcome
        outcome.cancelled = self._cancel.is_set()
        outcome.seconds = time.monotonic() - self._started
        self._progress(SendState(outcome.status))
        return outcome

    def _run_plan(self, ae: Any, plan: AssociationPlan) -> bool:
        """Send *plan*'s instances on an association of its own, and what is left on a
        new one if that association is lost (see :meth:`_lost`).
        False: the job stops (cancelled, refused, or lost)."""
        items = plan.items
        while not self._cancel.is_set():
            try:
                out = open_association(ae, self.node, self.log, plan.contexts,
                                       job_id=self.job_id or None, debug=self._debug)
            except AssociationFailure as failure:
                self.outcome.failure = failure
                return False  # the next association would meet the same refusal
            try:
                items = self._send_plan(out, AssociationPlan(plan.contexts, items))
            finally:
                out.close()
            if not items:
                return self.outcome.failure is None
        return False

    def _send_plan(self, out: OutgoingAssociation, plan: AssociationPlan) -> list[SendItem]:
        """Send *plan* on *out*: the instances left to send on a new association if it was
        lost and the send resumes, else none."""
        accepted: dict[str, list[str]] = {}
        for cx in out.assoc.accepted_contexts:
            accepted.setdefault(str(cx.abstract_syntax), []).append(str(cx.transfer_syntax[0]))
        refused = dict.fromkeys(i.sop_class_uid for i in plan.items
                                if i.sop_class_uid not in accepted)
        self.outcome.refused_classes.extend(c for c in refused
                                            if c not in self.outcome.refused_classes)
        self._progress(SendState.RUNNING)
        answered = 0
        try:
            for number, item in enumerate(plan.items):
                if self._cancel.is_set():
                    return []
                if not out.assoc.is_established:
                    return self._lost(plan.items[number:], answered, None)
                upcoming = plan.items[number + 1] if number + 1 < len(plan.items) else None
                result = self._send_one(out, item, accepted, upcoming)
                self._record_held()  # not yet, where this one never went on the wire
                if result.state is InstanceState.FAILED and result.status is None and (
                        result.reason == _NO_RESPONSE or not out.assoc.is_established):
                    # On its last instance too: said as such. pynetdicom returns no
                    # response only once the association is aborted (by the peer, or
                    # by itself on a DIMSE timeout), which its flags may show later.
                    return self._lost(plan.items[number:], answered, result)
                answered += result.status is not None
                self._unrecorded = result
            return []
        finally:
            self._record_held()
            self._drop_prepared()

    def _lost(self, left: list[SendItem], answered: int,
              unanswered: SendResult | None) -> list[SendItem]:
        """The association ended with *left* not sent (the first, *unanswered*, perhaps
        on the wire): what to send on a new one, or none (the job's failure, see
        :meth:`_association_lost`).

        A new association follows whenever the peer answered some instance on the
        lost one: each time, the send moved on, so it ends. A peer that aborts at
        the first C-STORE (as one that does not let our AE title store does) gets
        no second association. The cause seen: on stock pynetdicom the
        association's reactor thread can take a C-STORE response meant for
        ``send_c_store`` (docs/upstream/0001), which then waits out the response
        timeout (or the peer's idle timeout) and aborts: against Orthanc on a
        loaded machine, every few hundred instances.
        """
        if answered > 0:
            self._resumes += 1
            self.outcome.resumed = (
                f"the association with '{self.node.name}' was lost {self._resumes} "
                f"time(s), the last after {answered} instance(s) were answered with "
                f"{len(left)} left; the send went on on a new association each time")
            _LOGGER.warning("%s (job %s)", self.outcome.resumed, self.job_id or "-")
            return left
        if unanswered is not None:
            self._unrecorded = unanswered
        self._association_lost()
        return []

    def _drop_prepared(self) -> None:
        """Let go of a request made ready for an instance that will not follow here."""
        prepared, self._prepared = self._prepared, None
        if prepared is not None:
            prepared.close()

    def _record_held(self) -> None:
        """Report the instance whose end is held (see :meth:`_send_one`), if any."""
        held, self._unrecorded = self._unrecorded, None
        if held is not None:
            self._record(held)

    def _association_lost(self) -> None:
        """The peer aborted (or the connection dropped) mid-send: the job's failure,
        which the hints explain (a peer that does not let our AE title store aborts
        at the first C-STORE)."""
        self.outcome.failure = self.outcome.failure or AssociationFailure(
            FailureReason.ABORTED, f"the association with '{self.node.name}' ended "
            "before every instance was sent")

    def _send_one(self, out: OutgoingAssociation, item: SendItem,
                  accepted: dict[str, list[str]], upcoming: SendItem | None) -> SendResult:
        """C-STORE *item*; while its response is awaited, the previous instance's end
        is reported (and written to the jobs file) and *upcoming*'s request made
        ready: the peer's time and ours overlap. A send killed then sends both the
        instance on the wire and the one before it again."""
        prepared, self._prepared = self._prepared, None
        try:
            delivery = delivery_for(item, accepted.get(item.sop_class_uid, []))
        except NotSendable as exc:
            if prepared is not None:
                prepared.close()
            return SendResult(item.sop_instance_uid, item.sop_class_uid, InstanceState.FAILED,
                              reason=str(exc), size=item.size)

        def meanwhile() -> None:
            self._record_held()
            if upcoming is not None and upcoming.transfer_syntax in accepted.get(
                    upcoming.sop_class_uid, []):  # sent as held: its file as it is
                self._prepared = send_lane.prepare(out.assoc, upcoming.path,
                                                   next_message_id())

        msg_id = prepared.msg_id if prepared is not None else next_message_id()
        try:
            status = send_lane.send_c_store(out.assoc, delivery.path, msg_id,
                                            while_waiting=meanwhile, prepared=prepared)
        except (OSError, ValueError, AttributeError, RuntimeError) as exc:
            return SendResult(item.sop_instance_uid, item.sop_class_uid, InstanceState.FAILED,
                              reason=f"not sent: {exc}", syntax=delivery.syntax,
                              note=delivery.note, size=item.size)
        finally:
            delivery.discard()
        if "Status" not in status:
            return SendResult(item.sop_instance_uid, item.sop_class_uid, InstanceState.FAILED,
                              reason=_NO_RESPONSE,
                              syntax=delivery.syntax, note=delivery.note, size=item.size)
        info = decode_status(Service.STORE, int(status.Status))
        state = {StatusCategory.SUCCESS: InstanceState.STORED,
                 StatusCategory.WARNING: InstanceState.WARNING}.get(info.category,
                                                                    InstanceState.FAILED)
        return SendResult(item.sop_instance_uid, item.sop_class_uid, state, info,
                          reason=info.meaning if state is InstanceState.FAILED else "",
                          syntax=delivery.syntax, note=delivery.note, size=item.size)

    def _record(self, result: SendResult) -> None:
        self.outcome.results.append(result)
        self._counts[result.state] += 1
        self._bytes += result.size if result.state.sent else 0
        if self._on_result is not None:
            self._on_result(result)
        self._progress(SendState.RUNNING)

    def _progress(self, state: SendState) -> None:
        if self._on_progress is None:
            return
        outcome = self.outcome
        self._on_progress(SendProgress(
            job_id=self.job_id, state=state, total=outcome.total,
            stored=self._counts[InstanceState.STORED] + outcome.already_sent,
            warning=self._counts[InstanceState.WARNING],
            failed=self._counts[InstanceState.FAILED], bytes_sent=self._bytes,
            elapsed=time.monotonic() - self._started))

