"""pynetdicom's reactor loops: woken by work, and never taking another's message.

**Woken by work.**
Each pynetdicom association runs two threads that poll. The DUL thread
reads the socket and sends queued PDUs; when it found nothing to do it
sleeps ``_run_loop_delay`` (1 ms). The acceptor's association thread looks
for a complete DIMSE message, then sleeps 1 ms. A C-STORE therefore waits
for up to three of those sleeps (the PDU is read, the message handled, the
response sent) and Linux rounds each up: about 2-3 ms per instance that do
nothing but wait, most of what a small instance costs us (docs/PERFORMANCE.md).

Here the sleeps become waits that end as soon as there is work:

* the DUL thread waits in ``select`` on its socket and on a wake-up pipe,
  written whenever a primitive is queued for it to send or it is told to
  stop;
* the association thread waits on an event set whenever the DUL delivers a
  DIMSE message or an ACSE primitive to it, or stops, or another thread
  waits for it to pause.

With nothing to do, each wait ends after :data:`IDLE_WAIT` (0.1 s) rather
than 1 ms: every flag pynetdicom checks on its loops wakes it, and its two
timers, which count seconds, are seen at most that much later (see
:class:`_ReactorTime`).

**Never taking another's message.** While a ``send_c_find``, ``send_c_get``
or ``send_c_move`` runs, the association's reactor thread must leave the
responses to it. pynetdicom pauses the reactor with a handshake that has a
gap: the sender clears ``_reactor_checkpoint`` and waits for ``_is_paused``,
but the reactor sets ``_is_paused`` for an instant even when it does not
stop, and then takes the next message off the queue. When the peer answers
fast, that is the sender's first response: a pending C-FIND response goes to
the reactor, which drops it, and a search silently lists one study fewer
(dcmqrscp on loopback: about one search in ten of a Patient Root walk).
:class:`PromptDIMSE` gives the reactor thread no message while a pause is
asked for, and puts back one it took as the pause began.

Nothing else in pynetdicom changes: the classes are pynetdicom's own, with a
different wait and a guarded queue, installed by :func:`install` through the
module names ``Association`` uses to create them (see
``pynetdicom_private.install_reactor_classes``), and the one ``time`` name
each reactor module sleeps through.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import socket
import ssl
import struct
import threading
import time as _time
from collections.abc import Callable
from typing import Any

from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dul import DULServiceProvider
from pynetdicom.fsm import ACTIONS, TRANSITION_TABLE, StateMachine

from qrscope.core.dicom.messages import P_DATA_TF, PDU_HEADER, PDU_TYPES
from qrscope.core.engine.choice import current
from qrscope.core.engine.data_lane import DATA_TRANSFER_STATES, DataLane
from qrscope.core.engine.pynetdicom_private import install_reactor_classes, pause_requested

__all__ = ["PromptDIMSE", "PromptDUL", "install"]

_LOGGER = logging.getLogger("pynetdicom.dul")  # where pynetdicom's reader logs


class _WakingQueue(queue.Queue):  # type: ignore[type-arg]
    """A queue that calls *wake* after each put, so the thread reading it need not poll."""

    def __init__(self, wake: Callable[[], None]) -> None:
        super().__init__()
        self._wake = wake

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self._wake()


class _ClosingStateMachine(StateMachine):
    """pynetdicom's state machine, which lets an answer of ours meet a connection that is gone.

    Our side answers an A-ASSOCIATE-RQ (Evt7, Evt8), sends data (Evt9) or
    releases and aborts (Evt11, Evt14, Evt15) from the association's thread,
    while the DUL thread may already have seen the peer go: the listener's
    guard aborts a peer that breaks the limits as soon as it reads the bytes,
    which can be before our A-ASSOCIATE-AC is out. PS3.8's state table has no
    entry for such a local request in Sta13 (awaiting the transport to close)
    or Sta1 (idle); pynetdicom raises ``InvalidEventError`` there, which ends
    the DUL thread with a traceback. Here the request is dropped with a log
    line, there being nobody left to send it to, and in Sta13 the transport
    is closed at once, as when the ARTIM timer expires there (AA-2): our
    side is done with it too, and our association thread can only end the
    DUL once it is idle again (``stop_dul`` waits for Sta1).
    """

    LOCAL_REQUESTS = frozenset({"Evt7", "Evt8", "Evt9", "Evt11", "Evt14", "Evt15"})

    def do_action(self, event: str) -> None:
        state = self.current_state
        if state in ("Sta1", "Sta13") and event in self.LOCAL_REQUESTS \
                and (event, state) not in TRANSITION_TABLE:
            _LOGGER.info("%s dropped: the connection is already closing (%s)", event, state)
            if state == "Sta13":
                self.current_state = ACTIONS["AA-2"][1](self.dul)
            return
        super().do_action(event)


class PromptDUL(DULServiceProvider):
    """pynetdicom's DUL, whose idle loop waits for the socket or a queued primitive."""

    def __init__(self, assoc: Any) -> None:
        # Before the base class: it sets ``_kill_thread``, whose setter wakes us.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._signalled = False
        self._waiting = False
        self.association_activity = threading.Event()
        super().__init__(assoc)
        self.state_machine = _ClosingStateMachine(self)
        self.to_provider_queue = _WakingQueue(self.wake)
        self.event_queue = _WakingQueue(self.wake)
        self.to_user_queue = _WakingQueue(self.association_activity.set)
        self.data_lane = DataLane(self) if current().uses("data_lane") else None

    @property  # type: ignore[override]
    def _kill_thread(self) -> bool:
        return self.__dict__.get("_prompt_kill", False)

    @_kill_thread.setter
    def _kill_thread(self, value: bool) -> None:
        self.__dict__["_prompt_kill"] = value
        if value:
            self.wake()

    def wake(self) -> None:
        """End the DUL thread's current wait (any thread may call this).

        Only a waiting DUL needs the byte on the pipe; a busy one looks at its
        queues before it waits again (see :meth:`wait_for_work`).
        """
        if self._waiting and not self._signalled:
            self._signalled = True
            with contextlib.suppress(OSError):
                self._wake_w.send(b"\0")

    def wait_for_work(self, timeout: float) -> None:
        """Wait up to *timeout* for data on the socket or a wake-up, in place of a sleep."""
        rlist: list[Any] = [self._wake_r]
        sock = self._peer_socket()
        if sock is not None:
            if isinstance(sock, ssl.SSLSocket) and sock.pending():
                return  # decrypted bytes already buffered: select would not see them
            rlist.append(sock)
        self._waiting = True
        readable: list[Any] = []
        try:
            # Work queued after the loop looked and before _waiting was set
            # woke nobody: look once more.
            if self.to_provider_queue.empty() and self.event_queue.empty():
                readable, _, _ = select.select(rlist, [], [], timeout)
        except (OSError, ValueError):
            # The socket was closed under us: let the loop find out as before.
            _time.sleep(timeout)
        finally:
            self._waiting = False
        if self._wake_r in readable:
            with contextlib.suppress(OSError):
                while self._wake_r.recv(4096):
                    pass
        self._signalled = False

    def _peer_socket(self) -> Any:
        transport = self.socket
        if transport is None or not getattr(transport, "_is_connected", False):
            return None
        sock = getattr(transport, "socket", None)
        if sock is None:
            return None
        try:
            return sock if sock.fileno() >= 0 else None
        except (OSError, ValueError):
            return None

    def _read_pdu_data(self) -> None:
        """pynetdicom's PDU reader, handing data transfer's P-DATA-TF to the data lane.

        As ``DULServiceProvider._read_pdu_data`` (the same events for a
        closed connection, Evt17, and an unknown or undecodable PDU, Evt19),
        except that every P-DATA-TF PDU's messages are first held to the
        listener's limits (:meth:`DataLane.admits
        <qrscope.core.engine.data_lane.DataLane.admits>`), and that one in Sta6 or
        Sta7 goes to :class:`~qrscope.core.engine.data_lane.DataLane` instead of
        becoming a PDU object, an event and a primitive (see that module for
        why).
        """
        try:
            header = self.socket.recv(6)  # type: ignore[union-attr]
            pdu_type, _, length = PDU_HEADER.unpack(header)
        except (OSError, TimeoutError, struct.error):
            self.event_queue.put("Evt17")
            return
        if pdu_type not in PDU_TYPES:
            _LOGGER.error(f"Unknown PDU type received '0x{pdu_type:02X}'")
            self.event_queue.put("Evt19")
            return
        try:
            body = self.socket.recv(length)  # type: ignore[union-attr]
        except (OSError, TimeoutError):
            body = b""
        if len(body) != length:
            _LOGGER.error("The received PDU is shorter than expected "
                          f"({len(body) + 6} of {length + 6} bytes received)")
            self.event_queue.put("Evt17")
            return
        lane = self.data_lane
        if pdu_type == P_DATA_TF and lane is not None:
            serve = self.state_machine.current_state in DATA_TRANSFER_STATES and lane.wants()
            if not lane.admits(body, serve) or serve:
                return
        try:
            pdu, event = self._decode_pdu(header + body)
        except Exception as exc:
            # One line: a peer can send undecodable PDUs as often as it likes.
            _LOGGER.error("Unable to decode the received PDU data: %s", exc)
            self.event_queue.put("Evt19")
            return
        self.event_queue.put(event)
        self._recv_pdu.put(pdu)

    def run_reactor(self) -> None:
        try:
            super().run_reactor()
        finally:
            self.association_activity.set()  # the association sees that we stopped
            for end in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    end.close()


class PromptDIMSE(DIMSEServiceProvider):
    """pynetdicom's DIMSE provider: finished messages wake the association thread,
    which takes none while a request of ours waits for its responses."""

    def __init__(self, assoc: Any) -> None:
        super().__init__(assoc)
        dul = getattr(assoc, "dul", None)
        if isinstance(dul, PromptDUL):
            self.msg_queue = _WakingQueue(dul.association_activity.set)

    def get_msg(self, block: bool = False) -> Any:
        assoc = self.assoc
        if block or threading.current_thread() is not assoc:
            return super().get_msg(block)
        # The reactor's own poll: not while a sender has asked it to pause.
        if not pause_requested(assoc):
            item = super().get_msg(False)
            if item[1] is None or not pause_requested(assoc):
                return item
            # The pause began as we took it: it belongs to the sender.
            with self.msg_queue.mutex:
                self.msg_queue.queue.appendleft(item)
                self.msg_queue.not_empty.notify()
        return None, None


class _ReactorTime:
    """The ``time`` module as pynetdicom's reactor modules see it: sleeps that wake on work.

    Only the reactors' own idle sleeps change: the DUL thread's
    ``_run_loop_delay`` and the association thread's 1 ms poll. Every other
    sleep (shutdown delays) is ``time.sleep`` as before.

    Both wait up to :data:`IDLE_WAIT`, not 1 ms: everything their loops
    look at wakes them (for the DUL thread: its socket, a primitive queued
    for it, being told to stop; for the association thread: a DIMSE message
    or an ACSE primitive queued for it, its DUL stopping, a thread waiting
    for it to pause, see below), except two timers that count seconds, the
    ARTIM timer and the network idle timer, which they then see at most that
    much later. Polling every millisecond, an idle association cost 4-5% of
    a core at each end and took the interpreter lock thousands of times a
    second from the threads doing work (the window's GUI thread among
    them).
    """

    POLL = 0.001  # Association._run_reactor's time.sleep(0.001)
    PAUSE_SPIN = 0.0001  # the send_*/release()'s wait for the reactor to pause

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)

    def sleep(self, seconds: float) -> None:
        thread = threading.current_thread()
        if isinstance(thread, PromptDUL) and seconds == thread._run_loop_delay:
            thread.wait_for_work(max(seconds, IDLE_WAIT))
            return
        if isinstance(thread, Association) and seconds == self.POLL:
            dul = thread.dul
            if isinstance(dul, PromptDUL):
                with _WAITING_LOCK:
                    _WAITING.add(dul)
                try:
                    dul.association_activity.wait(IDLE_WAIT)
                finally:
                    with _WAITING_LOCK:
                        _WAITING.discard(dul)
                dul.association_activity.clear()
                return
        if seconds == self.PAUSE_SPIN:
            # A sender (send_c_find, release...) waits for some association's
            # reactor to reach its pause point: wake the waiting reactors,
            # which look at their checkpoint and go back to waiting.
            with _WAITING_LOCK:
                waiting = list(_WAITING)
            for dul in waiting:
                dul.association_activity.set()
        _time.sleep(seconds)


IDLE_WAIT = 0.1
"""The longest a reactor thread waits with nothing to do (see :class:`_ReactorTime`)."""
_WAITING: set[PromptDUL] = set()
"""DULs whose association thread is in its idle wait now."""
_WAITING_LOCK = threading.Lock()


_INSTALLED = False
_LOCK = threading.Lock()


def install() -> None:
    """Have every association created from now on use the prompt reactors (idempotent)."""
    global _INSTALLED
    with _LOCK:
        if not _INSTALLED:
            install_reactor_classes(PromptDUL, PromptDIMSE, _ReactorTime())
            _INSTALLED = True
