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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

from qrscope.core.association_events import AssociationRecorder
from qrscope.core.association_log import AssociationLog, Direction
from qrscope.core.profiles import LocalAE
from qrscope.core.reception import ReceivedInstance, accept_every_storage_class, receive_store
from qrscope.core.storage import InstanceStore
from qrscope.core.tls import listener_ssl_context

__all__ = ["IncomingConnection", "ListenerError", "RetrieveClaim", "StorageListener"]

_LOGGER = logging.getLogger(__name__)


class ListenerError(Exception):
    """The listener could not start; ``reason`` is a stable word for hints."""

    def __init__(self, reason: str, message: str, **evidence: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.evidence = evidence


class RetrieveClaim(Protocol):
    """What a retrieve job tells the listener so that its instances find it."""

    job_id: str

    def claim_score(self, instance: ReceivedInstance, our_ae: str) -> int:
        """0 when the instance is not this job's; higher is a more certain match."""
        ...

    def deliver(self, instance: ReceivedInstance) -> None:
        """Called (from a listener thread) with each instance this job claimed."""
        ...


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


class StorageListener:
    """A Storage SCP bound to our AE title and port.

    Parameters
    ----------
    local : LocalAE
        AE title, bind address, port and storage folder.
    log : AssociationLog
        Incoming associations are recorded here as ``incoming``.
    """

    def __init__(self, local: LocalAE, log: AssociationLog, store: InstanceStore | None = None,
                 debug: bool = False) -> None:
        self.local = local
        self.log = log
        self.store = store or InstanceStore(local.storage_folder)
        self._recorder = AssociationRecorder(log, Direction.INCOMING, debug=debug)
        self._server: Any = None
        self._lock = threading.Lock()
        self._claims: list[RetrieveClaim] = []
        self._subscribers: list[Callable[[ReceivedInstance], None]] = []
        self.connections: list[IncomingConnection] = []
        self.unexpected: list[ReceivedInstance] = []
        self.received = 0

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
        # the sender proposes first.
        accept_every_storage_class()
        ae = AE(ae_title=self.local.ae_title)
        ae.add_supported_context(Verification)
        ae.maximum_pdu_size = 0
        ae.network_timeout = 120
        ae.dimse_timeout = 120
        ae.maximum_associations = 32
        handlers = [
            *self._recorder.handlers(),
            (evt.EVT_ACSE_RECV, self._on_acse_received),
            (evt.EVT_CONN_CLOSE, self._on_closed),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, lambda _event: 0x0000),
        ]
        try:
            self.store.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ListenerError("storage-folder-unusable",
                                f"cannot create the storage folder {self.store.root}: "
                                f"{exc.strerror}", folder=str(self.store.root)) from exc
        try:
            self._server = ae.start_server(
                (self.local.bind_address, self.local.listener_port), block=False,
                evt_handlers=handlers,
                ssl_context=listener_ssl_context(self.local.listener_tls))
        except OSError as exc:
            raise self._bind_error(exc) from exc
        _LOGGER.info("listener %s on %s:%s", self.local.ae_title, self.address, self.port)

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
        """Stop accepting and end the current associations."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()

    def __enter__(self) -> StorageListener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- jobs ------------------------------------------------------------------
    def attach(self, claim: RetrieveClaim) -> None:
        with self._lock:
            self._claims.append(claim)

    def detach(self, claim: RetrieveClaim) -> None:
        with self._lock:
            if claim in self._claims:
                self._claims.remove(claim)

    def subscribe(self, callback: Callable[[ReceivedInstance], None]) -> Callable[[], None]:
        """Call *callback* for every received instance, claimed or not."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    # -- pynetdicom handlers (listener threads) ------------------------------
    def _on_acse_received(self, event: Any) -> None:
        # The A-ASSOCIATE-RQ itself: the only place that has the calling and
        # called AE titles before negotiation decides anything.
        primitive = event.primitive
        if type(primitive).__name__ != "A_ASSOCIATE" or primitive.result is not None:
            return
        rq = event.assoc.requestor
        with self._lock:
            self.connections.append(IncomingConnection(
                association_id=self._recorder.association_id(event.assoc),
                calling_ae=str(primitive.calling_ae_title).strip(),
                called_ae=str(primitive.called_ae_title).strip(),
                address=rq.address,
                port=rq.port,
            ))

    def _on_closed(self, event: Any) -> None:
        association_id = self._recorder.association_id(event.assoc)
        with self._lock:
            for conn in self.connections:
                if conn.association_id == association_id and conn.closed is None:
                    conn.closed = datetime.now(UTC)

    def _on_store(self, event: Any) -> int:
        association_id = self._recorder.association_id(event.assoc)
        instance = receive_store(event, self.store, association_id)
        with self._lock:
            claims = list(self._claims)
            subscribers = list(self._subscribers)
            self.received += 1 if instance.ok else 0
            for conn in self.connections:
                if conn.association_id == association_id:
                    conn.instances += 1
        scored = [(c.claim_score(instance, self.local.ae_title), c) for c in claims]
        score, best = max(scored, key=lambda pair: pair[0], default=(0, None))
        if best is not None and score > 0:
            instance = replace(instance, job_id=best.job_id)
            best.deliver(instance)
        else:
            with self._lock:
                self.unexpected.append(instance)
        self._record(instance)
        for callback in subscribers:
            try:
                callback(instance)
            except Exception:
                _LOGGER.exception("listener subscriber failed")
        return instance.status

    def _record(self, instance: ReceivedInstance) -> None:
        if instance.ok and instance.stored is not None:
            what = "duplicate, not stored again" if instance.stored.duplicate else "stored"
            summary = f"instance {instance.sop_instance_uid} {what}"
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
