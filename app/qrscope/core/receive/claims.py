"""Which running retrieve an incoming instance counts for: one rule, over evidence.

The listener files every C-STORE it admits, then asks :func:`choose` which
of the retrieves attached to it credits the instance. The answer depends
on evidence only, so each row of the rule can be tested on its own:

* the instance (:class:`Incoming`): who sent it (:class:`Sender`: calling
  AE title, the peer's address, the Move Originator Application Entity
  Title and Message ID of its C-STORE-RQ, PS3.7 9.3.1.1), its SOP Instance,
  Series and Study UIDs, and whether it was stored (a byte-identical copy
  of an earlier one, or a different object under the same UID);
* each running job (:class:`Standing`): our AE title, its node's AE title
  and host, its scope, and from its ledger the Message IDs of its requests,
  the other AE title its node was seen sending under (an alias), whether
  the node sent under its own title, whether the job's outcome is made, and
  whether it credited this SOP Instance UID already.

The rows of :func:`claim`, first match wins:

1. the job's outcome is made, or the instance was refused: no claim;
2. not from the job's node (its AE title from its host, or the one alias
   :func:`admission` adopted): no claim, a stranger's copy never counts;
3. credited already, and not a byte-identical copy: no claim;
4. the Move Originator names one of the job's requests (our AE title or
   empty, with one of its Message IDs): certain (:data:`CERTAIN`), when in
   the scope or, from the node under its own title, whatever the UIDs;
5. no Move Originator at all: by the scope's UIDs (:func:`scope_score`);
6. from the node under its own title, fields that name no request (its own
   AE title, or ours with a Message ID no request of the job had): the
   PACS fills them wrongly; by the scope's UIDs, below any certain claim,
   so a job whose request had that Message ID wins (the quirk is named);
7. anything else (another AE title: another workstation's request): no claim.

The highest claim wins, and on a tie the job attached first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, TypeVar

from qrscope.core.receive.senders import host_matches

if TYPE_CHECKING:
    from qrscope.core.profiles import RemoteNode
    from qrscope.core.receive.reception import ReceivedInstance

__all__ = ["CERTAIN", "Admission", "Claim", "Claimant", "Incoming", "Sender", "Standing",
           "Why", "admission", "choose", "claim", "originator_quirk", "quirk_of",
           "scope_score", "sent_for"]

CERTAIN = 100
"""The score of an instance whose Move Originator names one of the job's requests."""


class Why(StrEnum):
    """Why a job credits an instance, or why it does not."""

    ORIGINATOR = "originator"
    """Our AE title (or none) and a Message ID of one of the job's requests."""
    NO_ORIGINATOR = "no-originator"
    """The sender left the Move Originator fields empty: the scope's UIDs decide."""
    WRONG_ORIGINATOR = "wrong-originator"
    """The node filled the fields wrongly (its own AE title, a foreign Message ID)."""
    CLOSED = "closed"
    REFUSED = "refused"
    STRANGER = "stranger"
    """Not the job's node: another AE title, another host, or a second alias."""
    CREDITED = "credited"
    """This SOP Instance UID is credited already, and this is not the same object."""
    OUT_OF_SCOPE = "out-of-scope"
    OTHER_REQUEST = "other-request"
    """The fields name another request: another job's, or another workstation's."""


@dataclass(frozen=True)
class Sender:
    """Who sent a C-STORE, and for whose C-MOVE it says it came."""

    calling_ae: str
    address: str
    """The peer's IP address, without the port."""
    originator_ae: str = ""
    originator_message_id: int | None = None

    @classmethod
    def of(cls, instance: ReceivedInstance) -> Sender:
        return cls(instance.calling_ae.strip(), _address(instance.peer_address),
                   instance.originator_ae, instance.originator_message_id)


@dataclass(frozen=True)
class Incoming:
    """The evidence an incoming instance carries about the retrieve it belongs to."""

    sender: Sender
    sop_instance_uid: str
    series_uid: str = ""
    study_uid: str = ""
    identical_copy: bool = False
    """Stored, as a byte-identical copy of an object filed earlier under its UID."""
    refused: bool = False

    @classmethod
    def of(cls, instance: ReceivedInstance) -> Incoming:
        stored = instance.stored if instance.ok else None
        return cls(Sender.of(instance), instance.sop_instance_uid, instance.series_uid,
                   instance.study_uid, refused=instance.refused,
                   identical_copy=stored is not None and stored.duplicate
                   and not stored.conflict)


@dataclass(frozen=True)
class Standing:
    """What one job knows, at the moment of a claim, that decides the claim."""

    our_ae: str
    node_ae: str
    node_host: str
    scope: ScopeUids
    message_ids: frozenset[int] = frozenset()
    aliases: frozenset[str] = frozenset()
    """AE titles other than its own that the node was seen sending under (at most one)."""
    sent_as_itself: bool = False
    closed: bool = False
    held: bool = False
    """The instance's SOP Instance UID is credited to the job already."""


@dataclass(frozen=True)
class Claim:
    """A job's claim on an instance: ``score`` 0 is none; ``quirk`` names rule 6."""

    score: int
    why: Why
    quirk: str = ""

    @property
    def credits(self) -> bool:
        return self.score > 0


class Admission(StrEnum):
    """Whether a C-STORE's sender is the job's node (:func:`admission`)."""

    NODE = "node"
    NEW_ALIAS = "new-alias"
    """Another AE title from the node's host for one of the job's requests: adopt it."""
    NO = "no"


class Claimant(Protocol):
    """What a running retrieve gives the listener so that its instances find it."""

    job_id: str
    node: RemoteNode
    """The node the retrieve talks to: it may store to us while the job runs."""

    def standing(self, sop_instance_uid: str) -> Standing:
        """The job's evidence now, for an instance with this SOP Instance UID."""
        ...

    def accepts_sender(self, calling_ae: str, address: str, originator_ae: str,
                       originator_message_id: int | None) -> bool:
        """Whether this C-STORE's sender is this job's node (adopting an alias)."""
        ...

    def deliver(self, instance: ReceivedInstance) -> None:
        """Called (from a listener thread) with each instance this job credits."""
        ...


_C = TypeVar("_C", bound=Claimant)


class ScopeUids(Protocol):
    """The UIDs of what a retrieve asked for (a ``RetrieveScope``, as far as a claim looks)."""

    study_uid: str
    series_uids: tuple[str, ...]
    instance_uids: tuple[str, ...]


def scope_score(scope: ScopeUids, incoming: Incoming) -> int:
    """How surely an instance is of *scope* by its UIDs (0: not at all); narrower is surer."""
    if scope.instance_uids:
        return 30 if incoming.sop_instance_uid in scope.instance_uids else 0
    if incoming.study_uid != scope.study_uid:
        return 0
    if scope.series_uids:
        return 20 if incoming.series_uid in scope.series_uids else 0
    return 10


def admission(sender: Sender, standing: Standing) -> Admission:
    """Whether *sender* is the job's node sending for it.

    The node's AE title or its adopted alias, from its host; or, from its
    host, another AE title whose Move Originator names one of the job's
    requests: some PACS send C-MOVE sub-operations under a storage AE title
    of their own. Only one such title, and only before the node sent under
    its own: after that, another title from its host is somebody else there
    guessing our Message ID.
    """
    if _from_node(sender, standing):
        return Admission.NODE
    if _names_our_request(sender, standing) and _may_alias(sender, standing):
        return Admission.NEW_ALIAS
    return Admission.NO


def claim(incoming: Incoming, standing: Standing) -> Claim:
    """The job's claim on *incoming*: the rows of the module's rule, in order."""
    sender = incoming.sender
    if standing.closed:
        return Claim(0, Why.CLOSED)
    if incoming.refused:
        return Claim(0, Why.REFUSED)
    itself = sender.calling_ae == standing.node_ae and \
        host_matches(standing.node_host, sender.address)
    ours = _names_our_request(sender, standing)
    alias = not itself and _may_alias(sender, standing) and (
        sender.originator_message_id in standing.message_ids
        or sender.calling_ae in standing.aliases)
    if not (itself or alias):
        return Claim(0, Why.STRANGER)
    if standing.held and not incoming.identical_copy:
        return Claim(0, Why.CREDITED)
    if ours:
        if scope_score(standing.scope, incoming) > 0 or (sender.originator_ae and not alias):
            return Claim(CERTAIN, Why.ORIGINATOR)
        return Claim(0, Why.OUT_OF_SCOPE)
    if sender.originator_message_id is None and not sender.originator_ae:
        return _by_uids(incoming, standing, Why.NO_ORIGINATOR)
    if itself and sender.originator_ae in ("", standing.our_ae, standing.node_ae):
        return _by_uids(incoming, standing, Why.WRONG_ORIGINATOR,
                        quirk_of(sender, standing.our_ae, standing.message_ids))
    return Claim(0, Why.OTHER_REQUEST)


def choose(instance: ReceivedInstance, claimants: Sequence[_C]) -> tuple[_C, Claim] | None:
    """The job that credits *instance*, with its claim; None: unexpected."""
    incoming = Incoming.of(instance)
    best: tuple[_C, Claim] | None = None
    for claimant in claimants:
        found = claim(incoming, claimant.standing(incoming.sop_instance_uid))
        if found.credits and (best is None or found.score > best[1].score):
            best = (claimant, found)
    return best


def sent_for(sender: Sender, claimants: Iterable[Claimant]) -> bool:
    """Whether a caller let in only as a retrieve's host sends for one of the retrieves."""
    return any(c.accepts_sender(sender.calling_ae, sender.address, sender.originator_ae,
                                sender.originator_message_id) for c in claimants)


def quirk_of(sender: Sender, our_ae: str, message_ids: frozenset[int]) -> str:
    """How *sender* filled the Move Originator fields wrongly ("": it did not).

    PS3.7 9.3.1.1 asks for the C-MOVE requester's AE title and Message ID;
    another value, or a Message ID of no request of ours, is named for the
    hint ``move-originator-wrong``.
    """
    message_id = sender.originator_message_id
    named_us = sender.originator_ae in ("", our_ae) and (
        message_id is None or message_id in message_ids)
    if named_us or not (sender.originator_ae or message_id):
        return ""
    return (f"Move Originator AE Title '{sender.originator_ae}', Message ID "
            f"{'none' if message_id is None else message_id}")


def originator_quirk(received: Iterable[ReceivedInstance], our_ae: str,
                     message_ids: frozenset[int]) -> str:
    """The first stored instance's quirk (:func:`quirk_of`), for the outcome."""
    return next((quirk for quirk in (quirk_of(Sender.of(i), our_ae, message_ids)
                                     for i in received if i.ok) if quirk), "")


def _by_uids(incoming: Incoming, standing: Standing, why: Why, quirk: str = "") -> Claim:
    score = 0 if standing.held else scope_score(standing.scope, incoming)
    if score == 0:
        return Claim(0, Why.CREDITED if standing.held else Why.OUT_OF_SCOPE)
    return Claim(score, why, quirk)


def _names_our_request(sender: Sender, standing: Standing) -> bool:
    return sender.originator_message_id in standing.message_ids and \
        sender.originator_ae in ("", standing.our_ae)


def _from_node(sender: Sender, standing: Standing) -> bool:
    return (sender.calling_ae == standing.node_ae or sender.calling_ae in standing.aliases) \
        and host_matches(standing.node_host, sender.address)


def _may_alias(sender: Sender, standing: Standing) -> bool:
    """Whether the caller may be the node's storage AE title (the one alias)."""
    if not host_matches(standing.node_host, sender.address):
        return False
    if sender.calling_ae in standing.aliases:
        return True
    return not standing.aliases and not standing.sent_as_itself


def _address(peer_address: str) -> str:
    """The IP of ``address:port`` (IPv6 addresses contain colons themselves)."""
    return peer_address.rsplit(":", 1)[0]
