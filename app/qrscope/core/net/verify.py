"""C-ECHO: is the node there, does it accept us, and how fast does it answer."""

from __future__ import annotations

import time
from dataclasses import dataclass

from pynetdicom import AE, build_context
from pynetdicom.sop_class import Verification

from qrscope.core.dicom.status import Service, StatusInfo, decode_status
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import make_ae, next_message_id, open_association, require_context
from qrscope.core.profiles import LocalAE, RemoteNode

__all__ = ["EchoResult", "verify"]


@dataclass(frozen=True)
class EchoResult:
    node: str
    status: StatusInfo | None
    """``None`` when the association ended before a response arrived."""
    association_ms: float
    """TCP connect plus association negotiation."""
    echo_ms: float
    """C-ECHO request to response: the DICOM round-trip time."""
    association_id: str
    local_address: str

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status.code == 0


def verify(node: RemoteNode, local: LocalAE, log: AssociationLog, ae: AE | None = None,
           debug: bool = False) -> EchoResult:
    """Associate, send one C-ECHO, release.

    Raises ``AssociationFailure`` when the association cannot be made.
    """
    ae = ae or make_ae(local, node)
    started = time.perf_counter()
    out = open_association(ae, node, log, [build_context(Verification)], debug=debug)
    associated = time.perf_counter()
    try:
        require_context(out, node, str(Verification), "C-ECHO", "verification")
        status = out.assoc.send_c_echo(msg_id=next_message_id())
        answered = time.perf_counter()
    finally:
        out.close()
    info = decode_status(Service.ECHO, int(status.Status)) if "Status" in status else None
    return EchoResult(
        node=node.name,
        status=info,
        association_ms=(associated - started) * 1000,
        echo_ms=(answered - associated) * 1000,
        association_id=out.association_id,
        local_address=out.local_address,
    )
