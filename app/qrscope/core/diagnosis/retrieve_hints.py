"""Why a retrieve did not bring everything: hints from the outcome's evidence.

A status code alone rarely names the cause (Orthanc answers 0xC000 both for
an unknown destination and for a refused reverse connection; dcmqrscp
answers 0xA702 for a refused reverse connection and for instances it cannot
convert). The evidence used here is the status together with the
sub-operation counts, the time the answer took, and whether our listener saw
the PACS connect back during the job (see docs/PACS-BEHAVIOUR.md).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from qrscope.core.diagnosis.hints import Action, Hint, hint_for_failure
from qrscope.core.diagnosis.pacs_entries import MoveDestinationEntry
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.reception import ReceivedInstance
from qrscope.core.retrieve.types import RetrieveOutcome
from qrscope.core.status import StatusCategory, StatusInfo

__all__ = ["hint_for_find", "hint_for_unexpected", "hints_for_retrieve"]

# Orthanc gives up on a reverse connection after DicomScuTimeout (10 s by
# default); an answer that slow means packets were dropped, not refused.
FILTERED_AFTER_SECONDS = 8.0


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _our_address(outcome: RetrieveOutcome, local: LocalAE) -> str:
    """The address the PACS should use for us: the one our association came from."""
    if outcome.local_address and outcome.local_address not in ("0.0.0.0", "::"):
        return outcome.local_address
    return local.bind_address


def _evidence(outcome: RetrieveOutcome, **extra: Any) -> dict[str, Any]:
    final = outcome.final_status
    return {
        "final_status": f"0x{final.code:04X} ({final.meaning})" if final else "none",
        "completed": outcome.completed, "failed": outcome.failed, "warning": outcome.warning,
        "received_here": len(outcome.stored),
        "incoming_associations": len(outcome.incoming_associations),
        "seconds": round(outcome.seconds, 1), **extra,
    }


def _entry_actions(entry: MoveDestinationEntry, node: RemoteNode) -> list[Action]:
    actions = [Action("Copy the request for the PACS administrator", "copy",
                      value=entry.card())]
    actions += [Action(f"Copy the {name} entry", "copy", value=text)
                for name, text in entry.snippets().items()]
    if node.retrieve_method is RetrieveMethod.MOVE:
        actions.append(Action("Retrieve with C-GET instead", "switch-to-get"))
    return actions


def _destination_unknown(outcome: RetrieveOutcome, node: RemoteNode, local: LocalAE,
                         port: int, ranked_second: str = "") -> Hint:
    entry = MoveDestinationEntry(outcome.move_destination, _our_address(outcome, local), port)
    causes = [f"'{node.name}' has no entry for the AE title '{outcome.move_destination}' in "
              "its table of move destinations"]
    if outcome.move_destination != local.ae_title:
        causes.append(f"the move destination '{outcome.move_destination}' in the node's "
                      f"settings is not our AE title '{local.ae_title}'")
    if ranked_second:
        causes.append(ranked_second)
    return Hint(
        id="move-destination-unknown",
        title=f"'{node.name}' does not know where '{outcome.move_destination}' is",
        summary=f"The PACS refused to send: it has to look up the AE title "
                f"'{outcome.move_destination}' to open a connection back to us, and it "
                f"could not. It must be told: AE {entry.ae_title}, IP {entry.address}, "
                f"port {entry.port}.",
        evidence=_evidence(outcome), causes=causes,
        actions=[*_entry_actions(entry, node),
                 Action("Check the move destination of the node", "edit-node",
                        "move_destination")])


def _reverse_failed(outcome: RetrieveOutcome, node: RemoteNode, local: LocalAE, port: int,
                    filtered: bool, to_us: bool) -> Hint:
    address = _our_address(outcome, local)
    how = ("the connection attempt timed out: packets are dropped on the way" if filtered
           else "the connection was refused or never arrived")
    firewall = f"a firewall on this computer or between the networks blocks port {port}"
    registered = (f"the PACS has '{outcome.move_destination}' registered at another address "
                  f"or port than {address}:{port}")
    nat = ("this computer is behind NAT: the PACS can reach the router, not us "
           "(forward the port, or use C-GET)")
    causes = [firewall, registered, nat] if filtered else [registered, firewall, nat]
    seen = (f"; our listener on port {port} saw no incoming association during this "
            "retrieve" if to_us else "")
    entry = MoveDestinationEntry(outcome.move_destination, address, port)
    return Hint(
        id="reverse-connection-failed",
        title=f"'{node.name}' could not connect to '{outcome.move_destination}'",
        summary=f"The PACS knows '{outcome.move_destination}' but {how}{seen}.",
        evidence=_evidence(outcome, our_listener=f"{address}:{port}" if to_us else "n/a"),
        causes=causes, actions=_entry_actions(entry, node))


def _move_hints(outcome: RetrieveOutcome, node: RemoteNode, local: LocalAE,
                port: int) -> list[Hint]:
    final = outcome.final_status
    hints: list[Hint] = []
    failed_here = final is not None and final.category is StatusCategory.FAILURE
    nothing = not outcome.stored and not outcome.incoming_associations
    to_us = outcome.move_destination == local.ae_title
    if not to_us and (failed_here or outcome.completed == 0):
        hints.append(Hint(
            id="move-destination-mismatch",
            title=f"The move destination '{outcome.move_destination}' is not us",
            summary=f"The C-MOVE asked the PACS to send to '{outcome.move_destination}', but "
                    f"our listener answers to '{local.ae_title}'.",
            evidence=_evidence(outcome), causes=["a stale move destination in the node"],
            actions=[Action("Clear the node's move destination", "edit-node",
                            "move_destination")]))
    resources = final is not None and 0xA700 <= final.code <= 0xA7FF and final.code != 0xA702
    if final is not None and final.code == 0xA801:
        hints.append(_destination_unknown(outcome, node, local, port))
    elif resources:
        pass  # the PACS never tried to send: out-of-resources says why (_common_hints)
    elif outcome.timed_out and nothing and outcome.responses == 0 and to_us:
        # Not one response, nobody came: dcmqrscp does this while its connection
        # to us hangs in a dropped SYN (the OS gives up after about two minutes).
        hints.append(_reverse_failed(outcome, node, local, port, True, to_us))
    elif nothing and (failed_here or (outcome.failed and not outcome.completed)):
        generic = final is not None and 0xC000 <= final.code <= 0xCFFF
        filtered = outcome.seconds >= FILTERED_AFTER_SECONDS
        no_counts = outcome.completed + outcome.failed + outcome.warning == 0
        if generic and no_counts and not filtered:
            # Orthanc: 0xC000 at once means "unknown" or "refused"; rank both.
            hints.append(_destination_unknown(
                outcome, node, local, port,
                ranked_second="or it knows the destination, but nothing answered at the "
                              "address it has for it (see the next hint)"))
        hints.append(_reverse_failed(outcome, node, local, port, filtered, to_us))
    if to_us and not _is_loopback(node.host) and _is_loopback(local.bind_address):
        hints.insert(0, Hint(
            id="listener-loopback-only",
            title="Our listener only accepts connections from this computer",
            summary=f"The listener is bound to {local.bind_address}, but '{node.name}' is at "
                    f"{node.host}: its connection back to us cannot arrive.",
            evidence={"bind_address": local.bind_address, "pacs": node.host},
            actions=[Action("Listen on all interfaces (0.0.0.0)", "edit-local",
                            "bind_address")]))
    if outcome.late:
        hints.append(Hint(
            id="images-after-final-response",
            title=f"'{node.name}' sent images after its final answer",
            summary=f"{len(outcome.late)} instance(s) arrived after the final C-MOVE response, "
                    "which is not allowed by DICOM; qrscope waited for them and kept them.",
            evidence=_evidence(outcome, late=len(outcome.late)),
            causes=["a non-conformant PACS that answers first and sends later"],
            actions=[Action("Nothing to do for this retrieve; other programs may stop "
                            "listening too early with this PACS")]))
    arrived = len(outcome.stored)
    # Whatever the PACS counted as sent to our AE title must be here by now.
    if to_us and outcome.completed > arrived and not outcome.cancelled:
        hints.append(Hint(
            id="fewer-images-than-reported",
            title=f"The PACS reports {outcome.completed} sent, {arrived} arrived here",
            summary="Some of what the PACS sent to our AE title went somewhere else.",
            evidence=_evidence(outcome),
            causes=[f"another program also listens as '{local.ae_title}' (the PACS sends to "
                    "the address it has registered, which may be another computer)",
                    "the PACS has our AE title registered with another IP address or port"],
            actions=[Action("Ask the PACS administrator which address is registered for "
                            f"'{local.ae_title}'")]))
    return hints


def _common_hints(outcome: RetrieveOutcome, node: RemoteNode) -> list[Hint]:
    final = outcome.final_status
    hints: list[Hint] = []
    if final is None and not outcome.timed_out:
        hints.append(Hint(
            id="association-aborted", title=f"'{node.name}' ended the retrieve without an answer",
            summary=f"The association closed after {len(outcome.stored)} instance(s) and "
                    f"{outcome.responses} response(s), before the final response.",
            evidence=_evidence(outcome),
            causes=["the PACS aborted (an internal error, or a limit on transfer size)",
                    "a network device cut the connection"],
            actions=[Action("Retry what is missing", "retry-job")]))
    if outcome.timed_out:
        hints.append(Hint(
            id="dimse-timeout", title=f"'{node.name}' stopped making progress",
            summary=f"Nothing happened for {node.timeouts.retrieve_idle:g} s "
                    f"({outcome.timed_out} limit): no response and no instance, so the "
                    "retrieve was ended.",
            evidence=_evidence(outcome, limit=outcome.timed_out),
            causes=["the PACS is fetching from a slow archive", "the PACS hung"],
            actions=[Action("Raise the idle limit of the node", "edit-node", "timeouts"),
                     Action("Retry", "retry-job")]))
    if final is not None and 0xA700 <= final.code <= 0xA7FF and final.code != 0xA702:
        hints.append(Hint(id="out-of-resources", title=f"'{node.name}' is out of resources",
                          summary=f"The PACS answered {final}.", evidence=_evidence(outcome),
                          actions=[Action("Retry later, or retrieve a series at a time")]))
    if outcome.failed_uids or (outcome.failed and outcome.stored):
        hints.append(Hint(
            id="suboperations-failed",
            title=f"{outcome.failed} instance(s) could not be sent",
            summary=f"The PACS reported {final} for some instances"
                    + (f": {', '.join(outcome.failed_uids[:5])}" if outcome.failed_uids
                       else "") + ".",
            evidence=_evidence(outcome, failed_uids=outcome.failed_uids),
            causes=["the receiver did not accept their SOP class or transfer syntax",
                    "the PACS could not read them from its storage"],
            actions=[Action("Retry the failed instances", "retry-job")]))
    not_stored = [r for r in outcome.received if not r.ok]
    if not_stored and outcome.method is RetrieveMethod.GET:
        hints.append(_store_rejected(not_stored, "get-store-rejected"))
    return hints


def _store_rejected(items: list[ReceivedInstance], hint_id: str) -> Hint:
    return Hint(
        id=hint_id, title=f"{len(items)} received instance(s) could not be stored",
        summary="; ".join(f"{r.sop_instance_uid}: {r.error}" for r in items[:3]),
        evidence={"count": len(items)},
        causes=["the disk is full or the folder is not writable",
                "the data could not be parsed (kept in the quarantine folder)"],
        actions=[Action("Check the storage folder", "edit-local", "storage_folder")])


def hints_for_retrieve(outcome: RetrieveOutcome, node: RemoteNode, local: LocalAE,
                       listener_port: int | None = None,
                       unexpected: list[ReceivedInstance] | None = None) -> list[Hint]:
    """The hints for *outcome*, most likely cause first; empty for a clean success."""
    if outcome.failure is not None:
        return [hint_for_failure(outcome.failure, node, local)]
    if outcome.cancelled:
        return []
    port = listener_port or local.listener_port
    hints = _move_hints(outcome, node, local, port) \
        if outcome.method is RetrieveMethod.MOVE else []
    hints += _common_hints(outcome, node)
    if unexpected:
        hints.append(hint_for_unexpected(unexpected[0], {node.ae_title}))
    return hints


def hint_for_unexpected(item: ReceivedInstance, known_ae_titles: set[str]) -> Hint:
    """An instance our listener kept although no job asked for it."""
    known = item.calling_ae in known_ae_titles
    return Hint(
        id="unexpected-instance" if known else "unexpected-sender",
        title=(f"'{item.calling_ae}' sent an instance no retrieve asked for" if known else
               f"An unknown sender, '{item.calling_ae}', sent us images"),
        summary=f"{item.sop_instance_uid} from {item.calling_ae} at {item.peer_address} was "
                "stored, but matches no running retrieve.",
        evidence={"calling_ae": item.calling_ae, "address": item.peer_address,
                  "originator": item.originator_ae or "none"},
        causes=["a retrieve that was cancelled or timed out is still being sent"] if known
        else ["another program or PACS sends to our AE title and port",
              "a colleague's retrieve names our AE title as its destination"])


def hint_for_find(status: StatusInfo, node: RemoteNode) -> Hint:
    return Hint(id="find-failed", title=f"'{node.name}' refused the search",
                summary=f"The PACS answered the C-FIND with {status}.",
                evidence={"status": f"0x{status.code:04X}", "meaning": status.meaning},
                causes=["the search matches too much for the PACS's limits",
                        "a key or value the PACS does not support"],
                actions=[Action("Narrow the search (a date range, a modality)")])
