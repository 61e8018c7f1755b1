"""TCP settings that keep a DICOM exchange from stalling on a stock peer.

DICOM sends a command and its data set as separate writes. A sender that
leaves Nagle's algorithm on (DCMTK and Orthanc unless ``TCP_NODELAY=1`` is in
their environment, pynetdicom always) holds its second small write until the
first is acknowledged, and a receiver that delays its acknowledgements
(Linux does, for up to 40 ms) makes every C-STORE, C-FIND response and
C-MOVE response wait that long: about 40 ms per message on a fast link,
most of a retrieve's time for small images.

We cannot change the PACS, but the receiving side can refuse to delay its
ACKs: Linux's ``TCP_QUICKACK`` switches delayed ACKs off until the kernel
decides otherwise, so it is set again after every read. For our own writes,
``TCP_NODELAY``. On Windows and macOS there is no quick-ACK option for an
application; ``TCP_NODELAY`` still applies there (see docs/PERFORMANCE.md).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from typing import Any

__all__ = ["QuickAck", "QuickAckSocket", "QuickAckTlsSocket", "quick_ack", "quick_ack_context",
           "tune"]

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def tune(sock: Any) -> None:
    """No Nagle for our writes, and ACKs at once for the peer's (where the OS has it)."""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    quick_ack(sock)


def quick_ack(sock: Any) -> None:
    """Acknowledge what arrives at once, not after up to 40 ms (Linux; re-armed per read)."""
    if _QUICKACK is not None:
        with contextlib.suppress(OSError, AttributeError, ValueError):
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


class QuickAck:
    """Re-arms quick ACKs after every read: a mixin over a real socket class.

    :class:`QuickAckSocket` for TCP, :class:`QuickAckTlsSocket` for TLS (made
    by our SSL context itself through its public ``sslsocket_class``). Being
    real sockets, pynetdicom's ``isinstance(sock, ssl.SSLSocket)`` test holds
    as for any other.
    """

    def recv(self, bufsize: int, *flags: int) -> bytes:
        data: bytes = super().recv(bufsize, *flags)  # type: ignore[misc]
        quick_ack(self)
        return data


class QuickAckSocket(QuickAck, socket.socket):
    """A TCP socket that acknowledges what arrives at once."""

    @classmethod
    def adopt(cls, sock: socket.socket) -> QuickAckSocket:
        """The same connection as *sock* (which is left detached), tuned."""
        timeout = sock.gettimeout()
        adopted = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        adopted.settimeout(timeout)
        tune(adopted)
        return adopted


class QuickAckTlsSocket(QuickAck, ssl.SSLSocket):
    """A TLS socket that acknowledges what arrives at once."""


def quick_ack_context(context: ssl.SSLContext) -> ssl.SSLContext:
    """Have *context* make :class:`QuickAckTlsSocket` (public since Python 3.7)."""
    context.sslsocket_class = QuickAckTlsSocket
    return context
