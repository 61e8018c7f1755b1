"""C-MOVE hints as rules: a predicate over the evidence, and the hints it gives.

A C-MOVE that brought nothing has one likely cause among several, and the
PACS's answer alone rarely tells which (docs/PACS-BEHAVIOUR.md): the status
is weighed with the sub-operation counts, the time the answer took, and
whether our listener saw the PACS connect back. Each rule is one row of a
table, evaluated in order, so that each can be read and tested alone:
:data:`MOVE_RULES` all apply where their predicate holds; of
:data:`CAUSE_RULES` (why nothing arrived) only the first that holds does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from qrscope.core.dicom.status import (
    MOVE_DESTINATION_UNKNOWN,
    OUT_OF_RESOURCES_FAMILY,
    OUT_OF_RESOURCES_SUBOPERATIONS,
    UNABLE_TO_PROCESS_FAMILY,
    StatusCategory,
    StatusInfo,
)
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.retrieve.outcome import MissingReason
from qrscope.core.retrieve.types import RetrieveOutcome
from qrscope.diagnosis.hints import Action, Hint
from qrscope.diagnosis.pacs_entries import MoveDestinationEntry, reachable_address

__all__ = ["CAUSE_RULES", "FILTERED_AFTER_SECONDS", "MOVE_RULES", "MoveEvidence", "Rule",
           "is_out_of_resources", "move_hints", "our_address", "outcome_evidence",
           "refused_under_load"]

# Orthanc gives up on a reverse connection after DicomScuTimeout (10 s by
# default); an answer that slow means packets were dropped, not refused.
FILTERED_AFTER_SECONDS = 8.0


def is_out_of_resources(final: StatusInfo | None) -> bool:
    """0xA7xx but 0xA702: the PACS never tried to send (0xA702 is sub-operations failing)."""
    return (final is not None and final.code in OUT_OF_RESOURCES_FAMILY
            and final.code != OUT_OF_RESOURCES_SUBOPERATIONS)


def refused_under_load(outcome: RetrieveOutcome) -> bool:
    """0xA702 with nothing sent, where the PACS could have sent: it refused under load.

    dcmqrscp answers 0xA702 also when it cannot connect back to the move
    destination (docs/PACS-BEHAVIOUR.md), and for a C-GET instance it has no
    context for. Neither holds here: a C-MOVE's PACS did connect back to us
    (or it was a C-GET, which needs no connection back), and no instance is
    missing for want of a context. What is left is the PACS's own limit: too
    many retrieves at once, its sender pool or storage exhausted.
    """
    final = outcome.final_status
    if final is None or final.code != OUT_OF_RESOURCES_SUBOPERATIONS:
        return False
    if outcome.completed or outcome.stored or any(
            m.reason in (MissingReason.NO_CONTEXT, MissingReason.NOT_PROPOSED)
            for m in outcome.missing):
        return False
    return outcome.method is RetrieveMethod.GET or bool(outcome.incoming_associations)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def our_address(outcome: RetrieveOutcome, node: RemoteNode, local: LocalAE) -> str:
    """The address the PACS should use for us: the one our association came from,
    else the route to it (never the listener's wildcard bind address)."""
    return reachable_address(outcome.local_address, node.host, node.port, local.bind_address)


def outcome_evidence(outcome: RetrieveOutcome, **extra: Any) -> dict[str, Any]:
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
                         port: int, same_as_made_up: bool = False) -> Hint:
    """The PACS answered "destination unknown" (or what looks like it).

    The status is all there is: pynetdicom-based servers (0xA801) and Orthanc
    (0xC000) give it also for a known destination that does not answer. So
    "has no entry" is one of two ranked causes, never a finding.
    *same_as_made_up*: the doctor's C-MOVE to a made-up AE title got the same
    answer, which still does not tell the two apart.
    """
    dest = outcome.move_destination
    address = our_address(outcome, node, local)
    entry = MoveDestinationEntry(dest, address, port)
    unknown = f"'{node.name}' has no entry for the AE title '{dest}' in its table of move " \
              "destinations: add it (the entry is below)"
    unreachable = (f"it has an entry for '{dest}', but nothing answered at the address and "
                   f"port registered there: correct them to {address}:{port}")
    causes = [unknown, unreachable]
    if dest != local.ae_title:
        causes.insert(1, f"the move destination '{dest}' in the node's settings is not our AE "
                         f"title '{local.ae_title}'")
    final = outcome.final_status
    code = f"0x{final.code:04X}" if final else "no status"
    told = (" A made-up AE title gets the same answer, so this PACS's answer cannot tell the "
            "two apart." if same_as_made_up else "")
    return Hint(
        id="move-destination-unknown",
        title=f"'{node.name}' cannot send to '{dest}'",
        summary=f"The PACS refused to send ({code}): to connect back it looks up the AE title "
                f"'{dest}' in its own table, and either it has no entry for it, or the entry "
                f"leads nowhere; the answer alone does not tell which.{told} It must have: "
                f"AE {entry.ae_title}, IP {entry.address}, port {entry.port}.",
        evidence=outcome_evidence(outcome), causes=causes,
        actions=[*_entry_actions(entry, node),
                 Action("Edit the node's move destination", "edit-node",
                        "move_destination")])


def _reverse_failed(outcome: RetrieveOutcome, node: RemoteNode, local: LocalAE, port: int,
                    filtered: bool, to_us: bool, certain: bool = True) -> Hint:
    address = our_address(outcome, node, local)
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
        summary=(f"The PACS knows '{outcome.move_destination}' but {how}{seen}." if certain
                 else f"If the PACS knows '{outcome.move_destination}', {how}{seen}."),
        evidence=outcome_evidence(outcome,
                                  our_listener=f"{address}:{port}" if to_us else "n/a"),
        causes=causes, actions=_entry_actions(entry, node))


@dataclass(frozen=True)
class MoveEvidence:
    """What a C-MOVE's hints are decided on; the derived facts are named once here."""

    outcome: RetrieveOutcome
    node: RemoteNode
    local: LocalAE
    port: int
    destination_known: bool | None = None

    @property
    def final(self) -> StatusInfo | None:
        return self.outcome.final_status

    @cached_property
    def failed_here(self) -> bool:
        return self.final is not None and self.final.category is StatusCategory.FAILURE

    @cached_property
    def nothing(self) -> bool:
        """Nothing arrived, and the PACS never even connected to us."""
        return not self.outcome.stored and not self.outcome.incoming_associations

    @cached_property
    def to_us(self) -> bool:
        return self.outcome.move_destination == self.local.ae_title

    @cached_property
    def filtered(self) -> bool:
        """The answer took so long that a connection attempt was dropped, not refused."""
        return self.outcome.seconds >= FILTERED_AFTER_SECONDS

    @cached_property
    def looks_unknown(self) -> bool:
        """The answer reads as "destination unknown": 0xA801, or Orthanc's 0xCxxx at once."""
        final, outcome = self.final, self.outcome
        if not self.nothing or final is None:
            return False
        no_counts = outcome.completed + outcome.failed + outcome.warning == 0
        generic = final.code in UNABLE_TO_PROCESS_FAMILY
        return final.code == MOVE_DESTINATION_UNKNOWN or (
            generic and no_counts and not self.filtered)

    def reverse_failed(self, filtered: bool | None = None, certain: bool = True) -> Hint:
        return _reverse_failed(self.outcome, self.node, self.local, self.port,
                               self.filtered if filtered is None else filtered, self.to_us,
                               certain)


@dataclass(frozen=True)
class Rule:
    """One row: when *applies* holds for the evidence, *hints* gives what to show."""

    name: str
    applies: Callable[[MoveEvidence], bool]
    hints: Callable[[MoveEvidence], list[Hint]]


def _unknown_hints(ev: MoveEvidence) -> list[Hint]:
    hints = [_destination_unknown(ev.outcome, ev.node, ev.local, ev.port,
                                  same_as_made_up=ev.destination_known is False)]
    if ev.to_us:
        hints.append(ev.reverse_failed(certain=False))
    return hints


CAUSE_RULES: tuple[Rule, ...] = (
    # The doctor's made-up AE title got another answer: the PACS knows ours.
    Rule("known-destination-not-reached",
         lambda ev: ev.looks_unknown and bool(ev.destination_known),
         lambda ev: [ev.reverse_failed()]),
    Rule("destination-unknown", lambda ev: ev.looks_unknown, _unknown_hints),
    # The PACS never tried to send: out-of-resources says why (the common hints).
    Rule("out-of-resources",
         lambda ev: is_out_of_resources(ev.final) or refused_under_load(ev.outcome),
         lambda ev: []),
    # Not one response, nobody came: dcmqrscp does this while its connection
    # to us hangs in a dropped SYN (the OS gives up after about two minutes).
    Rule("silent-while-connecting-back",
         lambda ev: bool(ev.outcome.timed_out) and ev.nothing and ev.outcome.responses == 0
         and ev.to_us,
         lambda ev: [ev.reverse_failed(filtered=True)]),
    Rule("nothing-came-back",
         lambda ev: ev.nothing and (ev.failed_here or bool(
             ev.outcome.failed and not ev.outcome.completed)),
         lambda ev: [ev.reverse_failed()]),
)


def _first_cause(ev: MoveEvidence) -> list[Hint]:
    return next((rule.hints(ev) for rule in CAUSE_RULES if rule.applies(ev)), [])


def _loopback_only(ev: MoveEvidence) -> list[Hint]:
    return [Hint(
        id="listener-loopback-only",
        title="Our listener only accepts connections from this computer",
        summary=f"The listener is bound to {ev.local.bind_address}, but '{ev.node.name}' is "
                f"at {ev.node.host}: its connection back to us cannot arrive.",
        evidence={"bind_address": ev.local.bind_address, "pacs": ev.node.host},
        actions=[Action("Listen on all interfaces (0.0.0.0)", "set-local",
                        "bind_address", "0.0.0.0")])]


def _mismatch(ev: MoveEvidence) -> list[Hint]:
    dest = ev.outcome.move_destination
    return [Hint(
        id="move-destination-mismatch",
        title=f"The move destination '{dest}' is not us",
        summary=f"The C-MOVE asked the PACS to send to '{dest}', but our listener answers "
                f"to '{ev.local.ae_title}'.",
        evidence=outcome_evidence(ev.outcome),
        causes=["a stale move destination in the node"],
        actions=[Action("Clear the node's move destination", "set-node",
                        "move_destination", "", ev.node.name)])]


def _late(ev: MoveEvidence) -> list[Hint]:
    return [Hint(
        id="images-after-final-response",
        title=f"'{ev.node.name}' sent images after its final answer",
        summary=f"{len(ev.outcome.late)} instance(s) arrived after the final C-MOVE response, "
                "which is not allowed by DICOM; qrscope waited for them and kept them.",
        evidence=outcome_evidence(ev.outcome, late=len(ev.outcome.late)),
        causes=["a non-conformant PACS that answers first and sends later"],
        actions=[Action("Nothing to do for this retrieve; other programs may stop "
                        "listening too early with this PACS")])]


def _fewer_than_reported(ev: MoveEvidence) -> list[Hint]:
    outcome, local = ev.outcome, ev.local
    return [Hint(
        id="fewer-images-than-reported",
        title=f"The PACS reports {outcome.completed} sent, {len(outcome.stored)} arrived here",
        summary="Some of what the PACS sent to our AE title went somewhere else.",
        evidence=outcome_evidence(outcome),
        causes=[f"another program also listens as '{local.ae_title}' (the PACS sends to "
                "the address it has registered, which may be another computer)",
                "the PACS has our AE title registered with another IP address or port"],
        actions=[Action("Ask the PACS administrator which address is registered for "
                        f"'{local.ae_title}'")])]


MOVE_RULES: tuple[Rule, ...] = (
    Rule("listener-loopback-only",
         lambda ev: ev.to_us and not _is_loopback(ev.node.host)
         and _is_loopback(ev.local.bind_address),
         _loopback_only),
    Rule("move-destination-mismatch",
         lambda ev: not ev.to_us and (ev.failed_here or ev.outcome.completed == 0),
         _mismatch),
    Rule("why-nothing-arrived", lambda ev: True, _first_cause),
    Rule("images-after-final-response", lambda ev: bool(ev.outcome.late), _late),
    # Whatever the PACS counted as sent to our AE title must be here by now.
    Rule("fewer-images-than-reported",
         lambda ev: ev.to_us and ev.outcome.completed > len(ev.outcome.stored)
         and not ev.outcome.cancelled,
         _fewer_than_reported),
)


def move_hints(evidence: MoveEvidence) -> list[Hint]:
    """The hints of every rule of :data:`MOVE_RULES` that applies, in table order."""
    return [hint for rule in MOVE_RULES if rule.applies(evidence)
            for hint in rule.hints(evidence)]
