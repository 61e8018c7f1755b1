"""Free TCP ports for the servers and listeners the tests and benchmarks start.

Picked below the kernel's ephemeral range: a port the kernel hands out with
``bind(0)`` is also a port it may give the very next outgoing connection as
its local end (Orthanc calling our listener back, storescu loading a PACS),
and a server started on it a moment later then cannot bind it. DCMTK's
``movescu --port`` failed so in CI (exit 60).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["free_port", "free_ports"]

_LOWEST = 20000
_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; BSD and macOS start at 49152


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports nobody uses now, none handed out before in this process.

    Every socket stays bound (on all interfaces) until all are picked.
    """
    top = max(_ephemeral_start(), _LOWEST + 1000)
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for _ in range(count * 200):
            if len(ports) == count:
                break
            port = random.randrange(_LOWEST, top)
            if port in _handed_out:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind(("", port))
            except OSError:
                sock.close()
                continue
            held.append(sock)
            _handed_out.add(port)
            ports.append(port)
        else:
            raise RuntimeError(f"no {count} free ports between {_LOWEST} and {top}")
    finally:
        for sock in held:
            sock.close()
    return ports


def free_port() -> int:
    """One port, as :func:`free_ports`."""
    return free_ports(1)[0]
