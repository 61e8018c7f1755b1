"""One C-MOVE or C-GET request on its own association, and its responses.

A :class:`RetrieveRequest` knows nothing of plans, retries or other
requests: it opens the association with the contexts it is given, sends one
request whose Message ID was chosen when the request was made (so that the
listener can match the first C-STORE even when it overtakes the C-MOVE-RQ on
the wire), reads the responses, and ends the association whichever way is
needed (release; abort after a timeout; release, then abort, after a
cancel that the peer ignores). The job that composes requests
(:mod:`qrscope.core.retrieve.job`) owns cancel and progress for the user.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, build_context, evt

from qrscope.core.dicom.qr_models import model_uid
from qrscope.core.dicom.status import Service, StatusCategory, StatusInfo, decode_status
from qrscope.core.engine.pynetdicom_private import (
    abandon_incoming,
    grant_scp_role,
    reader_timeout,
    reads_held_data,
    wake_reader,
)
from qrscope.core.net.association_log import AssociationLog, Direction
from qrscope.core.net.connection import (
    OutgoingAssociation,
    next_message_id,
    open_association,
    require_context,
)
from qrscope.core.net.watchdog import Watchdog
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.receive.reception import ReceivedInstance, prepare_to_receive, receive_store
from qrscope.core.receive.storage import InstanceStore
from qrscope.core.retrieve.scope import RetrieveScope

__all__ = ["RequestCounts", "RetrieveRequest"]

_LOGGER = logging.getLogger(__name__)


@dataclass
class RequestCounts:
    """What the PACS said in its responses to one request."""

    remaining: int | None = None
    completed: int = 0
    failed: int = 0
    warning: int = 0
    responses: int = 0
    first_response: float | None = None
    final: StatusInfo | None = None
    final_at: float | None = None
    failed_uids: list[str] = field(default_factory=list)


class RetrieveRequest:
    """One C-MOVE or C-GET of *scope*; :meth:`run` blocks until it has ended.

    Parameters
    ----------
    contexts, roles : list
        For C-GET, the presentation contexts to propose, the retrieve
        model's first, and the SCP role selection items (both as
        :func:`~qrscope.core.retrieve.contexts.get_storage_contexts` makes
        them). For C-MOVE, leave both out: only the retrieve model is proposed.
    on_response : callable
        Called with the :class:`RequestCounts` after every C-MOVE/C-GET
        response (from the worker thread).
    on_instance : callable
        C-GET only: called with every C-STORE that arrives on this
        association, after it was stored (from a pynetdicom thread).
    on_activity : callable
        Called whenever the request shows life; the job pushes back its
        own waits with it.
    """

    def __init__(self, node: RemoteNode, local: LocalAE, log: AssociationLog,
                 scope: RetrieveScope, method: RetrieveMethod, *, job_id: str, ae: AE,
                 store: InstanceStore, move_destination: str = "",
                 contexts: list[Any] | None = None, roles: list[Any] | None = None,
                 on_response: Callable[[RequestCounts], None] | None = None,
                 on_instance: Callable[[ReceivedInstance], None] | None = None,
                 debug: bool = False) -> None:
        self.node = node
        self.local = local
        self.log = log
        self.scope = scope
        self.method = method
        self.job_id = job_id
        self.store = store
        self.move_destination = move_destination
        self.model = model_uid(node.query_model, method)
        self.contexts = contexts or [build_context(self.model)]
        self.roles = roles or []
        self.debug = debug
        self.message_id = next_message_id()
        """Chosen now, before the request exists on the wire: see the module docstring."""
        self.counts = RequestCounts()
        self.association_id = ""
        self.local_address = ""
        self.accepted: dict[str, set[str]] = {}
        # C-GET: storage classes the PACS accepted without our SCP role; we can
        # not receive them on this association, so they are not in ``accepted``.
        self.roleless: set[str] = set()
        """Abstract syntax -> the transfer syntaxes the PACS accepted for it."""
        self.expired: str | None = None
        self.peer_aborted = False
        self._ae = ae
        self._on_response = on_response
        self._on_instance = on_instance
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._out: OutgoingAssociation | None = None
        self._context_id: int | None = None
        self._watchdog: Watchdog | None = None
        self._ending = threading.Lock()  # the watchdog and the worker may both end it
        self._ended = threading.Event()  # the association ended under us
        self._we_end = False  # set before we release or abort: tells the peer's end apart
        self._started = time.monotonic()

    # -- public ----------------------------------------------------------------
    def run(self) -> None:
        """Open, request, read every response, close. Raises ``AssociationFailure``."""
        self._started = time.monotonic()
        if self._cancelled.is_set():
            return
        handlers: list[tuple[Any, Any]] = []
        if self.method is RetrieveMethod.GET:
            prepare_to_receive(self.store)
            handlers.append((evt.EVT_C_STORE, self._on_get_store))
        # With no DIMSE timeout (see _exchange), a peer's abort or a dropped
        # connection must wake the reader itself; pynetdicom does not in
        # every state.
        handlers += [(evt.EVT_ABORTED, self._on_ended), (evt.EVT_CONN_CLOSE, self._on_ended)]
        out = open_association(self._ae, self.node, self.log, self.contexts,
                               ext_neg=self.roles, job_id=self.job_id, debug=self.debug,
                               extra_handlers=handlers)
        self.association_id = out.association_id
        self.local_address = out.local_address
        if self.method is RetrieveMethod.GET:
            self._take_scp_role(out)
        for cx in out.assoc.accepted_contexts:
            if self.method is RetrieveMethod.GET and str(cx.abstract_syntax) in self.roleless:
                continue
            self.accepted.setdefault(str(cx.abstract_syntax), set()).add(str(cx.transfer_syntax[0]))
        try:
            purpose = "C-GET" if self.method is RetrieveMethod.GET else "C-MOVE"
            require_context(out, self.node, self.model, purpose, f"retrieving with {purpose}")
            self._exchange(out)
        finally:
            self._close(out)

    def _take_scp_role(self, out: OutgoingAssociation) -> None:
        proposed = {str(r.sop_class_uid) for r in self.roles}
        taken = grant_scp_role(out.assoc, proposed)
        if taken:
            names = ", ".join(UID(uid).name for uid in taken[:5])
            self.step(out, "role-assumed",
                      f"the PACS did not grant us the SCP role for {len(taken)} SOP class(es) "
                      f"({names}); accepting its C-STOREs of them anyway")
        # Where the role could not be taken (stock pynetdicom), pynetdicom refuses
        # the PACS's C-STOREs of those classes before any handler of ours sees them.
        self.roleless = {str(cx.abstract_syntax) for cx in out.assoc.accepted_contexts
                         if str(cx.abstract_syntax) in proposed and not cx.as_scp}
        if self.roleless:
            names = ", ".join(UID(uid).name for uid in sorted(self.roleless)[:5])
            self.step(out, "role-missing",
                      f"the PACS did not grant us the SCP role for {len(self.roleless)} SOP "
                      f"class(es) ({names}); its C-STOREs of them will be refused here, "
                      "C-MOVE brings them")

    def cancel(self) -> None:
        """C-CANCEL the request in flight; release, then abort, if the peer ignores it."""
        self._cancelled.set()
        with self._lock:
            out, cx_id = self._out, self._context_id
        if out is None or cx_id is None:
            return
        self.step(out, "cancel-sent", f"C-CANCEL sent for message {self.message_id}")
        try:
            out.assoc.send_c_cancel(self.message_id, cx_id)
        except RuntimeError:
            return
        if self._watchdog is not None:
            self._watchdog.expire_in(self.node.timeouts.cancel_grace, "cancel-grace")

    def touch(self) -> None:
        """Progress seen elsewhere (an instance at the listener): push the idle limit back."""
        if self._watchdog is not None:
            self._watchdog.touch()

    # -- the exchange ------------------------------------------------------------
    def _exchange(self, out: OutgoingAssociation) -> None:
        # The watchdog governs waiting from here on: pynetdicom's DIMSE timeout
        # would not see instances arriving on the listener's associations
        # (on stock pynetdicom it stays, at the idle limit: see reader_timeout).
        out.assoc.dimse_timeout = reader_timeout(self.node.timeouts.retrieve_idle)
        identifier = self.scope.identifier(self.node.query_model)
        cx_id = next(cx.context_id for cx in out.assoc.accepted_contexts
                     if cx.abstract_syntax == self.model)
        timeouts = self.node.timeouts
        self._watchdog = Watchdog(timeouts.retrieve_idle, timeouts.retrieve_total,
                                  lambda reason: self._expire(out, reason))
        if self.method is RetrieveMethod.GET:
            responses = out.assoc.send_c_get(identifier, self.model, msg_id=self.message_id)
        else:
            responses = out.assoc.send_c_move(identifier, self.move_destination, self.model,
                                              msg_id=self.message_id)
        # Only now can a C-CANCEL follow the request (it must not overtake it).
        with self._lock:
            self._out, self._context_id = out, cx_id
        self._watchdog.start()
        if self._cancelled.is_set():
            self.cancel()
        self._consume(responses)

    def _consume(self, responses: Any) -> None:
        service = Service.GET if self.method is RetrieveMethod.GET else Service.MOVE
        for status, identifier in responses:
            if "Status" not in status:
                break  # aborted (by us after a timeout, or by the peer)
            self.touch()
            info = decode_status(service, int(status.Status))
            with self._lock:
                counts = self.counts
                counts.responses += 1
                if counts.first_response is None:
                    counts.first_response = time.monotonic() - self._started
                for name in ("remaining", "completed", "failed", "warning"):
                    value = status.get(f"NumberOf{name.capitalize()}Suboperations")
                    if value is not None:
                        setattr(counts, name, int(value))
                if info.is_final:
                    if "NumberOfRemainingSuboperations" not in status:
                        # PS3.4 C.4.2.1.6: the final response may leave it out
                        # (Orthanc does); what the last pending one said is stale.
                        counts.remaining = 0
                    counts.final = info
                    counts.final_at = time.monotonic()
                    counts.failed_uids = failed_uids(identifier)
            if self._on_response is not None:
                self._on_response(self.counts)
            if info.category is not StatusCategory.PENDING:
                break

    @reads_held_data  # receive_store files small data sets from memory
    def _on_get_store(self, event: Any) -> int:
        association_id = self.association_id or "out-?"
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
        self.touch()
        if self._on_instance is not None:
            self._on_instance(instance)
        return instance.status

    # -- ending --------------------------------------------------------------------
    def _expire(self, out: OutgoingAssociation, reason: str) -> None:
        """The watchdog fired: end the association so that the worker returns."""
        with self._ending:
            if self.counts.final is not None and reason != "cancel-grace":
                return  # the final response came first: nothing to end
            self.expired = reason
            if reason == "cancel-grace":
                self.step(out, "cancel-timeout",
                          f"no final response {self.node.timeouts.cancel_grace:g} s after "
                          "C-CANCEL; releasing")
                try:
                    # The release gets the same bounded wait, then we abort.
                    out.assoc.acse_timeout = self.node.timeouts.cancel_grace
                    self._we_end = True
                    out.assoc.release()
                except Exception:
                    _LOGGER.debug("release after cancel failed", exc_info=True)
            else:
                limit = (self.node.timeouts.retrieve_idle if reason == "idle"
                         else self.node.timeouts.retrieve_total)
                self.step(out, "retrieve-timeout",
                          f"no progress for {limit:g} s ({reason} limit); aborting"
                          if reason == "idle" else f"total limit of {limit:g} s reached; aborting")
            if not out.assoc.is_released:
                self.step(out, "abort-sent", "aborting the association")
                self._we_end = True
                out.assoc.abort()
            wake_reader(out.assoc)

    def _on_ended(self, event: Any) -> None:
        """The association ended under us (peer abort, connection closed).

        Wakes the reader, and spares _close a release nobody would answer:
        pynetdicom may still report the association as established for a
        moment after the peer's A-ABORT.
        """
        abandon_incoming()  # a data set the peer never finished (when in its reader thread)
        if not self._we_end and self.counts.final is None:
            self.peer_aborted = True
        self._ended.set()
        wake_reader(event.assoc)

    def _close(self, out: OutgoingAssociation) -> None:
        with self._lock:
            self._out = None
        if self._watchdog is not None:
            self._watchdog.stop()
        with self._ending:
            if self._ended.is_set():
                return
            self._we_end = True
            if out.assoc.is_established:
                out.assoc.acse_timeout = min(self.node.timeouts.association, 10.0)
                out.assoc.release()
            if out.assoc.is_established:
                out.assoc.abort()

    def step(self, out: OutgoingAssociation, kind: str, summary: str) -> None:
        self.log.record(out.association_id, Direction.OUTGOING, kind, summary,
                        job_id=self.job_id, local_ae=self.local.ae_title,
                        peer_ae=self.node.ae_title)


def failed_uids(identifier: Dataset | None) -> list[str]:
    """PS3.4 C.4.2.1.4: Failed SOP Instance UID List in the final response's identifier."""
    if identifier is None or "FailedSOPInstanceUIDList" not in identifier:
        return []
    value = identifier.FailedSOPInstanceUIDList
    if isinstance(value, str):
        return [v for v in value.split("\\") if v]
    return [str(v) for v in value if v]
