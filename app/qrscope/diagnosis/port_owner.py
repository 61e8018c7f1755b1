"""Which program holds a TCP port, so that "port in use" can name it.

Linux only, from /proc: the listening socket's inode in /proc/net/tcp{,6},
then the process whose file descriptors include that socket. Processes of
other users are not readable without privileges; then the answer is None
and the hint says so instead of guessing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PortOwner", "find_port_owner"]

_LISTEN = "0A"


@dataclass(frozen=True)
class PortOwner:
    pid: int
    name: str
    command: str


def _listening_inodes(port: int, proc: Path) -> set[str]:
    inodes: set[str] = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (proc / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port:
                inodes.add(fields[9])
    return inodes


def find_port_owner(port: int, proc: Path = Path("/proc")) -> PortOwner | None:
    """The process listening on *port*, if this system lets us see it."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in targets:
                    name = (entry / "comm").read_text().strip()
                    raw = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                    return PortOwner(int(entry.name), name, raw.decode(errors="replace").strip())
        except OSError:
            continue
    return None
