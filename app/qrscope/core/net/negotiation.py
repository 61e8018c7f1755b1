"""What an association negotiated, as the log keeps it and as people read it.

When a C-GET or a send fails on presentation contexts, the first thing an
integrator needs is the negotiation itself (Wireshark and DVTk show it): each
context proposed in the A-ASSOCIATE-RQ (ID, abstract syntax, transfer
syntaxes, the SCP/SCU role asked for), the A-ASSOCIATE-AC's answer to it
(accepted with which transfer syntax, or the PS3.8 9.3.3.2 reason), the roles
granted (PS3.7 D.3.3.4), both maximum PDU lengths (PS3.8 D.1), the
implementation of each side (PS3.7 D.3.3.2-3) and the asynchronous operations
window (PS3.7 D.3.3.3).

:func:`describe_request` and :func:`describe_answer` turn pynetdicom's public
A-ASSOCIATE primitives into the ``detail`` of a log event: plain dicts, one
per context. :func:`negotiation_lines` renders that detail as text, one line
per context, for the command line (``-vv``) and the window's detail pane.

The log keeps 50,000 events for days and a peer may send the listener 128
contexts of dozens of syntaxes each: every context is kept, but the names of
UIDs, the tuples of syntaxes and the context entries of repeated requests are
shared between events (a PACS proposes the same contexts on every C-MOVE),
and syntaxes whose UID has no name (each a string of its own) are kept up to
:data:`UNNAMED_SYNTAXES_KEPT` per request and counted beyond.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from pydicom.uid import UID
from pynetdicom.pdu_primitives import (
    AsynchronousOperationsWindowNegotiation,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    SCP_SCU_RoleSelectionNegotiation,
)

from qrscope.core.net.association_log import AssociationEvent, Direction

__all__ = [
    "CONTEXTS_KEPT",
    "RENDERED_KEYS",
    "SYNTAXES_KEPT",
    "UNNAMED_SYNTAXES_KEPT",
    "context_result",
    "describe_answer",
    "describe_request",
    "negotiation_lines",
]

CONTEXTS_KEPT = 128
"""Every context a valid request can carry: IDs are the odd numbers 1-255 (PS3.8 9.3.2.2)."""
SYNTAXES_KEPT = 64
"""Per context: more than the transfer syntaxes DICOM defines (pynetdicom knows 45)."""
UNNAMED_SYNTAXES_KEPT = 256
"""Per request: transfer syntax UIDs without a name (private or made up) named in full."""
RENDERED_KEYS = frozenset({
    "contexts", "more_contexts", "max_pdu", "max_pdu_requestor", "max_pdu_acceptor",
    "implementation_class_uid", "implementation_version_name", "async_ops",
    "accepted_contexts", "rejected_contexts", "accepted", "rejected",
})
"""Detail keys :func:`negotiation_lines` shows; a generic view need not repeat them."""

# PS3.8 9.3.3.2, Presentation Context Item (A-ASSOCIATE-AC), Result/Reason.
_RESULTS = {
    0: "accepted",
    1: "user-rejection",
    2: "no-reason",
    3: "abstract-syntax-not-supported",
    4: "transfer-syntaxes-not-supported",
}


def context_result(result: int | None) -> str:
    """A context's Result/Reason as the word PS3.8 9.3.3.2 uses for it."""
    if result is None:
        return "no-answer"
    return _RESULTS.get(result, f"result-{result}")


@lru_cache(maxsize=4096)
def _uid(uid: str) -> str:
    """One shared string for each UID: pynetdicom makes a new one for every request."""
    return str(uid)


@lru_cache(maxsize=4096)
def _name(uid: str) -> str:
    """The UID's name (one shared string per UID), or the UID when it has none."""
    name = UID(uid).name
    return name if name and name != uid else str(uid)


def _named(uid: str) -> bool:
    return _name(uid) != uid


@lru_cache(maxsize=1024)
def _uids(uids: tuple[str, ...]) -> tuple[str, ...]:
    """One shared tuple for each list of transfer syntax UIDs seen."""
    return uids


@lru_cache(maxsize=1024)
def _syntax_names(uids: tuple[str, ...]) -> tuple[str, ...]:
    """One shared tuple for each list of transfer syntaxes seen, by name."""
    return tuple(_name(uid) for uid in uids)


def _role_text(scu: bool | None, scp: bool | None) -> str:
    """PS3.7 D.3.3.4: the roles a requestor proposes for itself, or is granted."""
    return "+".join(name for name, on in (("SCU", scu), ("SCP", scp)) if on) or "neither"


def _items(user_information: Iterable[Any] | None, kind: type) -> list[Any]:
    return [item for item in user_information or () if isinstance(item, kind)]


def _roles(primitive: Any) -> dict[str, str]:
    """The SCP/SCU Role Selection items of an A-ASSOCIATE primitive, by SOP Class UID."""
    return {str(item.sop_class_uid): _role_text(item.scu_role, item.scp_role)
            for item in _items(primitive.user_information, SCP_SCU_RoleSelectionNegotiation)}


def _common(primitive: Any) -> dict[str, Any]:
    """What either side states about itself: implementation, asynchronous operations."""
    out: dict[str, Any] = {}
    items = primitive.user_information
    for item in _items(items, ImplementationClassUIDNotification)[:1]:
        out["implementation_class_uid"] = str(item.implementation_class_uid)
    for item in _items(items, ImplementationVersionNameNotification)[:1]:
        version = item.implementation_version_name
        out["implementation_version_name"] = (
            version.decode("ascii", "replace") if isinstance(version, bytes) else str(version))
    window = _items(items, AsynchronousOperationsWindowNegotiation)
    if window:
        out["async_ops"] = [window[0].maximum_number_operations_invoked,
                            window[0].maximum_number_operations_performed]
    return out


@lru_cache(maxsize=4096)
def _proposed_entry(context_id: int | None, abstract: str, syntaxes: tuple[str, ...],
                    more: int, role: str | None) -> dict[str, Any]:
    """One proposed context; equal contexts of repeated requests share the entry.

    Shared between events: the log never changes a detail once emitted
    (masking builds new dicts).
    """
    entry: dict[str, Any] = {"id": context_id, "abstract_syntax": _name(abstract),
                             "uid": abstract, "transfer_syntaxes": _syntax_names(syntaxes)}
    if more:
        entry["more_transfer_syntaxes"] = more
    if role is not None:
        entry["role"] = role
    return entry


def describe_request(primitive: Any) -> dict[str, Any]:
    """The detail of an A-ASSOCIATE-RQ: every context proposed, roles, PDU, implementation."""
    proposed = list(primitive.presentation_context_definition_list or ())
    roles = _roles(primitive)
    unnamed_left = UNNAMED_SYNTAXES_KEPT
    contexts = []
    for cx in proposed[:CONTEXTS_KEPT]:
        kept: list[str] = []
        for uid in cx.transfer_syntax[:SYNTAXES_KEPT]:
            if not _named(uid):
                if unnamed_left == 0:
                    continue
                unnamed_left -= 1
            kept.append(_uid(uid))
        abstract = _uid(cx.abstract_syntax)
        contexts.append(_proposed_entry(cx.context_id, abstract, _uids(tuple(kept)),
                                        len(cx.transfer_syntax) - len(kept),
                                        roles.get(abstract)))
    detail: dict[str, Any] = {
        "calling_ae": str(primitive.calling_ae_title),
        "called_ae": str(primitive.called_ae_title),
        "max_pdu": primitive.maximum_length_received,
        **_common(primitive),
        "contexts": contexts,
    }
    if len(proposed) > len(contexts):
        detail["more_contexts"] = len(proposed) - len(contexts)
    return detail


@lru_cache(maxsize=4096)
def _answer_entry(context_id: int | None, abstract: str, result: int | None,
                  syntax: str | None, role: str | None) -> dict[str, Any]:
    """One answered context (shared like :func:`_proposed_entry`)."""
    entry: dict[str, Any] = {"id": context_id, "abstract_syntax": _name(abstract) if abstract
                             else "", "uid": abstract, "result": context_result(result)}
    if syntax is not None:
        entry["transfer_syntax"] = _name(syntax)
    if role is not None:
        entry["role"] = role
    return entry


def describe_answer(accept: Any, request: Any | None) -> dict[str, Any]:
    """The detail of an A-ASSOCIATE-AC, read with the request it answers.

    The AC names each context only by its ID (PS3.8 9.3.3.2): the abstract
    syntax comes from the request. A role is given for each context whose
    class had a role proposed: the AC's item (the roles granted), or
    ``default`` when the acceptor left it unanswered, so that the default
    roles apply (PS3.7 D.3.3.4).
    """
    proposed = {cx.context_id: _uid(cx.abstract_syntax)
                for cx in (request.presentation_context_definition_list if request else ())}
    asked = _roles(request) if request is not None else {}
    granted = _roles(accept)
    answered = list(accept.presentation_context_definition_results_list or ())
    contexts = []
    for cx in answered[:CONTEXTS_KEPT]:
        abstract = proposed.get(cx.context_id) or _uid(cx.abstract_syntax or "")
        accepted = cx.result == 0
        syntax = _uid(cx.transfer_syntax[0]) if accepted and cx.transfer_syntax else None
        role = granted.get(abstract, "default") if accepted and abstract in asked else None
        contexts.append(_answer_entry(cx.context_id, abstract, cx.result, syntax, role))
    accepted_count = sum(1 for cx in answered if cx.result == 0)
    detail: dict[str, Any] = {
        "max_pdu_requestor": request.maximum_length_received if request is not None else None,
        "max_pdu_acceptor": accept.maximum_length_received,
        **_common(accept),
        "accepted": accepted_count,
        "rejected": len(answered) - accepted_count,
        "contexts": contexts,
    }
    if len(answered) > len(contexts):
        detail["more_contexts"] = len(answered) - len(contexts)
    return detail


# -- as text -------------------------------------------------------------------------------
def _pdu(length: Any) -> str:
    """PS3.8 D.1: zero means no limit."""
    if length is None:
        return "not stated"
    return "no limit" if length == 0 else f"{length} bytes"


def _subject(name: str, uid: str) -> str:
    return f"{name} ({uid})" if uid and name != uid else (uid or "unknown abstract syntax")


def _implementation(detail: dict[str, Any]) -> str:
    uid = detail.get("implementation_class_uid")
    version = detail.get("implementation_version_name")
    text = "implementation " + (uid or "not stated")
    return text + (f" '{version}'" if version else "")


def _async(detail: dict[str, Any]) -> str:
    window = detail.get("async_ops")
    if not window:
        return ""
    return f"; asynchronous operations: {window[0]} invoked, {window[1]} performed"


def _who(event: AssociationEvent, requestor: bool) -> str:
    """'requestor (us)', 'acceptor (PACS)': which side a figure belongs to."""
    ours = (event.direction is Direction.OUTGOING) == requestor
    side = "requestor" if requestor else "acceptor"
    # A request received is logged before pynetdicom names its caller: its AE
    # titles are those the request itself carries.
    title = event.peer_ae or event.detail.get("calling_ae" if requestor else "called_ae")
    return f"{side} (us)" if ours else f"{side} ({title or 'peer'})"


def _request_lines(event: AssociationEvent, detail: dict[str, Any]) -> list[str]:
    lines = [f"{_who(event, True)}: maximum PDU length {_pdu(detail.get('max_pdu'))}; "
             f"{_implementation(detail)}{_async(detail)}",
             f"{len(detail['contexts']) + detail.get('more_contexts', 0)} presentation "
             "context(s) proposed:"]
    for cx in detail["contexts"]:
        syntaxes = ", ".join(cx["transfer_syntaxes"])
        if cx.get("more_transfer_syntaxes"):
            syntaxes += f" (+{cx['more_transfer_syntaxes']} not recorded)"
        role = f"; role {cx['role']}" if "role" in cx else ""
        lines.append(f"  [{cx['id']:>3}] {_subject(cx['abstract_syntax'], cx['uid'])}: "
                     f"{syntaxes}{role}")
    return lines


def _answer_lines(event: AssociationEvent, detail: dict[str, Any]) -> list[str]:
    lines = [f"{_who(event, False)}: {_implementation(detail)}{_async(detail)}",
             f"maximum PDU length: {_who(event, True)} receives "
             f"{_pdu(detail.get('max_pdu_requestor'))}, {_who(event, False)} receives "
             f"{_pdu(detail.get('max_pdu_acceptor'))}",
             f"{detail.get('accepted', 0)} context(s) accepted, "
             f"{detail.get('rejected', 0)} rejected:"]
    for cx in detail["contexts"]:
        if cx["result"] == "accepted":
            role = f"; roles granted {cx['role']}" if "role" in cx else ""
            answer = f"accepted, {cx.get('transfer_syntax', '?')}{role}"
        else:
            answer = f"rejected: {cx['result']}"
        lines.append(f"  [{cx['id']:>3}] {_subject(cx['abstract_syntax'], cx['uid'])}: "
                     f"{answer}")
    return lines


def _established_lines(event: AssociationEvent, detail: dict[str, Any]) -> list[str]:
    """The contexts in force and the roles we act in on each (pynetdicom's outcome)."""
    peer_is_requestor = event.direction is Direction.INCOMING
    lines = [f"maximum PDU length: {_who(event, peer_is_requestor)} receives "
             f"{_pdu(detail.get('max_pdu'))}",
             "in force, with the roles we act in:"]
    for cx in detail.get("accepted_contexts", ()):
        roles = _role_text(cx.get("scu_role"), cx.get("scp_role"))
        lines.append(f"  [{cx['id']:>3}] {cx['abstract_syntax']}: {cx['transfer_syntax']}; "
                     f"we act as {roles}")
    rejected: Sequence[str] = detail.get("rejected_contexts", ())
    if rejected:
        lines.append("  rejected: " + ", ".join(rejected))
    return lines


def negotiation_lines(event: AssociationEvent) -> list[str]:
    """The negotiation an event carries, one line per context; [] for other events."""
    detail = event.detail
    if event.kind == "requested" and "contexts" in detail:
        return _request_lines(event, detail)
    if event.kind == "accepted" and "contexts" in detail:
        return _answer_lines(event, detail)
    if event.kind == "established" and "accepted_contexts" in detail:
        return _established_lines(event, detail)
    return []
