"""A second host on this machine: a network namespace joined to ours by a veth pair.

The PACS runs inside it, at an address that exists only here, so a test can
put a firewall between the PACS and qrscope's listener (iptables inside the
namespace) and see what a user behind one sees. Needs root (CI runs as root).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TestHost", "missing_tools", "test_host"]


@dataclass(frozen=True)
class TestHost:
    namespace: str
    address: str
    """The host's address, as the workstation reaches it."""
    workstation_address: str
    """Our address, as the host reaches us."""

    @property
    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.namespace]

    def run(self, *command: str) -> None:
        subprocess.run([*self.prefix, *command], check=True, capture_output=True)

    def _drop_rule(self, port: int) -> list[str]:
        return ["OUTPUT", "-p", "tcp", "-d", self.workstation_address, "--dport", str(port),
                "--syn", "-j", "DROP"]

    @contextlib.contextmanager
    def dropping_connections_to(self, port: int) -> Iterator[None]:
        """A firewall that silently drops the host's new connections to our port."""
        self.run("iptables", "-A", *self._drop_rule(port))
        try:
            yield
        finally:
            self.run("iptables", "-D", *self._drop_rule(port))


def missing_tools() -> str:
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install iproute2 iptables)"
    return ""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextlib.contextmanager
def test_host(index: int = 1) -> Iterator[TestHost]:
    """A namespace at 10.213.<n>.2 reached from our end of the link, 10.213.<n>.1."""
    octet = (os.getpid() + index) % 200 + 20
    name = f"qrs{octet}"
    ours, theirs = f"10.213.{octet}.1", f"10.213.{octet}.2"
    outside, inside = f"vq{octet}h", f"vq{octet}p"
    resolv = Path("/etc/netns") / name
    _ip("netns", "add", name)
    try:
        # A resolver that answers at once: servers that look up peers' names
        # must not stall every association for seconds.
        resolv.mkdir(parents=True, exist_ok=True)
        (resolv / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", name)
        _ip("addr", "add", f"{ours}/30", "dev", outside)
        _ip("link", "set", outside, "up")
        for command in (["addr", "add", f"{theirs}/30", "dev", inside],
                        ["link", "set", inside, "up"], ["link", "set", "lo", "up"]):
            _ip("netns", "exec", name, "ip", *command)
        yield TestHost(namespace=name, address=theirs, workstation_address=ours)
    finally:
        subprocess.run(["ip", "link", "del", outside], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        shutil.rmtree(resolv, ignore_errors=True)
