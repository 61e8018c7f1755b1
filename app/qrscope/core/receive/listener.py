"""The embedded storage listener: where a PACS sends the images of a C-MOVE.

It accepts every storage SOP class in every transfer syntax the sender
proposes (compressed ones included: it stores, it never transcodes), records
who connected, and hands each instance to the retrieve job that asked for it.
Instances no job claims are stored all the same and reported as unexpected,
never dropped: they are often the clue to a misconfigured destination.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pydicom.uid import UID
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

from qrscope.core.archive.index import open_in_background
from qrscope.core.engine import setup as pynetdicom_setup
from qrscope.core.engine.pynetdicom_private import abandon_incoming, peer_socket, reads_held_data
from qrscope.core.net.association_events import AssociationRecorder
from qrscope.core.net.association_log import AssociationLog, Direction
from qrscope.core.net.tls import TlsSettingsError, listener_context
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.receive import claims as claim_rule
from qrscope.core.receive.claims import Claimant as RetrieveClaim
from qrscope.core.receive.guard import (
    ListenerGuard,
    ListenerLimits,
    PeerConnection,
    start_guarded_server,
)
from qrscope.core.receive.reception import (
    ReceivedInstance,
    prepare_to_receive,
    receive_store,
    refuse_store,
)
from qrscope.core.receive.senders import (
    STATUS_NOT_AUTHORIZED,
    STATUS_SOP_CLASS_NOT_SUPPORTED,
    SenderPolicy,
    host_matches,
    node_addresses,
)
from qrscope.core.receive.storage import InstanceStore, StoredInstance
from qrscope.core.subscribers import Subscribers

__all__ = ["IncomingConnection", "ListenerError", "RefusedCaller", "RetrieveClaim",
           "StorageListener"]

_LOGGER = logging.getLogger(__name__)


class ListenerError(Exception):
    """The listener could not start; ``reason`` is a stable word for hints."""

    def __init__(self, reason: str, message: str, **evidence: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.evidence = evidence


@dataclass
class IncomingConnection:
    """One association a peer opened to our listener."""

    association_id: str
    calling_ae: str
    called_ae: str
    address: str
    port: int
    opened: datetime = field(default_factory=lambda: datetime.now(UTC))
    instances: int = 0
    closed: datetime | None = None
    sequence: int = 0
    """Counts up from 1 over the listener's life: a job asks for those since a mark."""
    job_ids: set[str] = field(default_factory=set)
    """The jobs that instances of this association were credited to."""
    refused: str = ""
    """Why the association or its stores were refused (empty: accepted)."""


@dataclass(frozen=True)
class RefusedCaller:
    """A caller the accept policy turned away, for the log, the hints and the window."""

    calling_ae: str
    called_ae: str
    address: str
    reason: str
    association_id: str
    time: datetime = field(default_factory=lambda: datetime.now(UTC))


# How much history the listener keeps: it runs for days, its lists must not grow.
CONNECTIONS_KEPT = 1000
UNEXPECTED_KEPT = 1000
REFUSED_KEPT = 200


class StorageListener:
    """A Storage SCP bound to our AE title and port.

    Parameters
    ----------
    local : LocalAE
        AE title, bind address, port and storage folder.
    log : AssociationLog
        Incoming associations are recorded here as ``incoming``.
    limits : ListenerLimits, optional
        Deadlines, connection limits and PDU sizes (docs/RELIABILITY.md);
        the defaults suit a hospital network.
    """

    def __init__(self, local: LocalAE, log: AssociationLog, store: InstanceStore | None = None,
                 debug: bool = False,
                 known_nodes: Callable[[], Iterable[RemoteNode]] = tuple,
                 limits: ListenerLimits | None = None) -> None:
        self.local = local
        self.log = log
        self.store = store or InstanceStore(local.storage_folder)
        self.senders = SenderPolicy(local.accept, known_nodes)
        self.guard = ListenerGuard(limits, trusted=self.senders.known_host,
                                   on_drop=self._on_guard_drop)
        self._reserved: dict[int, list[str]] = {}
        self._recorder = AssociationRecorder(log, Direction.INCOMING, debug=debug)
        self._server: Any = None
        self.index_opening: threading.Thread | None = None
        self._lock = threading.Lock()
        self._claims: list[RetrieveClaim] = []
        self._subscribers: Subscribers[ReceivedInstance] = Subscribers()
        self._refused_subscribers: Subscribers[RefusedCaller] = Subscribers()
        self._connections: deque[IncomingConnection] = deque(maxlen=CONNECTIONS_KEPT)
        self._unexpected: deque[ReceivedInstance] = deque(maxlen=UNEXPECTED_KEPT)
        self._refused: deque[RefusedCaller] = deque(maxlen=REFUSED_KEPT)
        self._sequence = 0
        self._provisional: set[str] = set()  # association ids let in for a retrieve's host
        self._admitted: set[str] = set()  # association ids the accept policy admitted
        self.received = 0

    # -- what happened (bounded: the most recent only) ------------------------------
    @property
    def connections(self) -> list[IncomingConnection]:
        with self._lock:
            return list(self._connections)

    @property
    def unexpected(self) -> list[ReceivedInstance]:
        """Instances stored although no running retrieve claimed them (most recent)."""
        with self._lock:
            return list(self._unexpected)

    @property
    def refused(self) -> list[RefusedCaller]:
        with self._lock:
            return list(self._refused)

    def mark(self) -> int:
        """A point in the listener's history; :meth:`connections_since` it later."""
        with self._lock:
            return self._sequence

    def connections_since(self, mark: int) -> list[IncomingConnection]:
        with self._lock:
            return [c for c in self._connections if c.sequence > mark]

    def connections_of(self, mark: int, job_id: str, host: str) -> list[IncomingConnection]:
        """A job's associations since *mark*: those its instances came on, and those
        from its node's *host* that brought nothing (a failed reverse connection is
        evidence too); never another job's."""
        return [c for c in self.connections_since(mark) if job_id in c.job_ids
                or (not c.job_ids and host_matches(host, c.address))]

    def set_debug(self, on: bool) -> None:
        """Record PDUs of incoming associations too (takes effect for new events)."""
        self._recorder.debug = on

    # -- lifecycle -----------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port (the real one when configured as 0)."""
        if self._server is not None:
            return int(self._server.server_address[1])
        return self.local.listener_port

    @property
    def address(self) -> str:
        return self.local.bind_address

    def start(self) -> None:
        """Bind and serve in background threads; raises :class:`ListenerError`."""
        if self._server is not None:
            return
        # Any storage SOP class, even private ones, in the transfer syntax
        # the sender proposes first, streamed to disk.
        prepare_to_receive(self.store)
        pynetdicom_setup.prepare()  # prompt reactors; pynetdicom log text only when shown
        ae = AE(ae_title=self.local.ae_title)
        ae.add_supported_context(Verification)
        ae.network_timeout = 120
        ae.dimse_timeout = 120
        # Deadlines, connection limits and PDU sizes (docs/RELIABILITY.md);
        # the guard lives as long as the listener object, with its reservations.
        handlers = [
            *self._recorder.handlers(),
            (evt.EVT_ACSE_RECV, self._on_acse_received),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_CONN_CLOSE, self._on_closed),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, self._on_echo),
        ]
        try:
            self.store.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ListenerError("storage-folder-unusable",
                                f"cannot create the storage folder {self.store.root}: "
                                f"{exc.strerror}", folder=str(self.store.root)) from exc
        try:
            ssl_context = listener_context(self.local.listener_tls)
        except TlsSettingsError as exc:
            raise ListenerError("listener-tls-invalid", "the listener's TLS settings cannot be "
                                f"used: {exc.message}", field=exc.field) from exc
        try:
            # The TLS handshake happens in each association's own thread
            # (tls.listener_context), under the guard's deadline.
            self._server = start_guarded_server(
                ae, (self.local.bind_address, self.local.listener_port), self.guard,
                evt_handlers=handlers, ssl_context=ssl_context)
        except OSError as exc:
            raise self._bind_error(exc) from exc
        _LOGGER.info("listener %s on %s:%s", self.local.ae_title, self.address, self.port)
        # Not on the first C-STORE's time; kept for a caller that must not
        # race it (a test that takes the folder away under the listener).
        self.index_opening = open_in_background(self.store.root)

    def _bind_error(self, exc: OSError) -> ListenerError:
        where = f"{self.local.bind_address}:{self.local.listener_port}"
        port = self.local.listener_port
        if exc.errno == errno.EADDRINUSE:
            return ListenerError("listener-port-in-use",
                                 f"port {port} is already in use by another program, so the "
                                 f"listener cannot start on {where}", port=port)
        if exc.errno == errno.EACCES and port < 1024:
            return ListenerError("listener-port-privileged",
                                 f"port {port} is below 1024 and needs administrator rights; "
                                 "choose a port such as 11112", port=port)
        if exc.errno == errno.EADDRNOTAVAIL:
            return ListenerError("listener-address-unavailable",
                                 f"{self.local.bind_address} is not an address of this "
                                 "machine; use 0.0.0.0 to listen on all interfaces",
                                 address=self.local.bind_address)
        return ListenerError("listener-failed", f"cannot listen on {where}: {exc.strerror}",
                             port=port)

    def stop(self) -> None:
        """Stop accepting and abort the current associations; returns within a second.

        No peer is waited for: an idle association would otherwise hold a
        finished retrieve, or ``qrscope listen`` after Ctrl-C, for the whole
        network timeout.
        """
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.end_associations(0.5)

    def __enter__(self) -> StorageListener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- jobs ------------------------------------------------------------------
    def attach(self, claim: RetrieveClaim) -> None:
        """Match incoming instances to *claim*; its node may store to us meanwhile.

        Its node also gets room kept among the listener's connections
        (:meth:`ListenerGuard.reserve_for`), so a flood from elsewhere cannot
        lock out the PACS we are waiting for.
        """
        self.senders.retrieving_from(id(claim), claim.node)
        addresses = sorted(node_addresses(claim.node.host))
        for address in addresses:
            self.guard.reserve_for(address)
        with self._lock:
            self._claims.append(claim)
            self._reserved[id(claim)] = addresses

    def detach(self, claim: RetrieveClaim) -> None:
        with self._lock:
            if claim in self._claims:
                self._claims.remove(claim)
            addresses = self._reserved.pop(id(claim), [])
        for address in addresses:
            self.guard.release(address)
        self.senders.retrieving_from(id(claim), None)

    def subscribe_refused(self, callback: Callable[[RefusedCaller], None]) -> \
            Callable[[], None]:
        """Call *callback* for every caller the accept policy turns away."""
        return self._refused_subscribers.add(callback)

    def subscribe(self, callback: Callable[[ReceivedInstance], None]) -> Callable[[], None]:
        """Call *callback* for every received instance, claimed or not."""
        return self._subscribers.add(callback)

    # -- pynetdicom handlers (listener threads) ------------------------------
    def _on_acse_received(self, event: Any) -> None:
        # The A-ASSOCIATE-RQ itself: the only place that has the calling and
        # called AE titles before negotiation decides anything.
        primitive = event.primitive
        if type(primitive).__name__ != "A_ASSOCIATE" or primitive.result is not None:
            return
        rq = event.assoc.requestor
        with self._lock:
            self._sequence += 1
            self._connections.append(IncomingConnection(
                association_id=self._recorder.association_id(event.assoc),
                calling_ae=str(primitive.calling_ae_title).strip(),
                called_ae=str(primitive.called_ae_title).strip(),
                address=rq.address,
                port=rq.port,
                sequence=self._sequence,
            ))

    def _on_requested(self, event: Any) -> None:
        """Who may associate: the accept policy, before anything is negotiated.

        pynetdicom lets an ``EVT_REQUESTED`` handler answer with
        A-ASSOCIATE-RJ; a refused caller can then send nothing at all. A
        caller let in is classified for the guard: known (the policy admits
        it) or a stranger (Verification-only, which anyone may, or the host
        of a node we retrieve from under another AE title), which gets a
        small budget and gives way to known callers.
        """
        assoc = event.assoc
        primitive = assoc.requestor.primitive
        calling = str(primitive.calling_ae_title).strip()
        called = str(primitive.called_ae_title).strip()
        address = assoc.requestor.address
        association_id = self._recorder.association_id(assoc)
        if called != self.local.ae_title:
            # Like Orthanc's DicomCheckCalledAet: a sender that means someone else.
            self._refuse(assoc, calling, called, address, association_id,
                         f"it called '{called}', but we are '{self.local.ae_title}'",
                         diagnostic=0x07)
            return
        decision = self.senders.decide(calling, address)
        conn = peer_socket(assoc)
        if decision.allowed:
            self.guard.classify(conn, stranger=False)
            with self._lock:
                self._admitted.add(association_id)
            return
        verification = _only_verification(primitive)  # anyone may check that we answer
        with self._lock:
            claimants = list(self._claims)
        # The host of a node we are retrieving from, under another AE title:
        # let it in; each C-STORE must then name one of our requests.
        provisional = not verification and any(host_matches(c.node.host, address)
                                                for c in claimants)
        if not (verification or provisional):
            self._refuse(assoc, calling, called, address, association_id, decision.reason)
        elif not self.guard.classify(conn, stranger=True, verification_only=verification):
            self._refuse(assoc, calling, called, address, association_id,
                         "too many associations from callers that are not known nodes; "
                         "try again later", result=0x02, source=0x03, diagnostic=0x02)
        elif provisional:
            with self._lock:
                self._provisional.add(association_id)

    def _on_echo(self, event: Any) -> int:
        """Answer a C-ECHO; a stranger that echoes is not idle (its life still ends)."""
        self.guard.touch(peer_socket(event.assoc))
        return 0x0000

    def _refuse(self, assoc: Any, calling: str, called: str, address: str,
                association_id: str, reason: str, result: int = 0x01, source: int = 0x01,
                diagnostic: int = 0x03) -> None:
        # PS3.8 9.3.4: rejected-permanent (1), service-user (1), calling (3) or
        # called (7) AE title not recognised; or rejected-transient (2),
        # service-provider presentation (3), local-limit-exceeded (2).
        self._note_refused(RefusedCaller(calling, called, address, reason, association_id))
        self.guard.note_refused(address)
        assoc.acse.send_reject(result, source, diagnostic)
        # As pynetdicom's own rejections do: wait until the A-ASSOCIATE-RJ is out
        # and the peer has closed (bounded by the ARTIM timer), or the socket
        # would be shut before the answer is sent.
        assoc.kill()

    def _note_refused(self, refused: RefusedCaller) -> None:
        with self._lock:
            self._refused.append(refused)
            for conn in self._connections:
                if conn.association_id == refused.association_id:
                    conn.refused = refused.reason
            subscribers = self._refused_subscribers.snapshot()
        self.log.record(refused.association_id, Direction.INCOMING, "caller-refused",
                        f"refused '{refused.calling_ae}' at {refused.address}: "
                        f"{refused.reason}", peer_ae=refused.calling_ae,
                        local_ae=refused.called_ae, peer_address=refused.address,
                        detail={"reason": refused.reason})
        for callback in subscribers:
            try:
                callback(refused)
            except Exception:
                _LOGGER.exception("listener subscriber failed")

    def _on_guard_drop(self, conn: PeerConnection) -> None:
        """Say in the association log why the guard ended a connection (any thread).

        Only once pynetdicom made an association for it (``conn.assoc``):
        before, there is no association to file the line under, and the
        guard's warning in the Python log is all there is.
        """
        assoc = conn.assoc
        if assoc is None:
            return
        peer = assoc.requestor
        kind, verb = ("aborted", "aborted") if conn.aborted else ("dropped", "closed")
        self.log.record(self._recorder.association_id(assoc), Direction.INCOMING, kind,
                        f"{verb}: {conn.said}", local_ae=self.local.ae_title,
                        peer_ae=str(peer.ae_title or "").strip(),
                        peer_address=conn.address,
                        detail={"reason": conn.dropped, "by": "we", "meaning": conn.said})

    def _on_closed(self, event: Any) -> None:
        abandon_incoming()  # a data set the peer never finished
        association_id = self._recorder.association_id(event.assoc)
        with self._lock:
            self._provisional.discard(association_id)
            self._admitted.discard(association_id)
            for conn in self._connections:
                if conn.association_id == association_id and conn.closed is None:
                    conn.closed = datetime.now(UTC)

    @reads_held_data  # receive_store files small data sets from memory
    def _on_store(self, event: Any) -> int:
        association_id = self._recorder.association_id(event.assoc)
        with self._lock:
            claimants = list(self._claims)
            provisional = association_id in self._provisional
            admitted = association_id in self._admitted
        refusal = self._refusal(event, admitted, provisional, claimants)
        if refusal is not None:
            status, reason = refusal
            instance = refuse_store(event, association_id, status, reason)
            if status == STATUS_NOT_AUTHORIZED:
                self._note_refused(RefusedCaller(instance.calling_ae, instance.called_ae,
                                                 event.assoc.requestor.address, reason,
                                                 association_id))
            self._record(instance)
            return instance.status
        instance = receive_store(event, self.store, association_id)
        with self._lock:
            subscribers = self._subscribers.snapshot()
            self.received += 1 if instance.ok else 0
        if not instance.refused:
            instance = self._hand_over(instance, claimants)
        with self._lock:
            for conn in self._connections:
                if conn.association_id == association_id:
                    conn.instances += 1
                    if instance.job_id:
                        conn.job_ids.add(instance.job_id)
        self._record(instance)
        for callback in subscribers:
            try:
                callback(instance)
            except Exception:
                _LOGGER.exception("listener subscriber failed")
        return instance.status

    def _refusal(self, event: Any, admitted: bool, provisional: bool,
                 claimants: list[RetrieveClaim]) -> tuple[int, str] | None:
        """Why a C-STORE may not be filed (its status and reason), or None.

        Checked before a byte is filed, on both receive paths alike: the
        presentation context must be a storage context of the command's own
        class (a Verification context is open to any caller, PS3.7 9.1.5),
        and the association must be one the accept policy admitted when it
        was requested (*admitted*, decided once in :meth:`_on_requested`),
        or, let in as the host of a node we retrieve from, name one of our
        requests.
        """
        request, peer = event.request, event.assoc.requestor
        sop_class = str(request.AffectedSOPClassUID or "")
        context_class = str(event.context.abstract_syntax)
        if context_class == Verification or context_class != sop_class:
            return STATUS_SOP_CLASS_NOT_SUPPORTED, (
                f"a C-STORE of SOP class {sop_class or '(none)'} on the presentation context "
                f"for {_class_name(context_class)}: an instance is taken only on a storage "
                "context of its own class")
        calling = str(peer.ae_title).strip()
        if admitted or (provisional and self._sent_for_a_claim(event, claimants)):
            return None
        if provisional:
            return STATUS_NOT_AUTHORIZED, (f"'{calling}' is not a known node, and this "
                                           "instance names none of our requests")
        return STATUS_NOT_AUTHORIZED, (f"'{calling}' at {peer.address} was let in only to "
                                       "check that we answer (Verification)")

    def _hand_over(self, instance: ReceivedInstance,
                   claims: list[RetrieveClaim]) -> ReceivedInstance:
        """Deliver *instance* to the job the claim rule names, or keep it as unexpected."""
        chosen = claim_rule.choose(instance, claims)
        if chosen is None:
            with self._lock:
                self._unexpected.append(instance)
            return instance
        instance = replace(instance, job_id=chosen[0].job_id)
        chosen[0].deliver(instance)
        return instance

    @staticmethod
    def _sent_for_a_claim(event: Any, claimants: list[RetrieveClaim]) -> bool:
        request, peer = event.request, event.assoc.requestor
        message_id = request.MoveOriginatorMessageID
        return claim_rule.sent_for(claim_rule.Sender(
            str(peer.ae_title).strip(), peer.address,
            str(request.MoveOriginatorApplicationEntityTitle or "").strip(),
            None if message_id is None else int(message_id)), claimants)

    def _record(self, instance: ReceivedInstance) -> None:
        if instance.ok and instance.stored is not None:
            summary = f"instance {instance.sop_instance_uid} {_what_became(instance.stored)}"
        else:
            summary = f"instance {instance.sop_instance_uid} NOT stored: {instance.error}"
        if instance.job_id is None:
            summary += " (no retrieve job asked for it)"
        self.log.record(
            instance.association_id, Direction.INCOMING, "instance-stored", summary,
            local_ae=instance.called_ae, peer_ae=instance.calling_ae,
            peer_address=instance.peer_address, job_id=instance.job_id,
            detail={
                "sop_instance_uid": instance.sop_instance_uid,
                "transfer_syntax": instance.transfer_syntax,
                "path": str(instance.stored.path) if instance.stored else "",
                "status": instance.status,
                "originator_ae": instance.originator_ae,
                "originator_message_id": instance.originator_message_id,
                "unexpected": instance.job_id is None,
            },
        )


def _what_became(stored: StoredInstance) -> str:
    if stored.conflict:
        # Another object holds the instance's own name; this one sits beside it.
        what = "already there" if stored.duplicate else "stored"
        return (f"{what} as {stored.path.name}, beside a different object stored earlier "
                "under the same SOP Instance UID")
    return "duplicate, not stored again" if stored.duplicate else "stored"


def _class_name(uid: str) -> str:
    name = UID(uid).name
    return f"{name} ({uid})" if name and name != uid else uid


def _only_verification(primitive: Any) -> bool:
    contexts = primitive.presentation_context_definition_list or []
    return bool(contexts) and all(cx.abstract_syntax == Verification for cx in contexts)
