"""Who may store to our listener, and whose instances count for a retrieve.

The listener opens a port on a hospital network and writes what arrives to
disk, so by default (:attr:`AcceptPolicy.KNOWN`) it stores only from callers
the user configured: a node's AE title, from that node's host (like
Orthanc's ``DicomAlwaysAllowStore: false`` with ``DicomCheckModalityHost``,
and dcm4chee's accepted callers). The node a running retrieve talks to
counts as known while it runs. Anyone else is refused before it can send
anything: the listener answers its A-ASSOCIATE-RQ with A-ASSOCIATE-RJ
(permanent, calling AE title not recognised; PS3.8 9.3.4), and a hint offers
to add the caller as a node or to allow it until the listener stops. The one
exception is the host of a node a retrieve runs against, calling under
another AE title: it is let in, and each of its C-STOREs that names none of
our requests in its Move Originator fields gets "Refused: Not authorized"
(0x0124, :data:`STATUS_NOT_AUTHORIZED`). :attr:`AcceptPolicy.ANY` stores
from everyone, as a test receiver would.

Whatever the policy, an instance is credited to a retrieve only if it came
from the node of that retrieve: its AE title from its host, or another AE
title from its host with a Move Originator Message ID of that retrieve. A
stranger's forged copy of the study is stored, if the policy lets it, but
never counted as part of the retrieve.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from qrscope.core.profiles import RemoteNode
from qrscope.core.security import AcceptPolicy

__all__ = ["STATUS_NOT_AUTHORIZED", "STATUS_SOP_CLASS_NOT_SUPPORTED", "SenderDecision",
           "SenderPolicy", "host_matches", "node_addresses"]

# PS3.7 C.5 (general status codes): "Refused: Not authorized".
STATUS_NOT_AUTHORIZED = 0x0124
# PS3.7 C.5: "Refused: SOP Class not supported", for a C-STORE on a context of
# another class (a Verification context is open to any caller).
STATUS_SOP_CLASS_NOT_SUPPORTED = 0x0122
_RESOLVED_FOR_SECONDS = 300.0
_resolved: dict[str, tuple[float, frozenset[str]]] = {}
_resolved_lock = threading.Lock()


def _normalise(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def _addresses(host: str) -> frozenset[str]:
    """The addresses *host* stands for (an IP literal is itself), cached a few minutes."""
    host = host.strip()
    try:
        return frozenset({_normalise(str(ipaddress.ip_address(host)))})
    except ValueError:
        pass
    now = time.monotonic()
    with _resolved_lock:
        cached = _resolved.get(host)
        if cached is not None and now - cached[0] < _RESOLVED_FOR_SECONDS:
            return cached[1]
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        found = frozenset(_normalise(str(info[4][0])) for info in infos)
    except OSError:
        found = frozenset()
    with _resolved_lock:
        _resolved[host] = (now, found)
    return found


def node_addresses(host: str) -> frozenset[str]:
    """The addresses a node's host stands for (resolved, cached)."""
    return _addresses(host)


def host_matches(host: str, address: str) -> bool:
    """Whether a peer at *address* is the host a node names (``localhost``, names, IPs)."""
    peer = _normalise(address)
    if not host.strip():
        return True
    found = _addresses(host)
    if peer in found:
        return True
    if _is_ip(host):
        return False  # an address is exact: 127.0.0.2 is not 127.0.0.1
    # A name for this machine (localhost, its host name: 127.0.1.1 on Debian)
    # while the peer connects from another loopback address.
    try:
        return ipaddress.ip_address(peer).is_loopback and any(
            ipaddress.ip_address(a).is_loopback for a in found)
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip())
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class SenderDecision:
    """Whether a caller may store to us, and as whom."""

    allowed: bool
    node_name: str = ""
    reason: str = ""


class SenderPolicy:
    """The accept policy of one listener; thread-safe, asked once per C-STORE.

    Parameters
    ----------
    policy : AcceptPolicy
        ``known`` or ``any``.
    nodes : callable
        Returns the configured nodes now (the profiles change while it runs).
    """

    def __init__(self, policy: AcceptPolicy,
                 nodes: Callable[[], Iterable[RemoteNode]] = tuple) -> None:
        self.policy = policy
        self._nodes = nodes
        self._lock = threading.Lock()
        self._retrieving: dict[int, RemoteNode] = {}
        self._allowed_once: set[tuple[str, str]] = set()

    def retrieving_from(self, key: int, node: RemoteNode | None) -> None:
        """A retrieve from *node* runs (None: it ended); its node counts as known meanwhile."""
        with self._lock:
            if node is None:
                self._retrieving.pop(key, None)
            else:
                self._retrieving[key] = node

    def allow(self, ae_title: str, address: str) -> None:
        """Let this caller store from now on, until the listener stops (the user's choice)."""
        with self._lock:
            self._allowed_once.add((ae_title.strip(), _normalise(address)))

    def known_host(self, address: str) -> bool:
        """Whether *address* is the host of a configured node, of a retrieve's node,
        or of a caller the user allowed (whatever AE title it calls with).

        The listener keeps room for such addresses and never penalises them.
        """
        peer = _normalise(address)
        with self._lock:
            retrieving = list(self._retrieving.values())
            allowed = any(where == peer for _title, where in self._allowed_once)
        return allowed or any(host_matches(node.host, address)
                              for node in [*retrieving, *self._nodes()])

    def decide(self, calling_ae: str, address: str) -> SenderDecision:
        calling_ae = calling_ae.strip()
        with self._lock:
            retrieving = list(self._retrieving.values())
            allowed = (calling_ae, _normalise(address)) in self._allowed_once
        for node in [*retrieving, *self._nodes()]:
            if node.ae_title == calling_ae and host_matches(node.host, address):
                return SenderDecision(True, node.name)
        if allowed:
            return SenderDecision(True, reason="allowed by the user")
        if self.policy is AcceptPolicy.ANY:
            return SenderDecision(True, reason="the listener accepts any caller")
        known_title = [n for n in [*retrieving, *self._nodes()] if n.ae_title == calling_ae]
        if known_title:
            where = ", ".join(sorted({n.host for n in known_title}))
            return SenderDecision(False, reason=f"'{calling_ae}' is a known node, but at "
                                  f"{where}, not {_normalise(address)}")
        return SenderDecision(False, reason=f"'{calling_ae}' at {_normalise(address)} is not "
                              "a known node")
