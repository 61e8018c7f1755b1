"""Opening an association to a node, and saying precisely why it failed.

pynetdicom reports a failed association as "not established" and only logs
the socket error, so a failed connect is tried once more on a socket of our
own to learn its errno (:func:`probe_tcp`). A user needs to know which of
these happened, because each has a different fix: the name did not
resolve, nothing listens at that port (refused), something drops the
packets (timeout), the PACS rejected our AE titles (and which one), or it
aborted. :func:`open_association` raises
:class:`AssociationFailure` carrying that reason and its evidence.

It also carries a node's security settings onto the association: DICOM
over TLS (PS3.15 B.1, :mod:`qrscope.core.net.tls`), with the TLS failure reasons
(unknown CA, name mismatch, expired, one side without TLS), and User
Identity Negotiation (PS3.7 D.3.3.7), with the passcode taken from the
keyring (:mod:`qrscope.core.net.secrets`) at the moment the request is built.
"""

from __future__ import annotations

import errno
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from random import SystemRandom
from typing import Any

from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import UserIdentityNegotiation
from pynetdicom.presentation import PresentationContext

from qrscope.core.dicom.messages import A_ABORT, A_ASSOCIATE_RJ, MAX_PDU_LENGTH
from qrscope.core.dicom.status import decode_abort, decode_reject
from qrscope.core.engine import choice
from qrscope.core.engine import setup as pynetdicom_setup
from qrscope.core.engine.data_lane import lane_ready
from qrscope.core.engine.pynetdicom_private import (
    abort_source_and_reason,
    peer_socket,
    wrap_peer_socket,
)
from qrscope.core.net import secrets, tls
from qrscope.core.net.association_events import AssociationRecorder
from qrscope.core.net.association_log import AssociationLog, Direction
from qrscope.core.net.tcp import QuickAckSocket, quick_ack_context, tune
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.security import IdentityKind

__all__ = [
    "AssociationFailure",
    "FailureReason",
    "OutgoingAssociation",
    "make_ae",
    "next_message_id",
    "open_association",
    "probe_tcp",
    "require_context",
    "tcp_failure",
]


# From a random start: the Move Originator Message ID is what a C-STORE from the
# PACS's host under another AE title must name to be credited to a retrieve,
# so it must not be 1 for the first retrieve of every run.
_MESSAGE_IDS = itertools.count(SystemRandom().randrange(1, 65536))
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
    TLS_UNKNOWN_CA = tls.TlsReason.UNKNOWN_CA.value
    TLS_NAME_MISMATCH = tls.TlsReason.NAME_MISMATCH.value
    TLS_EXPIRED = tls.TlsReason.EXPIRED.value
    TLS_NOT_OFFERED = tls.TlsReason.NOT_OFFERED.value
    TLS_REQUIRED = tls.TlsReason.REQUIRED.value
    TLS_HANDSHAKE_FAILED = tls.TlsReason.HANDSHAKE_FAILED.value
    TLS_SETTINGS = tls.TlsReason.SETTINGS.value
    USER_IDENTITY_REJECTED = "user-identity-rejected"
    PASSCODE_MISSING = "user-identity-passcode-missing"


class AssociationFailure(Exception):
    """An association that could not be used, with the reason and its evidence."""

    def __init__(self, reason: FailureReason, message: str, **evidence: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.evidence = evidence


def make_ae(local: LocalAE, node: RemoteNode | None = None) -> AE:
    """A pynetdicom AE with our AE title and the node's timeouts."""
    pynetdicom_setup.prepare()  # prompt reactors; pynetdicom log text only when shown
    ae = AE(ae_title=local.ae_title)
    if node is not None:
        ae.connection_timeout = node.timeouts.connect
        ae.acse_timeout = node.timeouts.association
        ae.dimse_timeout = node.timeouts.response
        # The network timeout closes an idle connection; a C-MOVE may be idle
        # on our side for as long as the retrieve idle limit allows.
        ae.network_timeout = max(node.timeouts.retrieve_idle, node.timeouts.response) + 30
    # What we may be sent: finite, so that pynetdicom never gathers a huge PDU
    # in memory (a C-GET's data sets arrive on this association), and large
    # enough for few round trips; the listener announces the same.
    ae.maximum_pdu_size = MAX_PDU_LENGTH
    return ae


@dataclass
class _Negotiation:
    """What the peer answered during association negotiation.

    The A-ASSOCIATE-RJ is taken from the PDU as pynetdicom's reader decodes
    it, not only from the primitive its association thread reads later: a
    PACS that rejects and closes at once (dcmqrscp) lets the reader see the
    close too, and an association thread that looks only then finds the
    socket closed and reports an abort without reading the rejection.
    """

    connected: bool = False
    reject: Any = None
    abort: Any = None
    accepted: bool = False
    """An A-ASSOCIATE-AC came (possibly refusing every presentation context)."""
    abort_received: bool = False
    """An A-ABORT PDU came from the peer (not one our side made up): it speaks plain
    DICOM on this port, so asking whether the port wants TLS is pointless."""

    def handlers(self) -> list[tuple[Any, Any]]:
        return [(evt.EVT_CONN_OPEN, self._on_open), (evt.EVT_ACSE_RECV, self._on_acse),
                (evt.EVT_PDU_RECV, self._on_pdu)]

    def _on_open(self, event: Any) -> None:
        self.connected = True

    def _on_acse(self, event: Any) -> None:
        name = type(event.primitive).__name__
        if name == "A_ASSOCIATE" and event.primitive.result == 0:
            self.accepted = True
        elif name == "A_ASSOCIATE" and event.primitive.result is not None:
            self.reject = event.primitive
        elif name in ("A_ABORT", "A_P_ABORT"):
            self.abort = event.primitive

    @lane_ready()  # looks only at rejections and aborts, never at P-DATA
    def _on_pdu(self, event: Any) -> None:
        # Told apart by their PS3.8 type code, a public property of every PDU.
        kind = event.pdu.pdu_type
        if kind == A_ASSOCIATE_RJ and self.reject is None:
            self.reject = event.pdu.to_primitive()
        elif kind == A_ABORT and not self.accepted:
            self.abort_received = True
            if self.abort is None:  # an A-ABORT in answer to the request: no ACSE event
                self.abort = event.pdu.to_primitive()


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


def probe_tcp(address: str, port: int, timeout: float) -> OSError | None:
    """Connect once on our own socket to learn the error pynetdicom does not raise.

    pynetdicom only logs why its connect failed; the same connect made here,
    with the same timeout, gives the exception itself (refused, unreachable,
    reset, ...). None when it connects this time.
    """
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc


def _timed_out(error: OSError) -> bool:
    return isinstance(error, TimeoutError) or error.errno == errno.ETIMEDOUT


def tcp_failure(node: RemoteNode, address: str, error: OSError | None,
                elapsed: float | None = None) -> AssociationFailure:
    """The failure a TCP connect to *node* ended in, from its exception.

    *error* None means no exception is known (the connect did not fail when
    tried again): the reason is then "connection-failed".
    """
    where = f"{node.host}:{node.port}" + (f" ({address})" if address != node.host else "")
    evidence = dict(host=node.host, address=address, port=node.port,
                    error=str(error) if error else None, seconds=elapsed)
    if isinstance(error, ConnectionRefusedError):
        return AssociationFailure(
            FailureReason.CONNECTION_REFUSED,
            f"{where} refused the connection: nothing is listening on port {node.port}",
            **evidence)
    if error is not None and _timed_out(error):
        return AssociationFailure(
            FailureReason.CONNECTION_TIMEOUT,
            f"no answer from {where} within {node.timeouts.connect:g} s "
            "(host down, or a firewall drops the packets)", **evidence)
    return AssociationFailure(
        FailureReason.CONNECTION_FAILED,
        f"could not connect to {where}: {error or 'unknown network error'}", **evidence)


def _connect_failure(node: RemoteNode, address: str, elapsed: float) -> AssociationFailure:
    """Why pynetdicom's connect failed: it used up the timeout, or what our own connect says.

    A connect that took the whole timeout timed out; trying again would
    only make the user wait as long once more.
    """
    if elapsed >= node.timeouts.connect * 0.9:
        return tcp_failure(node, address, TimeoutError("timed out"), elapsed)
    return tcp_failure(node, address, probe_tcp(address, node.port, node.timeouts.connect),
                       elapsed)


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


@dataclass(frozen=True)
class _Security:
    """What a node's settings put on the association: TLS and the identity we send."""

    tls_args: tuple[ssl.SSLContext, str | None] | None = None
    identity: UserIdentityNegotiation | None = None

    @property
    def identity_sent(self) -> bool:
        return self.identity is not None


def _security(node: RemoteNode) -> _Security:
    """Build the SSL context and identity item, or raise the failure that prevents them."""
    tls_args = None
    if node.tls.enabled:
        try:
            context = tls.client_context(node.tls)
            if choice.current().uses("quick_ack"):
                quick_ack_context(context)
        except tls.TlsSettingsError as exc:
            raise AssociationFailure(
                FailureReason.TLS_SETTINGS,
                f"the TLS settings of '{node.name}' cannot be used: {exc.message}",
                field=exc.field) from None
        tls_args = (context, tls.server_hostname(node.tls, node.host))
    return _Security(tls_args, _identity_item(node))


def _identity_item(node: RemoteNode) -> UserIdentityNegotiation | None:
    """PS3.7 D.3.3.7: type 1 (username) or 2 (username and passcode)."""
    identity = node.identity
    if identity.kind is IdentityKind.NONE:
        return None
    item = UserIdentityNegotiation()
    item.user_identity_type = 1 if identity.kind is IdentityKind.USERNAME else 2
    item.primary_field = identity.username.encode("utf-8")
    item.positive_response_requested = identity.ask_for_response
    if identity.kind is IdentityKind.USERNAME_PASSCODE:
        try:
            passcode = secrets.passcode_for(node.name)
        except secrets.SecretStoreError as exc:
            raise AssociationFailure(FailureReason.PASSCODE_MISSING, str(exc),
                                     username=identity.username, keyring=exc.detail) from None
        if not passcode:
            raise AssociationFailure(
                FailureReason.PASSCODE_MISSING,
                secrets.missing_passcode(node.name, identity.username),
                username=identity.username)
        item.secondary_field = passcode.encode("utf-8")
    return item


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

    The node's TLS settings wrap the connection; its user identity is added
    to *ext_neg*. The log records whether TLS was used and whether the node
    confirmed the identity, never the passcode.

    Raises
    ------
    AssociationFailure
        With ``reason`` telling which step failed; the failure is also
        recorded in the log as a ``connection-failed`` or negotiation event.
    """
    association_id = log.new_association_id(Direction.OUTGOING)
    recorder = AssociationRecorder(log, Direction.OUTGOING, job_id=job_id, debug=debug,
                                   association_id=association_id)
    try:
        security = _security(node)
    except AssociationFailure as failure:
        _record_failure(log, association_id, ae, node, node.host, job_id, failure)
        raise
    address = _resolve(node, log, association_id)
    negotiation = _Negotiation()
    items = [*(ext_neg or ()), *([security.identity] if security.identity else [])]
    started = time.monotonic()
    assoc = ae.associate(
        address,
        node.port,
        contexts=list(contexts) if contexts else None,
        ae_title=node.ae_title,
        # associate() announces its own default (16382) unless told: we take PDUs of
        # up to MAX_PDU_LENGTH, and a PACS sends fewer, larger ones to us.
        max_pdu=ae.maximum_pdu_size,
        ext_neg=items or None,
        evt_handlers=[*negotiation.handlers(), *recorder.handlers(), *extra_handlers,
                      (evt.EVT_CONN_OPEN, _tune_socket)],
        tls_args=security.tls_args,  # type: ignore[arg-type]
    )
    elapsed = time.monotonic() - started
    if assoc.is_established:
        _record_security(log, association_id, node, assoc, job_id)
        local = assoc.requestor.address
        return OutgoingAssociation(assoc, association_id, recorder, local)
    if negotiation.accepted and not assoc.accepted_contexts:
        # pynetdicom aborts an association whose A-ASSOCIATE-AC refused every
        # context; the PACS did not abort anything.
        failure = _nothing_accepted(node, assoc.requestor.requested_contexts)
    else:
        failure = _classify(node, ae, address, negotiation, elapsed, security)
    _record_failure(log, association_id, ae, node, address, job_id, failure)
    raise failure


def _nothing_accepted(node: RemoteNode, proposed: Sequence[PresentationContext],
                      ) -> AssociationFailure:
    from pydicom.uid import UID

    wanted = ", ".join(dict.fromkeys(UID(cx.abstract_syntax).name for cx in proposed))
    return AssociationFailure(
        FailureReason.NO_ACCEPTED_CONTEXT,
        f"'{node.name}' accepted the association but none of what we proposed: {wanted}",
        wanted=wanted, accepted="")


def _tune_socket(event: Any) -> None:
    """From the first byte on: no stall on a stock PACS's Nagle (see core/net/tcp.py).

    The socket is tuned once; the tuned engine also re-arms quick ACKs after
    every read through a wrapper.
    """
    sock = peer_socket(event.assoc)
    if sock is not None:
        tune(sock)
    wrap_peer_socket(event.assoc, QuickAckSocket.adopt)


def _record_failure(log: AssociationLog, association_id: str, ae: AE, node: RemoteNode,
                    address: str, job_id: str | None, failure: AssociationFailure) -> None:
    log.record(association_id, Direction.OUTGOING, "connection-failed", failure.message,
               local_ae=ae.ae_title, peer_ae=node.ae_title,
               peer_address=f"{address}:{node.port}", job_id=job_id,
               detail={"reason": failure.reason.value, **_plain(failure.evidence)})


def _record_security(log: AssociationLog, association_id: str, node: RemoteNode,
                     assoc: Association, job_id: str | None) -> None:
    """One line for TLS and one for the identity, so the log shows what protected the call."""
    where = dict(peer_ae=node.ae_title, peer_address=f"{node.host}:{node.port}", job_id=job_id)
    if node.tls.enabled:
        checked = ("certificate chain and host name checked" if node.tls.verify
                   else "certificate NOT checked (verification is off)")
        log.record(association_id, Direction.OUTGOING, "tls", f"DICOM over TLS: {checked}",
                   detail={"verify": node.tls.verify}, **where)
    identity = node.identity
    if identity.kind is IdentityKind.NONE:
        return
    # PS3.7 D.3.3.7.2: an acceptor that does not check identities accepts
    # without a response; only a requested and returned response confirms it.
    confirmed = assoc.acceptor.user_identity is not None
    if identity.ask_for_response:
        outcome = ("the node confirmed it" if confirmed else
                   "the node accepted without confirming it (it may not check identities)")
    else:
        outcome = "no confirmation asked for"
    log.record(association_id, Direction.OUTGOING, "user-identity",
               f"user identity '{identity.username}' ({identity.kind.value}) sent: {outcome}",
               detail={"username": identity.username, "kind": identity.kind.value,
                       "confirmation_requested": identity.ask_for_response,
                       "confirmed": confirmed}, **where)


def _classify(node: RemoteNode, ae: AE, address: str, negotiation: _Negotiation,
              elapsed: float, security: _Security | None = None) -> AssociationFailure:
    security = security or _Security()
    if not negotiation.connected:
        failure = _connect_failure(node, address, elapsed)
        if security.tls_args and failure.reason is FailureReason.CONNECTION_FAILED:
            return _tls_failure(node, address, security) or failure
        return failure
    if negotiation.reject is not None:
        if security.identity_sent and _may_be_identity(negotiation.reject):
            return _identity_rejected(node, ae.ae_title, negotiation.reject)
        return _rejection(node, ae.ae_title, negotiation.reject)
    # Closed or aborted without an answer: with TLS 1.3 a refused client
    # certificate shows only now; without TLS the port may expect TLS. A peer
    # that stayed silent until our timeout is no TLS server (those close at
    # once on a plain request), and probing it would only double the wait; nor
    # is a peer that answered with an A-ABORT PDU, over plain DICOM.
    if elapsed >= node.timeouts.association * 0.9 or negotiation.abort_received:
        return _closed_or_aborted(node, ae, negotiation, elapsed)
    if security.tls_args:
        tls_failure = _tls_failure(node, address, security)
        if tls_failure is not None:
            return tls_failure
    elif tls.speaks_tls(address, node.port, node.timeouts.connect):
        return AssociationFailure(
            FailureReason.TLS_REQUIRED,
            f"'{node.name}' expects DICOM over TLS on port {node.port}; we called without TLS",
            host=node.host, port=node.port)
    return _closed_or_aborted(node, ae, negotiation, elapsed)


def _closed_or_aborted(node: RemoteNode, ae: AE, negotiation: _Negotiation,
                       elapsed: float) -> AssociationFailure:
    if negotiation.abort is not None:
        source, reason = abort_source_and_reason(negotiation.abort)
        return AssociationFailure(
            FailureReason.ABORTED,
            f"'{node.name}' aborted the association during negotiation: "
            f"{decode_abort(source, reason)}",
            abort_source=source, abort_reason=reason, calling_ae=ae.ae_title,
            called_ae=node.ae_title)
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


def _tls_failure(node: RemoteNode, address: str, security: _Security) -> AssociationFailure | None:
    """Shake hands again on our own socket to learn why TLS failed; None if it now works."""
    assert security.tls_args is not None
    context, hostname = security.tls_args
    error = tls.probe_handshake(address, node.port, context, hostname, node.timeouts.connect)
    if error is None or (isinstance(error, OSError) and not isinstance(error, ssl.SSLError)
                         and not isinstance(error, ConnectionResetError | BrokenPipeError)):
        return None
    problem = tls.classify_handshake_error(error)
    return AssociationFailure(
        FailureReason(problem.reason.value),
        f"TLS with '{node.name}' ({node.host}:{node.port}) failed: {problem.message}",
        host=node.host, port=node.port, ca_file=node.tls.ca_file,
        cert_file=node.tls.cert_file, **problem.evidence())


def _may_be_identity(primitive: Any) -> bool:
    """A rejection that is not about AE titles or load may be the identity's.

    PS3.7 D.3.3.7 leaves the rejection's diagnostic to the acceptor:
    pynetdicom answers "transient, service provider (ACSE), no reason given",
    DCMTK-based servers "permanent, service user, no reason given".
    """
    about_titles = primitive.result_source == 1 and primitive.diagnostic in (2, 3, 7)
    about_load = primitive.result_source == 3
    return not about_titles and not about_load


def _identity_rejected(node: RemoteNode, calling: str, primitive: Any) -> AssociationFailure:
    meaning = decode_reject(primitive.result, primitive.result_source, primitive.diagnostic)
    return AssociationFailure(
        FailureReason.USER_IDENTITY_REJECTED,
        f"'{node.name}' rejected the association we made as user '{node.identity.username}': "
        f"{meaning}",
        result=primitive.result, source=primitive.result_source,
        diagnostic=primitive.diagnostic, meaning=meaning, username=node.identity.username,
        kind=node.identity.kind.value, calling_ae=calling, called_ae=node.ae_title)


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
