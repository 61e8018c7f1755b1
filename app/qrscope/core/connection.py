"""Opening an association to a node, and saying precisely why it failed.

pynetdicom reports a failed association as "not established" and logs the
socket error; a user needs to know which of these happened, because each
has a different fix: the name did not resolve, nothing listens at that port
(refused), something drops the packets (timeout), the PACS rejected our AE
titles (and which one), or it aborted. :func:`open_association` raises
:class:`AssociationFailure` carrying that reason and its evidence.
"""

from __future__ import annotations

import errno
import itertools
import logging
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext

from qrscope.core.association_events import AssociationRecorder
from qrscope.core.association_log import AssociationLog, Direction
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.pynetdicom_private import abort_source_and_reason
from qrscope.core.status import decode_abort, decode_reject

__all__ = [
    "AssociationFailure",
    "FailureReason",
    "OutgoingAssociation",
    "make_ae",
    "next_message_id",
    "open_association",
    "require_context",
]

_LOGGER = logging.getLogger(__name__)


_MESSAGE_IDS = itertools.count(1)
_MESSAGE_ID_LOCK = threading.Lock()


def next_message_id() -> int:
    """A message ID unique in this process (1-65535, wrapping).

    Unique rather than always 1 so that the Move Originator Message ID in an
    incoming C-STORE identifies the retrieve job that caused it.
    """
    with _MESSAGE_ID_LOCK:
        return (next(_MESSAGE_IDS) - 1) % 65535 + 1


class FailureReason(StrEnum):
    HOST_NOT_FOUND = "host-not-found"
    CONNECTION_REFUSED = "connection-refused"
    CONNECTION_TIMEOUT = "connection-timeout"
    CONNECTION_FAILED = "connection-failed"
    REJECTED_CALLED_AET = "association-rejected-called-aet"
    REJECTED_CALLING_AET = "association-rejected-calling-aet"
    REJECTED = "association-rejected"
    ABORTED = "association-aborted"
    ASSOCIATION_TIMEOUT = "association-timeout"
    NO_ACCEPTED_CONTEXT = "no-accepted-context"


class AssociationFailure(Exception):
    """An association that could not be used, with the reason and its evidence."""

    def __init__(self, reason: FailureReason, message: str, **evidence: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.evidence = evidence


def make_ae(local: LocalAE, node: RemoteNode | None = None) -> AE:
    """A pynetdicom AE with our AE title and the node's timeouts."""
    ae = AE(ae_title=local.ae_title)
    if node is not None:
        ae.connection_timeout = node.timeouts.connect
        ae.acse_timeout = node.timeouts.association
        ae.dimse_timeout = node.timeouts.response
        # The network timeout closes an idle connection; a C-MOVE may be idle
        # on our side for as long as the retrieve idle limit allows.
        ae.network_timeout = max(node.timeouts.retrieve_idle, node.timeouts.response) + 30
    ae.maximum_pdu_size = 0  # no limit: fewer, larger P-DATA PDUs on fast links
    return ae


class _SocketErrorCapture(logging.Handler):
    """Collects pynetdicom's 'TCP Initialisation Error' for one association's threads.

    pynetdicom logs the socket exception instead of raising it; the errno in
    that message is the only place that tells refused from unreachable.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.threads: set[int] = set()
        self.error: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("TCP Initialisation Error") and (
            not self.threads or record.thread in self.threads
        ):
            self.error = message.partition(":")[2].strip()


@dataclass
class _Negotiation:
    """What the peer answered during association negotiation."""

    connected: bool = False
    reject: Any = None
    abort: Any = None

    def handlers(self) -> list[tuple[Any, Any]]:
        return [(evt.EVT_CONN_OPEN, self._on_open), (evt.EVT_ACSE_RECV, self._on_acse)]

    def _on_open(self, event: Any) -> None:
        self.connected = True

    def _on_acse(self, event: Any) -> None:
        name = type(event.primitive).__name__
        if name == "A_ASSOCIATE" and event.primitive.result not in (None, 0):
            self.reject = event.primitive
        elif name in ("A_ABORT", "A_P_ABORT"):
            self.abort = event.primitive


@dataclass
class OutgoingAssociation:
    """An established association with the id it has in the log."""

    assoc: Association
    association_id: str
    recorder: AssociationRecorder
    local_address: str

    def close(self) -> None:
        """Release politely; abort if the peer does not answer the release."""
        if self.assoc.is_established:
            self.assoc.release()
        if not self.assoc.is_released and not self.assoc.is_aborted:
            self.assoc.abort()


def _resolve(node: RemoteNode, log: AssociationLog, association_id: str) -> str:
    try:
        infos = socket.getaddrinfo(node.host, node.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        message = f"the host name '{node.host}' of node '{node.name}' cannot be resolved: {exc}"
        log.record(association_id, Direction.OUTGOING, "connection-failed", message,
                   peer_ae=node.ae_title, peer_address=f"{node.host}:{node.port}",
                   detail={"reason": FailureReason.HOST_NOT_FOUND.value})
        raise AssociationFailure(FailureReason.HOST_NOT_FOUND, message, host=node.host) from None
    return str(infos[0][4][0])


def _tcp_failure(node: RemoteNode, address: str, error: str | None,
                 elapsed: float) -> AssociationFailure:
    where = f"{node.host}:{node.port}" + (f" ({address})" if address != node.host else "")
    text = (error or "").lower()
    refused = str(errno.ECONNREFUSED) in text or "refused" in text
    timed_out = "timed out" in text or (not error and elapsed >= node.timeouts.connect * 0.9)
    if refused:
        return AssociationFailure(
            FailureReason.CONNECTION_REFUSED,
            f"{where} refused the connection: nothing is listening on port {node.port}",
            host=node.host, address=address, port=node.port, error=error, seconds=elapsed)
    if timed_out:
        return AssociationFailure(
            FailureReason.CONNECTION_TIMEOUT,
            f"no answer from {where} within {node.timeouts.connect:g} s "
            "(host down, or a firewall drops the packets)",
            host=node.host, address=address, port=node.port, error=error, seconds=elapsed)
    return AssociationFailure(
        FailureReason.CONNECTION_FAILED,
        f"could not connect to {where}: {error or 'unknown network error'}",
        host=node.host, address=address, port=node.port, error=error, seconds=elapsed)


def _rejection(node: RemoteNode, calling: str, primitive: Any) -> AssociationFailure:
    meaning = decode_reject(primitive.result, primitive.result_source, primitive.diagnostic)
    evidence = dict(result=primitive.result, source=primitive.result_source,
                    diagnostic=primitive.diagnostic, meaning=meaning,
                    calling_ae=calling, called_ae=node.ae_title)
    if primitive.result_source == 1 and primitive.diagnostic == 7:
        return AssociationFailure(
            FailureReason.REJECTED_CALLED_AET,
            f"'{node.name}' rejected the association: it does not answer to the called AE "
            f"title '{node.ae_title}'", **evidence)
    if primitive.result_source == 1 and primitive.diagnostic == 3:
        return AssociationFailure(
            FailureReason.REJECTED_CALLING_AET,
            f"'{node.name}' rejected the association: it does not know our calling AE title "
            f"'{calling}'", **evidence)
    return AssociationFailure(FailureReason.REJECTED,
                              f"'{node.name}' rejected the association: {meaning}", **evidence)


def open_association(
    ae: AE,
    node: RemoteNode,
    log: AssociationLog,
    contexts: Sequence[PresentationContext] | None = None,
    *,
    ext_neg: Iterable[Any] | None = None,
    job_id: str | None = None,
    debug: bool = False,
    extra_handlers: Iterable[tuple[Any, Any]] = (),
) -> OutgoingAssociation:
    """Associate with *node*, recording every step in *log*.

    Raises
    ------
    AssociationFailure
        With ``reason`` telling which step failed; the failure is also
        recorded in the log as a ``connection-failed`` or negotiation event.
    """
    association_id = log.new_association_id(Direction.OUTGOING)
    recorder = AssociationRecorder(log, Direction.OUTGOING, job_id=job_id, debug=debug,
                                   association_id=association_id)
    address = _resolve(node, log, association_id)
    negotiation = _Negotiation()
    capture = _SocketErrorCapture()
    transport_logger = logging.getLogger("pynetdicom.transport")
    if transport_logger.getEffectiveLevel() > logging.ERROR:
        transport_logger.setLevel(logging.ERROR)  # or the socket error never reaches us
    transport_logger.addHandler(capture)
    started = time.monotonic()
    try:
        assoc = ae.associate(
            address,
            node.port,
            contexts=list(contexts) if contexts else None,
            ae_title=node.ae_title,
            ext_neg=list(ext_neg) if ext_neg else None,
            evt_handlers=[*negotiation.handlers(), *recorder.handlers(), *extra_handlers],
        )
    finally:
        transport_logger.removeHandler(capture)
    elapsed = time.monotonic() - started
    if assoc.is_established:
        local = assoc.requestor.address
        return OutgoingAssociation(assoc, association_id, recorder, local)
    failure = _classify(node, ae, address, negotiation, capture.error, elapsed)
    log.record(association_id, Direction.OUTGOING, "connection-failed", failure.message,
               local_ae=ae.ae_title, peer_ae=node.ae_title,
               peer_address=f"{address}:{node.port}", job_id=job_id,
               detail={"reason": failure.reason.value, **_plain(failure.evidence)})
    raise failure


def _classify(node: RemoteNode, ae: AE, address: str, negotiation: _Negotiation,
              socket_error: str | None, elapsed: float) -> AssociationFailure:
    if not negotiation.connected:
        return _tcp_failure(node, address, socket_error, elapsed)
    if negotiation.reject is not None:
        return _rejection(node, ae.ae_title, negotiation.reject)
    if negotiation.abort is not None:
        source, reason = abort_source_and_reason(negotiation.abort)
        return AssociationFailure(
            FailureReason.ABORTED,
            f"'{node.name}' aborted the association during negotiation: "
            f"{decode_abort(source, reason)}",
            source=source, reason=reason, calling_ae=ae.ae_title, called_ae=node.ae_title)
    if elapsed >= node.timeouts.association * 0.9:
        return AssociationFailure(
            FailureReason.ASSOCIATION_TIMEOUT,
            f"'{node.name}' accepted the TCP connection but did not answer the association "
            f"request within {node.timeouts.association:g} s",
            seconds=elapsed)
    return AssociationFailure(
        FailureReason.ABORTED,
        f"the connection to '{node.name}' closed during association negotiation",
        calling_ae=ae.ae_title, called_ae=node.ae_title, seconds=elapsed)


def _plain(evidence: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in evidence.items() if isinstance(v, str | int | float | type(None))}


def require_context(out: OutgoingAssociation, node: RemoteNode, abstract_syntax: str,
                    role: str, purpose: str) -> None:
    """Raise ``no-accepted-context`` when the peer refused what *purpose* needs.

    The evidence lists what the peer did accept, so that the hint can suggest
    the alternative (Study Root instead of Patient Root, C-MOVE instead of C-GET).
    """
    for cx in out.assoc.accepted_contexts:
        if cx.abstract_syntax == abstract_syntax:
            return
    from pydicom.uid import UID

    accepted = sorted({UID(cx.abstract_syntax).name for cx in out.assoc.accepted_contexts})
    out.close()
    raise AssociationFailure(
        FailureReason.NO_ACCEPTED_CONTEXT,
        f"'{node.name}' accepted the association but not {UID(abstract_syntax).name} "
        f"({role}), which {purpose} needs",
        wanted=str(UID(abstract_syntax).name), accepted=", ".join(accepted),
    )
