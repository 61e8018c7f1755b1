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
from typing import Any

__all__ = ["QuickAckSocket", "quick_ack", "tune"]

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


class QuickAckSocket:
    """A socket that re-arms quick ACKs after every read; all else is the socket's own.

    ``__class__`` answers as the wrapped socket's, so that pynetdicom's
    ``isinstance(sock, ssl.SSLSocket)`` check still sees a TLS socket.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        tune(sock)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._sock)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def recv(self, bufsize: int, *flags: int) -> bytes:
        data = self._sock.recv(bufsize, *flags)
        quick_ack(self._sock)
        return data
