"""The entries a PACS administrator must add for us, per product.

Two tables matter: the move destinations (where C-MOVE sends our images) and,
on PACS that only serve AE titles they know, the callers allowed to query and
retrieve. Most products use one table for both (Orthanc's DicomModalities,
dcmqrscp's HostTable with the storage area's peer list).


For move destinations: DICOM defines no way for a PACS to learn a move destination: each product has
its own table (PS3.4 C.4.2.1.4 leaves the mapping to the SCP). These are the
ready-to-paste lines for the common ones, filled with our AE title, the
address at which the PACS reaches us, and the listener port.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

__all__ = ["CallingAeEntry", "MoveDestinationEntry", "is_wildcard", "reachable_address"]


def is_wildcard(address: str) -> bool:
    """An address that names no interface (0.0.0.0, ::, empty): a PACS cannot call it."""
    try:
        return not address or ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def reachable_address(seen: str, host: str, port: int, bind_address: str) -> str:
    """The address at which the PACS at *host* reaches us; never a wildcard.

    *seen* is our end of an association to that PACS (what it saw us call
    from), the best evidence there is. Without it, the kernel's route to the
    PACS names the interface: a UDP "connect" sends nothing, it only picks
    the local address. A listener bound to one address is reached there;
    failing all of these, this computer's host name.
    """
    if not is_wildcard(seen):
        return seen
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((host, port or 104))
            routed = str(probe.getsockname()[0])
        if not is_wildcard(routed):
            return routed
    except OSError:
        pass
    return bind_address if not is_wildcard(bind_address) else socket.gethostname()


@dataclass(frozen=True)
class MoveDestinationEntry:
    ae_title: str
    address: str
    port: int
    tls: bool = False

    def orthanc(self) -> str:
        return (f'"DicomModalities" : {{\n  "{self.ae_title.lower()}" : '
                f'[ "{self.ae_title}", "{self.address}", {self.port} ]\n}}')

    def dcmqrscp(self) -> str:
        return (f"HostTable BEGIN\n{self.ae_title.lower()} = ({self.ae_title}, {self.address}, "
                f"{self.port})\nHostTable END")

    def conquest(self) -> str:
        return f"{self.ae_title:<16} {self.address:<16} {self.port:<6} un"

    def dcm4chee(self) -> str:
        return (f"In the archive UI, Configuration: create a device for this workstation "
                f"with a network connection {self.address}:{self.port} and a network AE "
                f"'{self.ae_title}' on it; the archive then accepts {self.ae_title} as a "
                "move destination")

    def horos(self) -> str:
        return (f"Preferences > Locations > DICOM Nodes: + ; AE Title {self.ae_title}, "
                f"Address {self.address}, Port {self.port}, Q&R and Send enabled")

    def snippets(self) -> dict[str, str]:
        return {
            "Orthanc (orthanc.json)": self.orthanc(),
            "DCMTK dcmqrscp (dcmqrscp.cfg)": self.dcmqrscp(),
            "Conquest (acrnema.map)": self.conquest(),
            "dcm4chee-arc": self.dcm4chee(),
            "Horos / OsiriX": self.horos(),
        }

    def card(self) -> str:
        """The plain text an administrator needs, whatever the product."""
        return (f"Please add this DICOM node as a move destination (C-MOVE SCP table):\n"
                f"  AE title : {self.ae_title}\n  IP address: {self.address}\n"
                f"  Port     : {self.port}\n  TLS      : {'yes' if self.tls else 'no'}")


@dataclass(frozen=True)
class CallingAeEntry:
    """What lets our AE title query and retrieve on a PACS that serves only callers it knows.

    The address is the one our association comes from; the port is our
    listener's, so the same entry also serves as the C-MOVE destination.
    """

    ae_title: str
    address: str
    port: int

    def snippets(self) -> dict[str, str]:
        name = self.ae_title.lower()
        return {
            "Orthanc (orthanc.json)":
                f'"DicomModalities" : {{\n  "{name}" : [ "{self.ae_title}", "{self.address}", '
                f"{self.port} ]\n}}",
            "DCMTK dcmqrscp (dcmqrscp.cfg)":
                f"HostTable BEGIN\n{name} = ({self.ae_title}, {self.address}, {self.port})\n"
                f"HostTable END\n# and name {name} (or ANY) in the Peers column of the "
                "storage area's line in the AETable",
            "Conquest (acrnema.map)":
                f"{self.ae_title:<16} {self.address:<16} {self.port:<6} un",
            "dcm4chee-arc":
                f"In the archive UI, Configuration: create a device with a network AE "
                f"'{self.ae_title}' at {self.address}:{self.port}; if the archive AE lists "
                f"Accepted Calling AE Titles, add '{self.ae_title}' there",
            "Horos / OsiriX":
                f"Preferences > Locations > DICOM Nodes: + ; AE Title {self.ae_title}, Address "
                f"{self.address}, Port {self.port}, Q&R enabled (Horos refuses unknown "
                "callers when the listener accepts only known nodes)",
        }

    def card(self) -> str:
        """The plain text an administrator needs, whatever the product."""
        return (f"Please allow this DICOM node to query and retrieve (C-FIND, C-MOVE, C-GET), "
                f"and register it as a move destination:\n  AE title : {self.ae_title}\n"
                f"  IP address: {self.address}\n  Port     : {self.port}")
