"""Hints: what went wrong, in plain words, with the evidence and what to change.

A :class:`Hint` is built from a core failure (``AssociationFailure``,
``ListenerError``) and the settings involved, so that it can name the real
AE titles, addresses and ports. The CLI lists hints by id in ``--json``; the
GUI shows the current one with buttons for the actions it can perform.
This module covers connection, association and listener failures; the
retrieve-specific catalogue builds on the same types.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from qrscope.core.net.connection import AssociationFailure, FailureReason
from qrscope.core.net.secrets import has_password_store
from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode, RetrieveMethod
from qrscope.diagnosis.catalogue import catalogue_ids
from qrscope.diagnosis.port_owner import find_port_owner

if TYPE_CHECKING:  # the listener itself only for the hints about it
    from qrscope.core.receive.listener import ListenerError

__all__ = ["Action", "Hint", "hint_for_failure", "hint_for_listener_error",
           "hint_for_profile_problems", "use_model"]


@dataclass(frozen=True)
class Action:
    """Something to do about a hint; ``kind`` tells a front end whether it can do it.

    Kinds the GUI acts on: ``edit-node`` and ``edit-local`` (with ``field``:
    they only take the user to the field, so their label starts with "Edit"),
    ``set-node`` (with ``node``, ``field`` and ``value``: the change is made
    and saved), ``set-local`` (with ``field`` and ``value``), ``retry``
    (verify again), ``retry-job``, ``switch-to-get``, ``switch-to-move``,
    ``set-method`` (with ``value`` = "move" or "get"), ``listener-free-port``,
    ``copy`` (with ``value``), ``add-sender`` and ``allow-sender`` (with
    ``value`` = "AE title@address"). Others are advice.
    """

    label: str
    kind: str = "advice"
    field: str = ""
    value: str = ""
    node: str = ""
    """The node a ``set-node`` action changes (by name): not necessarily the one selected."""


@dataclass(frozen=True)
class Hint:
    id: str
    title: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    causes: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.id not in catalogue_ids():
            raise ValueError(f"hint id '{self.id}' is not in the catalogue")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_text(self) -> str:
        lines = [f"{self.title} [{self.id}]", self.summary]
        lines += [f"  likely: {cause}" for cause in self.causes]
        lines += [f"  do: {action.label}" for action in self.actions]
        return "\n".join(lines)


def use_model(node: RemoteNode, model: QueryModel) -> Action:
    """Switch *node* to *model* (saved): what a PACS that refuses the other needs."""
    words = "Study Root" if model is QueryModel.STUDY_ROOT else "Patient Root"
    return Action(f"Use the {words} model for this node", "set-node", "query_model",
                  model.value, node.name)


def _where(node: RemoteNode) -> str:
    return f"{node.host}:{node.port}"


def hint_for_failure(failure: AssociationFailure, node: RemoteNode, local: LocalAE) -> Hint:
    """The hint for a failed association to *node*."""
    evidence = {k: v for k, v in failure.evidence.items() if v not in (None, "")}
    builder = _BUILDERS.get(failure.reason, _generic)
    return builder(failure, node, local, evidence)


def _refused(f: AssociationFailure, node: RemoteNode, local: LocalAE,
             ev: dict[str, Any]) -> Hint:
    return Hint(
        id="connection-refused", title=f"Nothing answers at {_where(node)}",
        summary=f"The computer at {node.host} answered, but no DICOM service is listening on "
                f"port {node.port}: the connection was refused at once.",
        evidence=ev,
        causes=[f"the port is wrong: is '{node.name}' really on port {node.port}?",
                "the PACS service is stopped on that computer",
                "a firewall on that computer rejects the port"],
        actions=[Action("Edit the node's port", "edit-node", "port"),
                 Action("Verify again", "retry")])


def _timeout(f: AssociationFailure, node: RemoteNode, local: LocalAE,
             ev: dict[str, Any]) -> Hint:
    return Hint(
        id="connection-timeout", title=f"No answer from {_where(node)}",
        summary=f"Nothing came back from {node.host} within {node.timeouts.connect:g} s: "
                "the packets are dropped on the way or the host is down.",
        evidence=ev,
        causes=["a firewall between here and the PACS drops the connection",
                f"the address {node.host} is wrong or the host is switched off",
                "a VPN or route to that network is missing"],
        actions=[Action("Edit the node's host", "edit-node", "host"),
                 Action("Verify again", "retry")])


def _not_found(f: AssociationFailure, node: RemoteNode, local: LocalAE,
               ev: dict[str, Any]) -> Hint:
    return Hint(
        id="host-not-found", title=f"'{node.host}' is not a known host name",
        summary=f"The name {node.host} could not be turned into an address.",
        evidence=ev,
        causes=["a typing error in the host name", "the DNS server does not know the name",
                "the name only resolves inside a VPN that is not connected"],
        actions=[Action("Edit the node's host (or use its IP address)", "edit-node", "host")])


def _called(f: AssociationFailure, node: RemoteNode, local: LocalAE,
            ev: dict[str, Any]) -> Hint:
    return Hint(
        id="association-rejected-called-aet",
        title=f"The PACS does not answer to '{node.ae_title}'",
        summary=f"{_where(node)} rejected the association because the called AE title "
                f"'{node.ae_title}' is not its own.",
        evidence=ev,
        causes=["the AE title of the node is mistyped (AE titles are case-sensitive)",
                "another service listens on that port with a different AE title"],
        actions=[Action("Edit the node's AE title", "edit-node", "ae_title"),
                 Action("Ask the PACS administrator for the exact AE title")])


def _calling(f: AssociationFailure, node: RemoteNode, local: LocalAE,
             ev: dict[str, Any]) -> Hint:
    return Hint(
        id="association-rejected-calling-aet",
        title=f"The PACS does not know us as '{local.ae_title}'",
        summary=f"'{node.name}' rejected our calling AE title '{local.ae_title}': the PACS "
                "only accepts workstations it has been told about.",
        evidence=ev,
        causes=[f"'{local.ae_title}' is not registered on the PACS",
                "it is registered with another IP address than this computer's"],
        actions=[Action(f"Ask the PACS administrator to add AE '{local.ae_title}'", "copy",
                        value=local.ae_title),
                 Action("Edit our AE title (to one the PACS knows)", "edit-local", "ae_title")])


def _rejected(f: AssociationFailure, node: RemoteNode, local: LocalAE,
              ev: dict[str, Any]) -> Hint:
    transient = ev.get("result") == 2
    return Hint(
        id="association-rejected", title=f"'{node.name}' rejected the association",
        summary=f"{f.message}.",
        evidence=ev,
        causes=(["the PACS is busy (too many associations); try again shortly"] if transient
                else ["the PACS refuses this combination of AE titles or protocol"]),
        actions=[Action("Try again", "retry")])


def _aborted(f: AssociationFailure, node: RemoteNode, local: LocalAE,
             ev: dict[str, Any]) -> Hint:
    return Hint(
        id="association-aborted", title=f"'{node.name}' aborted the association",
        summary=f"{f.message}. Some servers abort instead of rejecting when they do not "
                f"know the calling AE title '{local.ae_title}'.",
        evidence=ev,
        causes=[f"our AE title '{local.ae_title}' is not registered on the PACS",
                "the PACS hit an internal error", "a network device cut the connection"],
        actions=[Action(f"Ask the PACS administrator to register '{local.ae_title}'", "copy",
                        value=local.ae_title),
                 Action("Try again", "retry")])


def _no_context(f: AssociationFailure, node: RemoteNode, local: LocalAE,
                ev: dict[str, Any]) -> Hint:
    accepted = str(ev.get("accepted", ""))
    advice = []
    if str(ev.get("wanted", "")).upper().endswith("GET"):
        # C-MOVE is what almost every PACS offers; the C-GET association did not
        # propose it, so its absence from "accepted" says nothing.
        advice.append(Action("Retrieve with C-MOVE instead", "switch-to-move"))
        if node.retrieve_method is RetrieveMethod.GET:
            advice.append(Action("Make C-MOVE the node's method", "set-method", value="move"))
    if "Patient Root" in str(ev.get("wanted", "")) and "Study Root" in accepted:
        advice.append(use_model(node, QueryModel.STUDY_ROOT))
    elif "Root" in str(ev.get("wanted", "")) and not accepted:
        # Nothing accepted at all: the PACS may offer the other model.
        advice.append(use_model(node, QueryModel.PATIENT_ROOT
                                if node.query_model is QueryModel.STUDY_ROOT
                                else QueryModel.STUDY_ROOT))
    return Hint(
        id="no-accepted-context", title=f"'{node.name}' does not offer {ev.get('wanted', '')}",
        summary=_no_context_summary(str(ev.get("wanted", "")), accepted),
        evidence=ev, causes=["the PACS does not support that service or model"],
        actions=advice or [Action("Ask the PACS administrator which services it offers")])


def _no_context_summary(wanted: str, accepted: str) -> str:
    """Say what is missing in words; the accepted list (often storage classes
    only, on a C-GET association) stays in the evidence."""
    operation = next((f"C-{op}" for op in ("GET", "MOVE", "FIND", "ECHO")
                      if wanted.upper().endswith(op)), "")
    service = f"{operation} ({wanted})" if operation else (wanted or "the service we asked for")
    offered = [part.strip() for part in accepted.split(",")
               if "Find" in part or "Move" in part or "Get" in part or "Root" in part]
    also = f" It offers {', '.join(offered)}." if offered else ""
    return (f"The PACS accepted the connection but refused {service}: it does not offer "
            f"that service to us.{also}")


def _assoc_timeout(f: AssociationFailure, node: RemoteNode, local: LocalAE,
                   ev: dict[str, Any]) -> Hint:
    return Hint(
        id="association-aborted", title=f"'{node.name}' did not answer the association request",
        summary=f.message + ".", evidence=ev,
        causes=["the port belongs to a service that does not speak DICOM (e.g. a web server)",
                "the PACS is overloaded"],
        actions=[Action("Edit the node's port", "edit-node", "port")])


def _generic(f: AssociationFailure, node: RemoteNode, local: LocalAE,
             ev: dict[str, Any]) -> Hint:
    return Hint(id="connection-failed", title=f"Cannot talk to '{node.name}'", summary=f.message,
                evidence=ev, actions=[Action("Try again", "retry")])


def _tls_trust(f: AssociationFailure, node: RemoteNode, local: LocalAE,
               ev: dict[str, Any]) -> Hint:
    trusted = (f"the CA file {node.tls.ca_file}" if node.tls.ca_file
               else "the system's trusted CAs (no CA file is set)")
    return Hint(
        id="tls-unknown-ca", title=f"'{node.name}' has a certificate we do not trust",
        summary=f"The certificate of {_where(node)} is not signed by {trusted}. "
                f"OpenSSL: {ev.get('tls_error', '')}.",
        evidence=ev,
        causes=["the PACS uses a hospital-internal or self-signed CA",
                "the CA file is for another server",
                "something between here and the PACS intercepts the connection"],
        actions=[Action("Edit the node's TLS settings (its CA file)", "edit-node", "tls"),
                 Action("Ask the PACS administrator for its CA certificate (PEM)")])


def _tls_name(f: AssociationFailure, node: RemoteNode, local: LocalAE,
              ev: dict[str, Any]) -> Hint:
    return Hint(
        id="tls-name-mismatch", title=f"The certificate of '{node.name}' is for another host",
        summary=f"We called {node.host}, but the certificate it presented does not name "
                f"{node.host}. OpenSSL: {ev.get('tls_error', '')}.",
        evidence=ev,
        causes=["the node is configured by IP address or an alias its certificate lacks",
                "another server answers at that address"],
        actions=[Action("Edit the node's host (to a name its certificate lists)", "edit-node",
                        "host"),
                 Action("Ask for a certificate that includes this name")])


def _tls_expired(f: AssociationFailure, node: RemoteNode, local: LocalAE,
                 ev: dict[str, Any]) -> Hint:
    return Hint(
        id="tls-certificate-expired", title=f"The certificate of '{node.name}' is not valid now",
        summary=f"{_where(node)} presented a certificate outside its validity period. "
                f"OpenSSL: {ev.get('tls_error', '')}.",
        evidence=ev,
        causes=["the PACS's certificate has expired", "this computer's clock is wrong"],
        actions=[Action("Ask the PACS administrator to renew the certificate"),
                 Action("Verify again", "retry")])


def _tls_not_offered(f: AssociationFailure, node: RemoteNode, local: LocalAE,
                     ev: dict[str, Any]) -> Hint:
    return Hint(
        id="tls-not-offered", title=f"'{node.name}' does not speak TLS on port {node.port}",
        summary=f"We started TLS with {_where(node)}; it answered without TLS or closed. "
                f"OpenSSL: {ev.get('tls_error', '')}.",
        evidence=ev,
        causes=["this is the plain DICOM port; the TLS port is another (often 2762)",
                "TLS is switched off on the PACS"],
        actions=[Action("Edit the node's port (its TLS port, often 2762)", "edit-node",
                        "port"),
                 Action("Switch TLS off for this node", "set-node", "tls", "off",
                        node.name)])


def _tls_required(f: AssociationFailure, node: RemoteNode, local: LocalAE,
                  ev: dict[str, Any]) -> Hint:
    return Hint(
        id="tls-required", title=f"'{node.name}' expects TLS on port {node.port}",
        summary=f"{_where(node)} closed our plain DICOM connection, and it completes a TLS "
                "handshake: the port expects DICOM over TLS.",
        evidence=ev, causes=["the node is a TLS port but TLS is off in its settings"],
        actions=[Action("Switch TLS on for this node", "set-node", "tls", "on", node.name)])


def _tls_handshake(f: AssociationFailure, node: RemoteNode, local: LocalAE,
                   ev: dict[str, Any]) -> Hint:
    error = str(ev.get("tls_error", ""))
    wants_cert = "CERTIFICATE" in error.upper() and not node.tls.cert_file
    return Hint(
        id="tls-handshake-failed", title=f"TLS with '{node.name}' failed",
        summary=(f"{_where(node)} refused the TLS handshake: it wants a client certificate "
                 f"and we have none set. OpenSSL: {error}." if wants_cert else
                 f"{f.message}."),
        evidence=ev,
        causes=["the node requires a client certificate, or refused ours",
                "no TLS version (1.2 or later) or cipher is common to both"],
        actions=[Action("Edit our certificate and key for this node", "edit-node", "tls"),
                 Action("Ask the PACS administrator which CA it trusts for clients")])


def _tls_settings(f: AssociationFailure, node: RemoteNode, local: LocalAE,
                  ev: dict[str, Any]) -> Hint:
    return Hint(id="tls-settings-invalid", title=f"The TLS settings of '{node.name}' are unusable",
                summary=f.message + "; nothing was sent.", evidence=ev,
                actions=[Action("Edit the node's TLS files", "edit-node", "tls")])


def _identity_rejected(f: AssociationFailure, node: RemoteNode, local: LocalAE,
                       ev: dict[str, Any]) -> Hint:
    user = node.identity.username
    return Hint(
        id="user-identity-rejected", title=f"'{node.name}' rejected user '{user}'",
        summary=f"{f.message}. We sent the user identity '{user}' "
                f"({node.identity.kind.value}); AE titles were not the reason given.",
        evidence=ev,
        causes=["the passcode is wrong or has changed", f"the account '{user}' is unknown "
                "to the node or may not use DICOM",
                "the node wants a user name and passcode and got only a user name"],
        actions=[Action("Edit the user name and passcode", "edit-node", "identity"),
                 Action("Verify again", "retry")])


def _passcode_missing(f: AssociationFailure, node: RemoteNode, local: LocalAE,
                      ev: dict[str, Any]) -> Hint:
    if not has_password_store():
        return Hint(
            id="user-identity-passcode-missing", title=f"No passcode for '{node.name}'",
            summary=f"{f.message}; nothing was sent.", evidence=ev,
            causes=["this computer has no password store: qrscope keeps a passcode only "
                    "until you quit, and none was entered since it started"],
            actions=[Action("Edit the node's passcode (kept until you quit)", "edit-node",
                            "identity")])
    return Hint(
        id="user-identity-passcode-missing", title=f"No passcode for '{node.name}'",
        summary=f"{f.message}; nothing was sent.", evidence=ev,
        causes=["the passcode was never entered on this computer",
                "the system password store is locked"],
        actions=[Action("Edit the node's passcode", "edit-node", "identity")])


_BUILDERS = {
    FailureReason.CONNECTION_REFUSED: _refused,
    FailureReason.CONNECTION_TIMEOUT: _timeout,
    FailureReason.HOST_NOT_FOUND: _not_found,
    FailureReason.REJECTED_CALLED_AET: _called,
    FailureReason.REJECTED_CALLING_AET: _calling,
    FailureReason.REJECTED: _rejected,
    FailureReason.ABORTED: _aborted,
    FailureReason.ASSOCIATION_TIMEOUT: _assoc_timeout,
    FailureReason.NO_ACCEPTED_CONTEXT: _no_context,
    FailureReason.TLS_UNKNOWN_CA: _tls_trust,
    FailureReason.TLS_NAME_MISMATCH: _tls_name,
    FailureReason.TLS_EXPIRED: _tls_expired,
    FailureReason.TLS_NOT_OFFERED: _tls_not_offered,
    FailureReason.TLS_REQUIRED: _tls_required,
    FailureReason.TLS_HANDSHAKE_FAILED: _tls_handshake,
    FailureReason.TLS_SETTINGS: _tls_settings,
    FailureReason.USER_IDENTITY_REJECTED: _identity_rejected,
    FailureReason.PASSCODE_MISSING: _passcode_missing,
}


def hint_for_listener_error(error: ListenerError, local: LocalAE) -> Hint:
    """The hint for a listener that could not start."""
    port = local.listener_port
    if error.reason == "listener-port-in-use":
        owner = find_port_owner(port)
        who = (f"'{owner.name}' (process {owner.pid}: {owner.command[:80]})" if owner
               else "another program (this system does not say which)")
        return Hint(
            id="listener-port-in-use", title=f"Port {port} is taken by another program",
            summary=f"Our storage listener cannot start on port {port}: {who} already "
                    "listens there, and it would receive the images a C-MOVE sends.",
            evidence={**error.evidence, **({"pid": owner.pid, "program": owner.name}
                                           if owner else {})},
            causes=["another DICOM program (a viewer, storescp, a second qrscope) is running",
                    "a previous qrscope did not exit"],
            actions=[Action("Restart the listener on a free port", "listener-free-port"),
                     Action("Edit the listener port (and tell the PACS)", "edit-local",
                            "listener_port")])
    if error.reason == "listener-port-privileged":
        return Hint(
            id="listener-port-privileged", title=f"Port {port} needs administrator rights",
            summary=error.message, evidence=error.evidence,
            causes=["ports below 1024, such as 104, are reserved for the system"],
            actions=[Action("Use port 11112 (or another free one above 1024)", "set-local",
                            "listener_port", "11112")])
    if error.reason == "listener-tls-invalid":
        return Hint(id="listener-tls-invalid", title="The listener's TLS settings are unusable",
                    summary=error.message, evidence=error.evidence,
                    actions=[Action("Edit the listener's certificate and key",
                                    "edit-local", "listener_tls")])
    return Hint(id="listener-not-running", title="The storage listener cannot start",
                summary=error.message, evidence=error.evidence,
                actions=[Action("Edit the listener settings", "edit-local", "bind_address")])


def hint_for_profile_problems(problems: list[str], path: str) -> Hint:
    """What loading the profiles file found, shown when the window opens."""
    return Hint(
        id="profiles-file-damaged",
        title="Some settings could not be read",
        summary=f"{path}: " + "; ".join(problems[:3])
                + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""),
        evidence={"file": path, "problems": list(problems)},
        causes=["the file was edited by hand, or written by another program",
                "the disk or a crash damaged it"],
        actions=[Action("Edit this workstation's settings", "edit-local", "ae_title")])
