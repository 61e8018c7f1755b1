"""The storage listener's network guard: deadlines, connection limits and PDU sizes.

The listener is a service on a hospital network, so it must outlast
scanners, half-open sockets and broken peers. pynetdicom cannot be told to:
it starts an association thread for every TCP connection, counts those
threads against ``maximum_associations`` before a single byte arrives, runs
no timer while it waits for the A-ASSOCIATE-RQ or while a PDU is being
read, and reads a whole PDU into memory at the length its header claims
(``DULServiceProvider._read_pdu_data`` calls ``AssociationSocket.recv``
with the PDU length, which loops until that many bytes came).

So the guard works from our side of two public seams of
:class:`pynetdicom.transport.AssociationServer` (a ``socketserver`` server):

- ``verify_request`` refuses a connection at accept time when its address
  has used its share, or when only the room kept for a retrieve's node is
  left. The socket is closed before pynetdicom sees it: no thread, no reply.
- ``get_request`` hands pynetdicom a :class:`PeerConnection` instead of the
  bare socket. It reads the PDU framing as the bytes pass, so it sees each
  header before pynetdicom asks for the body, and it refuses a PDU longer
  than the limit for its type with an A-ABORT (PS3.8 9.3.8) before one body
  byte is read: no PDU beyond the limit is ever buffered. Inside P-DATA-TF
  PDUs it follows the presentation data values and the DIMSE message they
  form (:class:`MessageFollower`), and refuses the fragment that would take
  a command set or an identifier past its limit, that strays to another
  presentation context, or a response (the listener sends no requests),
  before pynetdicom or the data lane buffers it: this is the one place that
  sees every byte on both engine paths.

A watchdog thread closes connections that miss a deadline: the
A-ASSOCIATE-RQ must be in within ``handshake_seconds`` of the connection
(PS3.8 9.1.4 gives the same job to the ARTIM timer on the requestor side),
and any PDU once begun must be complete within
:meth:`ListenerLimits.pdu_seconds` of its first byte, a time that grows with
its announced length and is never extended. Closing the socket is what
pynetdicom sees as the peer going away, so its threads end through its own
paths.

Every connection the guard ends is counted by reason
(:attr:`ListenerGuard.refused`), logged as a warning, and reported to the
guard's ``on_drop`` callback, with which the listener writes the reason in
plain words to the association log.

Once its A-ASSOCIATE-RQ is decided an association is classified
(:meth:`ListenerGuard.classify`): *known* (the accept policy admits the
caller) or a *stranger* (anyone's Verification-only association, the host
of a retrieve's PACS under another AE title). Strangers have a budget of
their own, give way (oldest first) when a known node's host or a
retrieve's node needs room, and Verification-only ones are aborted when
idle or old. An address refused again and again is turned away at accept
for a while (:meth:`ListenerGuard.note_refused`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import ssl
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pynetdicom import AE, evt

from qrscope.core.dicom.messages import (
    A_ASSOCIATE_RQ,
    INVALID_PARAMETER_VALUE,
    MAX_PDU_LENGTH,
    P_DATA_TF,
    PDU_HEADER,
    PDU_TYPES,
    UNEXPECTED_PDU,
    UNRECOGNIZED_PDU,
    MessageFollower,
    Refused,
)
from qrscope.core.engine.pynetdicom_private import (
    end_wait_for_request,
    peer_socket,
)
from qrscope.core.engine.server_base import ThreadedAssociationServer
from qrscope.core.net.tcp import quick_ack, tune

__all__ = ["GuardedAssociationServer", "ListenerGuard", "ListenerLimits", "PeerConnection",
           "start_guarded_server"]

_LOGGER = logging.getLogger(__name__)

# How many refusing addresses the penalty keeps counts for: a sweep of
# spoofed sources cannot make the table grow without end.
_ADDRESSES_TRACKED = 4096

@dataclass(frozen=True)
class ListenerLimits:
    """What one peer, and all of them together, may cost the listener.

    Attributes
    ----------
    handshake_seconds : float
        From connect to the last byte of the A-ASSOCIATE-RQ. A PACS sends it
        at once (milliseconds); 5 s is generous for a slow WAN and short
        enough that idle or trickling sockets cannot hold slots.
    pdu_base_seconds, pdu_minimum_rate : float
        A PDU must be complete within :meth:`pdu_seconds` of its first byte:
        5 s (as for the handshake: a sender writes a PDU at once, and this
        covers a WAN's round trips and slow start) plus its announced
        length at 8000 bytes/s (64 kbit/s, the slowest link a PACS still
        works over). A full 256 KiB PDU gets 37.8 s, which 64 kbit/s needs
        33 s for; a 100-byte PDU dripped a byte a second is dropped after
        5 s. Idle time *between* PDUs is the AE's network timeout's business.
    max_pdu_length : int
        The Maximum Length we announce (PS3.8 D.1) and the largest P-DATA-TF
        we accept. 256 KiB: large enough that per-PDU overhead is a small
        part of a transfer (DCMTK caps its own at 128 KiB, Orthanc and
        pynetdicom send 16 KiB by default), small enough that 40 full
        connections buffer 10 MiB at most.
    max_request_length : int
        The largest A-ASSOCIATE-RQ and other non-data PDU. 128 presentation
        contexts with 16 transfer syntaxes each and a large user identity
        item stay well under 256 KiB.
    max_command_length : int
        The largest command set (PS3.7 6.3.1), all its fragments together.
        A real one is 100-300 bytes: a few UIDs of at most 64 bytes, AE
        titles of 16, an error comment of 64. 64 KiB is 200 times that
        (room for an unusual list of attribute tags) and costs 2.5 MiB over
        40 connections.
    max_identifier_length : int
        The largest data set of any message but a C-STORE request (whose
        data set streams to disk, however large): a query identifier or an
        event report is kilobytes; 1 MiB is plenty.
    connections_total : int
        Open connections at once, associated or not.
    connections_per_address : int
        Open connections from one peer address: a PACS that sends a C-MOVE's
        sub-operations on several associations in parallel rarely uses more
        than four.
    reserved_per_node : int
        Connections kept free for each address :meth:`ListenerGuard.reserve_for`
        names (the node a retrieve is running against).
    strangers_total, strangers_per_address : int
        Associations of strangers (callers the accept policy would not
        admit: Verification-only, or the host of a retrieve's PACS under
        another AE title) at once. An echo check needs one association for
        milliseconds; 2 per address lets the doctor and a retry overlap, 8
        in all lets a few sites check us at once while 32 of the 40
        connections can never be theirs. A stranger over budget gets
        A-ASSOCIATE-RJ (transient, local limit exceeded; PS3.8 9.3.4), and
        a known caller that needs room takes a stranger's (oldest first).
    stranger_idle_seconds, stranger_life_seconds : float
        A Verification-only stranger is aborted after 10 s without an echo,
        and 30 s after it was accepted whatever it does: an echo takes
        milliseconds, so neither ends a real check.
    penalty_refusals, penalty_window_seconds, penalty_seconds : int, float, float
        An address that is no known node's host and is refused that many
        times within the window is closed at accept for ``penalty_seconds``:
        its A-ASSOCIATE-RQs (up to ``max_request_length`` each) are then
        never read or decoded.
    """

    handshake_seconds: float = 5.0
    pdu_base_seconds: float = 5.0
    pdu_minimum_rate: float = 64_000 / 8
    max_pdu_length: int = MAX_PDU_LENGTH
    max_request_length: int = 256 * 1024
    max_command_length: int = 64 * 1024
    max_identifier_length: int = 1024 * 1024
    connections_total: int = 40
    connections_per_address: int = 8
    reserved_per_node: int = 8
    strangers_total: int = 8
    strangers_per_address: int = 2
    stranger_idle_seconds: float = 10.0
    stranger_life_seconds: float = 30.0
    penalty_refusals: int = 10
    penalty_window_seconds: float = 10.0
    penalty_seconds: float = 30.0

    def pdu_seconds(self, length: int) -> float:
        """How long a PDU announcing *length* bytes may take, from its first byte to its last."""
        return self.pdu_base_seconds + length / self.pdu_minimum_rate


class PeerConnection:
    """A peer's socket as pynetdicom sees it, with the PDU framing checked on the way in.

    A mixin over a real socket class: :class:`PlainPeerConnection` (TCP) and
    :class:`TlsPeerConnection` (made by the listener's SSL context through its
    public ``sslsocket_class``), so that pynetdicom's ``isinstance(sock,
    ssl.SSLSocket)`` test in ``AssociationSocket.ready`` holds as for any
    socket. Only ``recv``, ``shutdown`` and ``close`` differ from the socket's
    own. :meth:`attach` gives it the guard's state once the socket exists.
    """

    def attach(self, address: str, guard: ListenerGuard) -> None:
        tune(self)  # a stock sender must not stall on our delayed ACKs (core/net/tcp.py)
        self.address = address
        self._guard = guard
        self.opened = time.monotonic()
        self.associated = False  # the A-ASSOCIATE-RQ is fully in
        self.pdu_deadline: float | None = None  # when the PDU being read must be complete
        self._pdu_started = 0.0
        self.dropped: str | None = None  # why we ended it (the kind counted)
        self.said = ""  # ... in plain words, for the logs
        self.aborted = False  # whether an A-ABORT went to the peer first
        self.dropped_at = 0.0
        self._header = bytearray()
        self._pdu_type = 0
        self._body_left = 0
        self._messages = MessageFollower(guard.limits)
        self.assoc: Any = None  # pynetdicom's Association, once it has one

    # -- reading -----------------------------------------------------------------------
    def recv(self, bufsize: int, *flags: int) -> bytes:
        if self.dropped:
            return b""
        data = super().recv(bufsize, *flags)  # type: ignore[misc]
        if not data:
            self._wake_acceptor()
            return data
        quick_ack(self)
        try:
            self._follow(memoryview(data))
        except Refused as refused:
            self._abort(refused)
            return b""  # to pynetdicom: the peer went away (Evt17)
        return data

    def _follow(self, data: memoryview) -> None:
        """Track PDU boundaries across *data*; raise :class:`Refused` at a bad header or value."""
        pos, size = 0, len(data)
        while pos < size:
            if self._body_left:
                step = min(self._body_left, size - pos)
                if self._pdu_type == P_DATA_TF:
                    self._messages.follow(data[pos:pos + step], self._body_left)
                self._body_left -= step
                pos += step
                if not self._body_left:
                    self._pdu_complete()
                continue
            if not self._header:
                # The clock runs from the PDU's first byte, the header's too.
                self._pdu_started = time.monotonic()
                self.pdu_deadline = self._pdu_started + self._guard.limits.pdu_seconds(0)
            step = min(6 - len(self._header), size - pos)
            self._header += data[pos:pos + step]
            pos += step
            if len(self._header) == 6:
                pdu_type, _, length = PDU_HEADER.unpack(self._header)
                self._header.clear()
                self._begin_pdu(pdu_type, length)

    def _begin_pdu(self, pdu_type: int, length: int) -> None:
        limits = self._guard.limits
        if pdu_type not in PDU_TYPES:
            raise Refused(UNRECOGNIZED_PDU, "unknown PDU type",
                          f"the peer sent a PDU of unknown type 0x{pdu_type:02X}")
        if not self.associated and pdu_type != A_ASSOCIATE_RQ:
            raise Refused(UNEXPECTED_PDU, "PDU before the A-ASSOCIATE-RQ",
                          f"the peer sent a PDU of type 0x{pdu_type:02X} before its "
                          "A-ASSOCIATE-RQ")
        limit = limits.max_pdu_length if pdu_type == P_DATA_TF else limits.max_request_length
        if length > limit:
            raise Refused(INVALID_PARAMETER_VALUE, "PDU too long",
                          f"the peer announced a PDU of type 0x{pdu_type:02X} and {length} "
                          f"bytes, over the {limit} we accept")
        self._pdu_type, self._body_left = pdu_type, length
        self.pdu_deadline = self._pdu_started + limits.pdu_seconds(length)
        if not length:
            self._pdu_complete()

    def _pdu_complete(self) -> None:
        self.pdu_deadline = None
        if self._pdu_type == A_ASSOCIATE_RQ:
            self.associated = True
        elif self._pdu_type == P_DATA_TF:
            self._messages.pdu_complete()

    def slow_pdu_words(self) -> str:
        """What a peer that missed :attr:`pdu_deadline` did, in plain words."""
        seconds = (self.pdu_deadline or self._pdu_started) - self._pdu_started
        if self._body_left:
            return (f"the peer sent a PDU too slowly: {self._body_left} of its bytes were "
                    f"still missing {seconds:.1f} s after its first byte")
        return (f"the peer sent a PDU header too slowly: not complete {seconds:.1f} s after "
                "its first byte")

    # -- ending ------------------------------------------------------------------------
    def _abort(self, refused: Refused) -> None:
        """Send an A-ABORT (source: service provider) and close, from the reading thread."""
        with contextlib.suppress(OSError):
            self.sendall(struct.pack(">BBLBBBB", 0x07, 0, 4, 0, 0, 2, refused.reason))  # type: ignore[attr-defined]
        self.drop(refused.kind, refused.words, aborted=True)

    def drop(self, kind: str, words: str, aborted: bool = False) -> None:
        """End the connection; safe from any thread (a blocked ``recv`` returns).

        *kind* is counted, *words* say what the peer did; *aborted*: an
        A-ABORT was sent first.
        """
        if self.dropped:
            return
        self.dropped, self.said, self.aborted = kind, words, aborted
        self.dropped_at = time.monotonic()
        _LOGGER.warning("listener %s the connection from %s: %s",
                        "aborted" if aborted else "closed", self.address, words)
        self._guard.dropped(self)
        with contextlib.suppress(OSError):
            super().shutdown(socket.SHUT_RDWR)  # type: ignore[misc]
        self._wake_acceptor()

    def _wake_acceptor(self) -> None:
        # pynetdicom's acceptor thread waits for the A-ASSOCIATE-RQ for the
        # whole ACSE timeout even when the connection is gone, and counts
        # against maximum_associations meanwhile: end that wait now.
        if not self.associated and self.assoc is not None:
            end_wait_for_request(self.assoc)

    def abort_now(self, kind: str, words: str) -> None:
        """A-ABORT (service provider, reason not specified) and close, from any thread.

        The A-ABORT is sent only if the socket takes it at once: a peer that
        stopped reading must not hold up whoever ends it (a TLS socket takes
        no such flag, and is just closed).
        """
        with contextlib.suppress(OSError, ValueError):
            self.send(struct.pack(">BBLBBBB", 0x07, 0, 4, 0, 0, 2, 0),  # type: ignore[attr-defined]
                      socket.MSG_DONTWAIT)
        self.drop(kind, words, aborted=True)

    def shutdown(self, how: int) -> None:
        # pynetdicom closes the socket only if shutdown succeeds; after our
        # own shutdown a second one can fail with ENOTCONN.
        with contextlib.suppress(OSError):
            super().shutdown(how)  # type: ignore[misc]

    def close(self) -> None:
        try:
            super().close()  # type: ignore[misc]
        finally:
            self._guard.forget(self)

    def is_closed(self) -> bool:
        return self.fileno() == -1  # type: ignore[attr-defined]


class PlainPeerConnection(PeerConnection, socket.socket):
    """A peer's TCP connection, watched by the guard."""

    @classmethod
    def adopt(cls, sock: socket.socket, address: str, guard: ListenerGuard,
              ) -> PlainPeerConnection:
        """The same connection as *sock* (which is left detached), watched by *guard*."""
        timeout = sock.gettimeout()
        conn = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        conn.settimeout(timeout)
        conn.attach(address, guard)
        return conn


class TlsPeerConnection(PeerConnection, ssl.SSLSocket):
    """A peer's TLS connection, watched by the guard (see ``SSLContext.sslsocket_class``)."""


@dataclass
class _Stranger:
    """What the guard knows of a stranger's association."""

    since: float
    last_active: float
    verification_only: bool


class ListenerGuard:
    """Admits connections within :class:`ListenerLimits` and ends those that overstay.

    Parameters
    ----------
    limits : ListenerLimits, optional
        Defaults to ``ListenerLimits()``.
    on_drop : callable, optional
        Called with each :class:`PeerConnection` the guard ends (its
        ``dropped``, ``said`` and ``assoc`` say which and why), from the
        thread that ended it: the listener writes it to the association log.
    trusted : callable, optional
        Whether an address is a known node's host (or a caller the user
        allowed): such an address gets room by evicting strangers, and is
        never penalised.

    Notes
    -----
    :meth:`reserve_for` and :meth:`release` are for the code that runs a
    retrieve: while it runs, ``reserved_per_node`` connections stay free for
    the node's address whatever strangers do. Counts of what was refused or
    dropped, by reason, are in :attr:`refused`.
    """

    def __init__(self, limits: ListenerLimits | None = None,
                 trusted: Callable[[str], bool] = lambda _address: False,
                 on_drop: Callable[[PeerConnection], None] | None = None) -> None:
        self.limits = limits or ListenerLimits()
        self._trusted = trusted
        self._on_drop = on_drop
        self._lock = threading.Lock()
        self._open: list[PeerConnection] = []
        self._classified: dict[PeerConnection, _Stranger | None] = {}  # None: known
        self._evicted: set[PeerConnection] = set()
        self._refusals: dict[str, deque[float]] = {}
        self._penalised: dict[str, float] = {}  # address -> until
        self._reserved: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    # -- the API for retrieves -----------------------------------------------------------
    def reserve_for(self, address: str) -> None:
        """Keep room for connections from *address* (calls nest: one release each)."""
        with self._lock:
            self._reserved[address] += 1

    def release(self, address: str) -> None:
        """Undo one :meth:`reserve_for` of *address*."""
        with self._lock:
            self._reserved[address] -= 1
            if self._reserved[address] <= 0:
                del self._reserved[address]

    # -- admission (server thread) -------------------------------------------------------
    def admit(self, conn: PeerConnection) -> bool:
        """Count *conn* in when it fits the limits; False (and counted as refused) if not.

        A known node's host or a retrieve's node that finds no room takes a
        stranger's (oldest first), then a pending handshake's from an
        address that is neither; at its per-address limit, the oldest
        stranger or pending handshake from its own address.
        """
        now = time.monotonic()
        with self._lock:
            until = self._penalised.get(conn.address)
            if until is not None and now >= until:
                del self._penalised[conn.address]
            elif until is not None:
                self.refused["penalised address"] += 1
                return False  # logged once, when the penalty began
            addresses = {c.address for c in self._open} | {conn.address}
        deserving = {a for a in addresses if self._deserves_room(a)}
        victims: list[PeerConnection] = []
        with self._lock:
            reason = self._refusal(conn.address)
            while reason and conn.address in deserving:
                victim = self._victim(conn.address, reason, deserving)
                if victim is None:
                    break
                victims.append(victim)
                self._evicted.add(victim)
                reason = self._refusal(conn.address)
            if reason is None:
                self._open.append(conn)
        for victim in victims:
            victim.abort_now("evicted for a known caller",
                            f"the listener needed room for a known caller at {conn.address}, "
                            "and a caller that is no known node gives way")
        if reason:
            _LOGGER.warning("listener refused a connection from %s: %s", conn.address, reason)
            self.count(reason)
        return reason is None

    def _deserves_room(self, address: str) -> bool:
        with self._lock:
            if address in self._reserved:
                return True
        return self._trusted(address)

    def _live(self) -> list[PeerConnection]:
        return [c for c in self._open if c not in self._evicted]

    def _refusal(self, address: str) -> str | None:
        limits = self.limits
        live = self._live()
        per_address = Counter(conn.address for conn in live)
        if len(live) >= limits.connections_total:
            return "too many connections"
        if per_address[address] >= limits.connections_per_address:
            return "too many connections from this address"
        kept = sum(max(0, limits.reserved_per_node - per_address[node])
                   for node in self._reserved if node != address)
        if len(live) + kept >= limits.connections_total:
            return "only the room kept for a retrieve is left"
        return None

    def _victim(self, address: str, reason: str,
                deserving: set[str]) -> PeerConnection | None:
        """The connection to end so that one from *address* fits (lock held)."""
        live = self._live()
        strangers = sorted((c for c in live if self._classified.get(c) is not None),
                           key=lambda c: self._classified[c].since)  # type: ignore[union-attr]
        pending = sorted((c for c in live if c not in self._classified),
                         key=lambda c: c.opened)
        if reason == "too many connections from this address":
            candidates = [c for c in [*strangers, *pending] if c.address == address]
        else:
            candidates = [*strangers, *(c for c in pending if c.address not in deserving)]
        return candidates[0] if candidates else None

    # -- classification (association threads) -------------------------------------------
    def classify(self, conn: Any, *, stranger: bool, verification_only: bool = True) -> bool:
        """Record what *conn*'s decided A-ASSOCIATE-RQ made it; False: a stranger over budget.

        *conn* is what ``peer_socket(assoc)`` gives (anything but a
        :class:`PeerConnection` is not ours to count, and passes).
        """
        if not isinstance(conn, PeerConnection):
            return True
        now = time.monotonic()
        with self._lock:
            if conn not in self._open:
                return True  # already gone
            if not stranger:
                self._classified[conn] = None
                return True
            strangers = [c for c in self._live() if self._classified.get(c) is not None]
            if len(strangers) >= self.limits.strangers_total or sum(
                    c.address == conn.address for c in strangers) >= \
                    self.limits.strangers_per_address:
                return False
            self._classified[conn] = _Stranger(now, now, verification_only)
        return True

    def touch(self, conn: Any) -> None:
        """The peer of *conn* did something (an echo): a stranger is not idle."""
        with self._lock:
            info = self._classified.get(conn)
            if info is not None:
                info.last_active = time.monotonic()

    def note_refused(self, address: str) -> None:
        """An association from *address* was refused; penalise an address that keeps at it."""
        if self._deserves_room(address):
            return  # a known node's host is never penalised
        limits, now = self.limits, time.monotonic()
        with self._lock:
            times = self._refusals.pop(address, None) or deque()
            times.append(now)
            while times and now - times[0] > limits.penalty_window_seconds:
                times.popleft()
            if len(times) < limits.penalty_refusals:
                self._refusals[address] = times  # re-inserted: the oldest are first
                while len(self._refusals) > _ADDRESSES_TRACKED:
                    del self._refusals[next(iter(self._refusals))]
                return
            self._penalised[address] = now + limits.penalty_seconds
        _LOGGER.warning("listener refuses connections from %s at accept for %g s (penalty): "
                        "%d associations refused within %g s", address,
                        limits.penalty_seconds, len(times), limits.penalty_window_seconds)

    def forget(self, conn: PeerConnection) -> None:
        with self._lock:
            if conn in self._open:
                self._open.remove(conn)
            self._classified.pop(conn, None)
            self._evicted.discard(conn)

    def count(self, reason: str) -> None:
        with self._lock:
            self.refused[reason] += 1

    def dropped(self, conn: PeerConnection) -> None:
        """Count a connection ended for ``conn.dropped`` and tell ``on_drop``."""
        self.count(conn.dropped or "")
        if self._on_drop is not None:
            try:
                self._on_drop(conn)
            except Exception:  # reporting must never keep a connection open
                _LOGGER.exception("reporting a dropped connection failed")

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    # -- the watchdog ----------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._watchdog = threading.Thread(target=self._watch, name="ListenerGuard",
                                          daemon=True)
        self._watchdog.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join(2)

    def close_all(self) -> None:
        """Abort every connection now (the listener stops): no peer is waited for."""
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            conn.abort_now("listener stopped", "the listener stopped")

    def _watch(self) -> None:
        # Four sweeps a second: a deadline is kept to within 0.25 s.
        while not self._stop.wait(0.25):
            now = time.monotonic()
            self.sweep(now)
            self.end_strangers(now)

    def end_strangers(self, now: float) -> None:
        """Abort Verification-only strangers that are idle or past their life."""
        limits = self.limits
        with self._lock:
            strangers = [(c, info) for c, info in self._classified.items()
                         if info is not None and info.verification_only
                         and c not in self._evicted and not c.dropped]
        for conn, info in strangers:
            if now - info.since > limits.stranger_life_seconds:
                conn.abort_now("stranger's time is up",
                               "a caller that is no known node may stay "
                               f"{limits.stranger_life_seconds:g} s")
            elif now - info.last_active > limits.stranger_idle_seconds:
                conn.abort_now("stranger idle", "a caller that is no known node was idle for "
                               f"{limits.stranger_idle_seconds:g} s")

    def sweep(self, now: float) -> None:
        """Drop connections past a deadline; forget those pynetdicom has closed."""
        limits = self.limits
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            if conn.is_closed() or (conn.dropped and now - conn.dropped_at > 1):
                # Closed by pynetdicom, or shut down by us and no longer
                # using anything but the thread that is ending it.
                self.forget(conn)
            elif not conn.associated and now - conn.opened > limits.handshake_seconds:
                conn.drop("no A-ASSOCIATE-RQ in time",
                          "the peer's A-ASSOCIATE-RQ was not in within "
                          f"{limits.handshake_seconds:g} s of connecting")
            elif (deadline := conn.pdu_deadline) is not None and now > deadline:
                conn.drop("PDU too slow", conn.slow_pdu_words())


class GuardedAssociationServer(ThreadedAssociationServer):
    """pynetdicom's threaded server with a :class:`ListenerGuard` at the door.

    ``shutdown`` aborts every connection and waits for none of them:
    ``socketserver`` would otherwise join every request thread.
    """

    block_on_close = False
    daemon_threads = True
    # socketserver listens with a backlog of 5: under a burst of connections
    # (a flood re-connecting at once) the kernel drops a known node's SYN
    # and its connect waits for the 1 s retransmission. Room for a burst of
    # twice the connection limit is kept in the kernel instead.
    request_queue_size = 128

    def __init__(self, *args: Any, guard: ListenerGuard, **kwargs: Any) -> None:
        self.guard = guard
        super().__init__(*args, **kwargs)
        if self.ssl_context is not None:
            # Public since Python 3.7: the context builds our socket class itself.
            self.ssl_context.sslsocket_class = TlsPeerConnection
        self.bind(evt.EVT_CONN_OPEN, self._on_connection_open)

    def _on_connection_open(self, event: Any) -> None:
        # The one public moment that has both the association and its
        # socket: pynetdicom's AssociationSocket holds our PeerConnection.
        conn = peer_socket(event.assoc)
        if isinstance(conn, PeerConnection):
            conn.assoc = event.assoc
            if conn.dropped:
                conn._wake_acceptor()
        # The data lane checks messages only where no guard follows them.
        lane = getattr(event.assoc.dul, "data_lane", None)
        if lane is not None and isinstance(conn, PeerConnection):
            lane.leave_checks_to_guard()

    def get_request(self) -> tuple[Any, Any]:
        # With TLS, the listener's context made a TlsPeerConnection (see __init__).
        sock, address = super().get_request()
        if isinstance(sock, PeerConnection):
            sock.attach(address[0], self.guard)
            return sock, address
        return PlainPeerConnection.adopt(sock, address[0], self.guard), address

    def verify_request(self, request: Any, client_address: Any) -> bool:
        # A refused socket is closed by socketserver; pynetdicom never sees it.
        return self.guard.admit(request)

    def shutdown(self) -> None:
        """Stop admitting, stop serving, close the socket and every connection.

        pynetdicom's own ``AssociationServer.shutdown`` also takes the server
        off the list of servers ``AE.start_server`` keeps; this one was made
        with the public ``AE.make_server`` and run by the listener, and is on
        no such list.
        """
        self.guard.stop()
        socketserver.TCPServer.shutdown(self)  # no connection is admitted after this
        self.server_close()
        self.guard.close_all()

    def end_associations(self, seconds: float) -> None:
        """Wait up to *seconds* for the associations' threads, then tell the rest to end.

        Their sockets are closed (:meth:`ListenerGuard.close_all`), so each
        normally ends in milliseconds; pynetdicom's DUL threads are not
        daemons, and one still running would keep the process from exiting.
        """
        deadline = time.monotonic() + seconds
        for assoc in self.active_associations:
            # One still waiting for its A-ASSOCIATE-RQ would wait the ACSE timeout.
            end_wait_for_request(assoc)
            assoc.dul.join(max(0.0, deadline - time.monotonic()))
            if assoc.dul.is_alive():
                assoc.dul.kill_dul()


def configure_ae(ae: AE, limits: ListenerLimits) -> None:
    """Set the AE values the guard depends on: PDU size, ACSE timeout, association backstop."""
    ae.maximum_pdu_size = limits.max_pdu_length
    # An acceptor whose A-ASSOCIATE-RQ never decodes waits this long for it
    # after its connection is gone: no longer than the handshake deadline.
    ae.acse_timeout = limits.handshake_seconds
    # The guard admits at most connections_total. pynetdicom counts threads,
    # including those still ending after the guard closed their connection
    # (up to acse_timeout each under a flood), so its limit would refuse
    # good senders: it is set far above the guard's, as a last backstop.
    ae.maximum_associations = 25 * limits.connections_total


def start_guarded_server(ae: AE, address: tuple[str, int], guard: ListenerGuard,
                         evt_handlers: list[Any] | None = None,
                         ssl_context: ssl.SSLContext | None = None) -> GuardedAssociationServer:
    """``ae.start_server(address, block=False, ...)`` with *guard* at the door.

    Returns the running server; ``server.shutdown()`` stops it and the guard.
    """
    configure_ae(ae, guard.limits)
    server = ae.make_server(address, ssl_context=ssl_context, evt_handlers=evt_handlers,
                            server_class=GuardedAssociationServer, guard=guard)
    guard.start()
    # Polled 10 times a second: stopping waits for the loop to notice.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="AcceptorServer", daemon=True)
    thread.start()
    return server
