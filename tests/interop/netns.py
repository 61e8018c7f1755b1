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

__all__ = [
    "NatSite",
    "TestHost",
    "bare_namespace",
    "missing_tools",
    "nat_site",
    "require",
    "test_host",
]


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


def require(needs: str = "") -> None:
    """Skip without the tools (or the server *needs*), or fail when CI requires them."""
    import pytest

    problem = missing_tools() or (
        f"{needs} is not installed" if needs and shutil.which(needs) is None else "")
    if problem:
        if os.environ.get("QRSCOPE_REQUIRE_INTEROP") == "1":
            pytest.fail(f"{problem} and QRSCOPE_REQUIRE_INTEROP=1", pytrace=False)
        pytest.skip(problem)


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


@dataclass(frozen=True)
class NatSite:
    """A workstation namespace behind a NAT router namespace, in front of the PACS host.

    workstation (ws) --- router (rt, MASQUERADE) --- PACS host
    The PACS sees every connection from the router's outside address, which
    is all it can register for us, as in a hospital reaching a home office.
    """

    workstation: str
    router: str
    workstation_address: str
    router_outside: str
    router_outside_interface: str
    pacs_address: str
    """The PACS host's address on the router's side."""

    def forward_port(self, port: int) -> None:
        """The fix: the router forwards the listener port to the workstation."""
        subprocess.run(["ip", "netns", "exec", self.router, "iptables", "-t", "nat", "-A",
                        "PREROUTING", "-i", self.router_outside_interface, "-p", "tcp",
                        "--dport", str(port), "-j", "DNAT", "--to-destination",
                        f"{self.workstation_address}:{port}"], check=True, capture_output=True)


@contextlib.contextmanager
def nat_site(pacs: TestHost) -> Iterator[NatSite]:
    """Add a router and a workstation in front of *pacs* (see :class:`NatSite`)."""
    octet = pacs.address.split(".")[2]
    router, ws = f"{pacs.namespace}rt", f"{pacs.namespace}ws"
    outside, pacs_side = f"vq{octet}ro", f"vq{octet}pr"
    inside, ws_side = f"vq{octet}ri", f"vq{octet}wr"
    r_out, p_in = f"10.216.{octet}.1", f"10.216.{octet}.2"
    r_in, w_addr = f"10.217.{octet}.1", f"10.217.{octet}.2"
    created: list[str] = []
    try:
        for name in (router, ws):
            _ip("netns", "add", name)
            created.append(name)
        _ip("link", "add", outside, "netns", router, "type", "veth", "peer", "name", pacs_side,
            "netns", pacs.namespace)
        _ip("link", "add", inside, "netns", router, "type", "veth", "peer", "name", ws_side,
            "netns", ws)
        commands = [
            (router, ["ip", "addr", "add", f"{r_out}/30", "dev", outside]),
            (router, ["ip", "addr", "add", f"{r_in}/30", "dev", inside]),
            (pacs.namespace, ["ip", "addr", "add", f"{p_in}/30", "dev", pacs_side]),
            (ws, ["ip", "addr", "add", f"{w_addr}/30", "dev", ws_side]),
            (router, ["ip", "link", "set", outside, "up"]),
            (router, ["ip", "link", "set", inside, "up"]),
            (router, ["ip", "link", "set", "lo", "up"]),
            (pacs.namespace, ["ip", "link", "set", pacs_side, "up"]),
            (ws, ["ip", "link", "set", ws_side, "up"]),
            (ws, ["ip", "link", "set", "lo", "up"]),
            (ws, ["ip", "route", "add", "default", "via", r_in]),
            (router, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
            (router, ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", outside,
                      "-j", "MASQUERADE"]),
        ]
        for namespace, command in commands:
            subprocess.run(["ip", "netns", "exec", namespace, *command], check=True,
                           capture_output=True)
        yield NatSite(workstation=ws, router=router, workstation_address=w_addr,
                      router_outside=r_out, router_outside_interface=outside,
                      pacs_address=p_in)
    finally:
        for name in created:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@contextlib.contextmanager
def bare_namespace() -> Iterator[str]:
    """A namespace with only loopback: every other address is unreachable from it."""
    name = f"qrsbare{os.getpid() % 1000}"
    _ip("netns", "add", name)
    try:
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
