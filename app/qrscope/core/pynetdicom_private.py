"""The few places where qrscope reaches into pynetdicom's private state.

Each is here, and nowhere else, with the reason it cannot be done through a
public API; ``tests/core/test_pynetdicom_private.py`` fails loudly when a new
pynetdicom release moves them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["abort_source_and_reason", "end_wait_for_request", "grant_scp_role", "peer_socket",
           "register_server", "wake_reader"]


def wake_reader(assoc: Any) -> None:
    """Unblock a thread waiting in pynetdicom for the next DIMSE message.

    With the DIMSE timeout switched off (a retrieve's waits belong to our
    watchdog), pynetdicom does not wake the reader on every kind of abort or
    dropped connection; an empty message does.
    """
    assoc.dimse.msg_queue.put((None, None))


def grant_scp_role(assoc: Any, sop_classes: set[str]) -> list[str]:
    """Take the SCP role on accepted contexts of *sop_classes* the peer did not grant it on.

    PS3.7 D.3.3.4: when the acceptor of a C-GET association leaves a role
    selection unanswered, the default roles apply and we are only SCU, so
    pynetdicom refuses the peer's C-STOREs on those contexts (0x0122). Orthanc
    1.10 does exactly that for SOP classes it does not know (private ones),
    and sends them all the same; being liberal in what we receive keeps the
    instance. Returns the classes the role was taken for, for the log.
    """
    taken = []
    for context in assoc.accepted_contexts:
        if context.abstract_syntax in sop_classes and not context.as_scp:
            context._as_scp = True
            taken.append(str(context.abstract_syntax))
    return taken


def abort_source_and_reason(primitive: Any) -> tuple[int, int | None]:
    """Source and provider reason of an A-ABORT or A-P-ABORT primitive (PS3.8 9.3.8).

    The public properties raise when a value was never set (an A-P-ABORT has
    no source; a user's A-ABORT no reason), so the private fields are read:
    an unset source counts as the service provider (2).
    """
    source = getattr(primitive, "_abort_source", None)
    reason = getattr(primitive, "_provider_reason", None)
    return (2 if source is None else int(source)), reason


def register_server(ae: Any, server: Any) -> None:
    """Record a server we started ourselves in the AE, as ``AE.start_server`` does.

    ``AE.start_server`` takes no server class, so the listener builds its
    guarded server with the public ``AE.make_server`` and runs it itself;
    ``AssociationServer.shutdown`` then removes the server from the AE's
    private ``_servers`` list and fails if it is not there.
    """
    ae._servers.append(server)


def end_wait_for_request(assoc: Any) -> None:
    """End an acceptor's wait for the A-ASSOCIATE-RQ, as if the ACSE timeout had expired.

    ``Association.run_reactor`` waits on the DUL's ``to_user_queue`` for the
    request for the whole ACSE timeout, even after the connection is gone;
    a ``None`` there is what a timeout returns, so it kills the association
    through pynetdicom's own path.
    """
    assoc.dul.to_user_queue.put(None)


def peer_socket(assoc: Any) -> Any:
    """The socket object pynetdicom reads an association's PDUs from.

    For the listener that is the guard's ``PeerConnection`` (handed over by
    ``AssociationServer.get_request``); EVT_CONN_OPEN gives the association
    but not its socket, which sits in ``assoc.dul.socket.socket``.
    """
    return assoc.dul.socket.socket
