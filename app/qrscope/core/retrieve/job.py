"""C-MOVE and C-GET retrieves: one :class:`RetrieveJob` per request.

A job joins two sources of truth: what the PACS says in its responses
(remaining/completed/failed/warning) and what actually reached us (instances
the listener matched to this job, or the C-STOREs inside a C-GET). The
outcome names every instance that arrived and every one that failed, and
keeps the evidence (statuses, counts, timings, incoming associations) that
the diagnosis needs. Waiting is governed by a :class:`Watchdog` that
progress pushes back, so a long retrieve is never cut off while it moves.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, build_context, evt

from qrscope.core.association_log import AssociationLog, Direction
from qrscope.core.connection import (
    AssociationFailure,
    OutgoingAssociation,
    make_ae,
    next_message_id,
    open_association,
    require_context,
)
from qrscope.core.listener import StorageListener
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.qr_models import model_uid
from qrscope.core.reception import ReceivedInstance, receive_store
from qrscope.core.retrieve.contexts import get_storage_contexts
from qrscope.core.retrieve.plan import learn_sop_classes
from qrscope.core.retrieve.types import (
    RetrieveOutcome,
    RetrieveProgress,
    RetrieveScope,
    RetrieveState,
    outcome_status,
)
from qrscope.core.status import Service, StatusCategory, decode_status
from qrscope.core.storage import InstanceStore
from qrscope.core.watchdog import Watchdog

__all__ = ["RetrieveJob", "RetrieveOutcome", "RetrieveProgress", "RetrieveScope"]

_LOGGER = logging.getLogger(__name__)
_JOB_NUMBERS = itertools.count(1)



@dataclass
class _Counts:
    remaining: int | None = None
    completed: int = 0
    failed: int = 0
    warning: int = 0
    responses: int = 0
    first_response: float | None = None
    final: Any = None
    failed_uids: list[str] = field(default_factory=list)


class RetrieveJob:
    """One retrieve of a study, series or instances from one node.

    Parameters
    ----------
    listener : StorageListener, optional
        Needed for C-MOVE to our own AE: the job attaches to it so that the
        instances it causes are matched to it. Without one (or with a move
        destination that is not us) the job trusts the PACS's counts.
    on_progress : callable, optional
        Called with a :class:`RetrieveProgress` after every response and
        every received instance, from worker or listener threads.
    grace_after_final : float
        Seconds to keep waiting for instances after the final C-MOVE
        response when fewer arrived than the PACS reported: some servers
        send the final response first (non-conformant, but seen in the field).
    """

    def __init__(
        self,
        node: RemoteNode,
        local: LocalAE,
        log: AssociationLog,
        scope: RetrieveScope,
        *,
        method: RetrieveMethod | None = None,
        listener: StorageListener | None = None,
        store: InstanceStore | None = None,
        move_destination: str | None = None,
        on_progress: Callable[[RetrieveProgress], None] | None = None,
        grace_after_final: float = 5.0,
        ae: AE | None = None,
        debug: bool = False,
        only_syntax: str | None = None,
        parent: RetrieveJob | None = None,
    ) -> None:
        self.parent = parent
        self.job_id = parent.job_id if parent else f"job-{next(_JOB_NUMBERS)}"
        self.only_syntax = only_syntax
        self.node = node
        self.local = local
        self.log = log
        self.scope = scope.validated()
        self.method = method or node.retrieve_method
        self.listener = listener
        self.store = store or (listener.store if listener else InstanceStore(local.storage_folder))
        self.move_destination = (move_destination or node.move_destination
                                 or local.ae_title).strip()
        self.on_progress = on_progress
        self.grace_after_final = grace_after_final
        self.debug = debug
        self._ae = ae or make_ae(local, node)
        self._lock = threading.Condition()
        self._cancel = threading.Event()
        self._counts = _Counts()
        self._received: list[ReceivedInstance] = []
        self._late: list[ReceivedInstance] = []
        self._final_at: float | None = None
        self._started = time.monotonic()
        self._state = RetrieveState.PENDING
        self._out: OutgoingAssociation | None = None
        self._msg_id: int | None = None
        self._context_id: int | None = None
        self._watchdog: Watchdog | None = None
        self._expired: str | None = None
        self._incoming_before = 0
        self._child: RetrieveJob | None = None
        self._ending = threading.Lock()  # the watchdog and the worker may both end it
        self._ended = threading.Event()  # the association ended under us
        self._aborting = False  # set before we release or abort: tells the peer's apart
        self._peer_aborted = False

    # -- public ----------------------------------------------------------------
    @property
    def state(self) -> RetrieveState:
        return self._state

    @property
    def to_our_listener(self) -> bool:
        return self.method is RetrieveMethod.MOVE and self.listener is not None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """C-CANCEL now; if the peer has not ended the retrieve after the grace: release, abort."""
        if self._cancel.is_set():
            return
        self._cancel.set()
        self._set_state(RetrieveState.CANCELLING)
        if self._child is not None:
            self._child.cancel()
        with self._lock:
            out, msg_id, cx_id = self._out, self._msg_id, self._context_id
            self._lock.notify_all()
        if out is None or msg_id is None:
            return
        self._step(out, "cancel-sent", f"C-CANCEL sent for message {msg_id}")
        try:
            out.assoc.send_c_cancel(msg_id, cx_id)
        except RuntimeError:
            return
        if self._watchdog is not None:
            self._watchdog.expire_in(self.node.timeouts.cancel_grace, "cancel-grace")

    def run(self) -> RetrieveOutcome:
        """Perform the retrieve (blocking; run it in a worker thread)."""
        self._started = time.monotonic()
        outcome = RetrieveOutcome(job_id=self.job_id, method=self.method,
                                  move_destination=self.move_destination
                                  if self.method is RetrieveMethod.MOVE else "")
        if self.to_our_listener and self.listener is not None:
            self._incoming_before = len(self.listener.connections)
            self.listener.attach(self)
        try:
            self._set_state(RetrieveState.CONNECTING)
            if self._cancel.is_set():
                raise _Cancelled
            self._perform(outcome)
            self._recover(outcome)
        except _Cancelled:
            pass
        except AssociationFailure as exc:
            outcome.failure = exc
        finally:
            if self._watchdog is not None:
                self._watchdog.stop()
            if self.to_our_listener and self.listener is not None:
                self._await_stragglers()
                self.listener.detach(self)
        return self._finish(outcome)

    # -- RetrieveClaim (called from listener threads) ------------------------
    def claim_score(self, instance: ReceivedInstance, our_ae: str) -> int:
        if (self._msg_id is not None and instance.originator_message_id == self._msg_id
                and instance.originator_ae == self.local.ae_title):
            return 100
        return self.scope.match_score(instance)

    def deliver(self, instance: ReceivedInstance) -> None:
        with self._lock:
            if self._final_at is not None and self.to_our_listener:
                self._late.append(instance)
            self._received.append(instance)
            self._lock.notify_all()
        if self._watchdog is not None:
            self._watchdog.touch()
        if self.parent is not None:
            self.parent.deliver(instance)
        self._report()

    # -- internals -------------------------------------------------------------
    def _perform(self, outcome: RetrieveOutcome) -> None:
        model = model_uid(self.node.query_model, self.method)
        if self.method is RetrieveMethod.GET:
            if not self.scope.sop_classes:
                self.scope = learn_sop_classes(self.scope, self.node, self.local, self.log)
            contexts, roles = get_storage_contexts(model, self.scope.sop_classes,
                                                   self.scope.modalities, self.only_syntax)
            handlers: list[tuple[Any, Any]] = [(evt.EVT_C_STORE, self._on_get_store)]
        else:
            contexts, roles, handlers = [build_context(model)], [], []
        # With no DIMSE timeout (see _exchange), a peer's abort or a dropped
        # connection must wake the reader itself; pynetdicom does not in
        # every state.
        handlers += [(evt.EVT_ABORTED, self._on_ended), (evt.EVT_CONN_CLOSE, self._on_ended)]
        out = open_association(self._ae, self.node, self.log, contexts, ext_neg=roles,
                               job_id=self.job_id, debug=self.debug, extra_handlers=handlers)
        outcome.association_id = out.association_id
        outcome.local_address = out.local_address
        try:
            purpose = "C-GET" if self.method is RetrieveMethod.GET else "C-MOVE"
            require_context(out, self.node, model, purpose, f"retrieving with {purpose}")
            self._exchange(out, model)
        finally:
            self._close(out)

    def _exchange(self, out: OutgoingAssociation, model: str) -> None:
        # The watchdog governs waiting from here on (see module docstring).
        out.assoc.dimse_timeout = None
        identifier = self.scope.identifier(self.node.query_model)
        msg_id = next_message_id()
        cx_id = next(cx.context_id for cx in out.assoc.accepted_contexts
                     if cx.abstract_syntax == model)
        timeouts = self.node.timeouts
        self._watchdog = Watchdog(timeouts.retrieve_idle, timeouts.retrieve_total,
                                  lambda reason: self._expire(out, reason))
        if self.method is RetrieveMethod.GET:
            responses = out.assoc.send_c_get(identifier, model, msg_id=msg_id)
        else:
            responses = out.assoc.send_c_move(identifier, self.move_destination, model,
                                              msg_id=msg_id)
        with self._lock:
            self._out, self._msg_id, self._context_id = out, msg_id, cx_id
        self._set_state(RetrieveState.RUNNING)
        self._watchdog.start()
        if self._cancel.is_set():
            self._cancel.clear()
            self.cancel()
        self._consume(responses)

    def _consume(self, responses: Any) -> None:
        service = Service.GET if self.method is RetrieveMethod.GET else Service.MOVE
        for status, identifier in responses:
            if "Status" not in status:
                break  # aborted (by us after a timeout, or by the peer)
            if self._watchdog is not None:
                self._watchdog.touch()
            info = decode_status(service, int(status.Status))
            with self._lock:
                counts = self._counts
                counts.responses += 1
                if counts.first_response is None:
                    counts.first_response = time.monotonic() - self._started
                for name in ("remaining", "completed", "failed", "warning"):
                    value = status.get(f"NumberOf{name.capitalize()}Suboperations")
                    if value is not None:
                        setattr(counts, name, int(value))
                if info.is_final:
                    counts.final = info
                    counts.failed_uids = _failed_uids(identifier)
                    self._final_at = time.monotonic()
            self._report()
            if info.category is not StatusCategory.PENDING:
                break

    def _recover(self, outcome: RetrieveOutcome) -> None:
        """Ask again for C-GET instances that failed, offering other syntaxes."""
        with self._lock:
            failed = list(self._counts.failed_uids)
        if (self.method is not RetrieveMethod.GET or self.only_syntax is not None
                or not failed or self._cancel.is_set()):
            return
        from qrscope.core.retrieve.recovery import recover_failed_instances

        recovered = recover_failed_instances(self, failed)
        with self._lock:
            counts = self._counts
            counts.failed_uids = [uid for uid in counts.failed_uids if uid not in recovered]
            counts.failed -= len(recovered)
            counts.completed += len(recovered)
        outcome.recovered = sorted(recovered)
        self._report()

    def _on_get_store(self, event: Any) -> int:
        out = self._out
        association_id = out.association_id if out else "out-?"
        instance = replace(receive_store(event, self.store, association_id), job_id=self.job_id)
        self.log.record(association_id, Direction.OUTGOING, "instance-stored",
                        f"instance {instance.sop_instance_uid} "
                        + ("stored" if instance.ok else f"NOT stored: {instance.error}"),
                        job_id=self.job_id, peer_ae=self.node.ae_title,
                        local_ae=self.local.ae_title, peer_address=instance.peer_address,
                        detail={"sop_instance_uid": instance.sop_instance_uid,
                                "transfer_syntax": instance.transfer_syntax,
                                "path": str(instance.stored.path) if instance.stored else "",
                                "status": instance.status})
        self.deliver(instance)
        return instance.status

    def _await_stragglers(self) -> None:
        """After the final response, wait briefly for instances still on their way."""
        deadline = time.monotonic() + self.grace_after_final
        with self._lock:
            while not self._cancel.is_set() and self._counts.final is not None:
                expected = self._counts.completed + self._counts.warning
                if len([r for r in self._received if r.ok]) >= expected:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._lock.wait(timeout=remaining)

    def _expire(self, out: OutgoingAssociation, reason: str) -> None:
        """The watchdog fired: end the association so that the worker returns."""
        with self._ending:
            self._expire_locked(out, reason)

    def _expire_locked(self, out: OutgoingAssociation, reason: str) -> None:
        self._expired = reason
        if reason == "cancel-grace":
            self._step(out, "cancel-timeout",
                       f"no final response {self.node.timeouts.cancel_grace:g} s after "
                       "C-CANCEL; releasing")
            try:
                # The release gets the same bounded wait, then we abort.
                out.assoc.acse_timeout = self.node.timeouts.cancel_grace
                self._aborting = True
                out.assoc.release()
            except Exception:
                _LOGGER.debug("release after cancel failed", exc_info=True)
        else:
            limit = (self.node.timeouts.retrieve_idle if reason == "idle"
                     else self.node.timeouts.retrieve_total)
            self._step(out, "retrieve-timeout",
                       f"no progress for {limit:g} s ({reason} limit); aborting" if
                       reason == "idle" else f"total limit of {limit:g} s reached; aborting")
        if not out.assoc.is_released:
            self._step(out, "abort-sent", "aborting the association")
            self._aborting = True
            out.assoc.abort()
        out.assoc.dimse.msg_queue.put((None, None))

    def _on_ended(self, event: Any) -> None:
        """The association ended under us (peer abort, connection closed).

        Wakes the reader, and spares _close a release nobody would answer:
        pynetdicom may still report the association as established for a
        moment after the peer's A-ABORT.
        """
        if not self._aborting and self._counts.final is None:
            self._peer_aborted = True
        self._ended.set()
        event.assoc.dimse.msg_queue.put((None, None))

    def _close(self, out: OutgoingAssociation) -> None:
        with self._lock:
            self._out = None
        if self._watchdog is not None:
            self._watchdog.stop()
        with self._ending:
            if self._ended.is_set():
                return
            if out.assoc.is_established:
                out.assoc.acse_timeout = min(self.node.timeouts.association, 10.0)
                self._aborting = True
                out.assoc.release()
            if out.assoc.is_established:
                out.assoc.abort()

    def _step(self, out: OutgoingAssociation, kind: str, summary: str) -> None:
        self.log.record(out.association_id, Direction.OUTGOING, kind, summary,
                        job_id=self.job_id, local_ae=self.local.ae_title,
                        peer_ae=self.node.ae_title)

    def _set_state(self, state: RetrieveState) -> None:
        self._state = state
        self._report()

    def progress(self) -> RetrieveProgress:
        with self._lock:
            counts = self._counts
            received = sum(1 for r in self._received if r.ok)
            return RetrieveProgress(
                job_id=self.job_id, state=self._state, remaining=counts.remaining,
                completed=counts.completed, failed=counts.failed, warning=counts.warning,
                received=received, elapsed=time.monotonic() - self._started,
                last_status=counts.final)

    def _report(self) -> None:
        if self.on_progress is not None:
            try:
                self.on_progress(self.progress())
            except Exception:
                _LOGGER.exception("progress callback failed")

    def _finish(self, outcome: RetrieveOutcome) -> RetrieveOutcome:
        with self._lock:
            counts = self._counts
            outcome.received = list(self._received)
            outcome.late = list(self._late)
            outcome.final_status = counts.final
            outcome.remaining = counts.remaining
            outcome.completed = counts.completed
            outcome.failed = counts.failed
            outcome.warning = counts.warning
            outcome.failed_uids = list(counts.failed_uids)
            outcome.responses = counts.responses
            outcome.first_response_seconds = counts.first_response
        outcome.seconds = time.monotonic() - self._started
        outcome.cancelled = self._cancel.is_set()
        outcome.peer_aborted = self._peer_aborted
        outcome.timed_out = self._expired if self._expired in ("idle", "total") else None
        if self.to_our_listener and self.listener is not None:
            outcome.incoming_associations = [
                c for c in self.listener.connections[self._incoming_before:]]
        outcome.status = outcome_status(outcome, self.to_our_listener or
                                        self.method is RetrieveMethod.GET)
        self._state = RetrieveState(outcome.status)
        self._report()
        return outcome


class _Cancelled(Exception):
    pass


def _failed_uids(identifier: Dataset | None) -> list[str]:
    """PS3.4 C.4.2.1.4: Failed SOP Instance UID List in the final response's identifier."""
    if identifier is None or "FailedSOPInstanceUIDList" not in identifier:
        return []
    value = identifier.FailedSOPInstanceUIDList
    if isinstance(value, str):
        return [v for v in value.split("\\") if v]
    return [str(v) for v in value if v]


