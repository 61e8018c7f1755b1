"""What is missing after a retrieve, why, and what to ask for again.

After the first C-GET, the instances the plan lists but that did not arrive
fall in a few groups, and only some are worth asking for again:

* refused by us (disk full, unreadable data): asking again would fail the
  same way and load the PACS for nothing;
* failed at the PACS, or left ``remaining`` at its final response: often a
  transfer syntax question. With C-GET we propose the contexts, and an SCP
  must pick, for each instance, an accepted context it can send it on.
  DCMTK's ``dcmqrscp`` (and PACS built on its libraries) takes the first
  accepted context of the instance's SOP class whatever its syntax, and
  fails the sub-operation when it cannot convert (DCMTK dcmqrdb
  ``dcmqrcbg.cc``): no single proposal suits both compressed and
  uncompressed instances of one class. An archive that does not convert
  (Orthanc with ``TranscodeDicomProtocol`` off) needs a context in the
  stored syntax, which the first proposal may have trimmed. Those
  instances, of any class (an RT Plan may be held in Big Endian), are
  asked for again, series by series, offering their classes in one syntax
  at a time, each syntax their class may be held in
  (:func:`~qrscope.core.retrieve.contexts.syntaxes_for`) besides the two
  little endian ones every request proposes, and not one the PACS refused
  for that class already, until they arrive or the syntaxes run out; the
  outcome names the syntaxes offered;
* of a class the PACS did not accept a context for: nothing we can offer
  will change that;
* of a class we did not propose although the PACS names it: the first C-GET
  proposed the classes of the study-level ``SOP Classes in Study``, and a
  PACS may leave one out there that its instance-level answers name. Asked
  for again with exactly their classes (:func:`unoffered_class_steps`);
* of a class the PACS does not name (DCMTK's dcmqrscp returns no SOP Class
  UID) and that may not be among the classes we guessed for its series:
  asked for in other syntaxes only where its series may hold compressed
  images (asking again with the same never-compressed classes proposes the
  same contexts), then once more offering every storage class we know
  (:func:`every_class_steps`).

:func:`missing_instances` names each instance still absent at the end with
its reason, for the outcome, the hints and a retry of exactly what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pydicom.uid import UID

from qrscope.core.dicom.status import StatusCategory
from qrscope.core.receive.reception import STATUS_OUT_OF_RESOURCES, ReceivedInstance
from qrscope.core.retrieve.contexts import (
    KNOWN_MODALITIES,
    MAX_CLASSES,
    NATIVE_SYNTAXES,
    STORED_AS,
    every_storage_class,
    may_hold,
    storage_classes_for,
    syntax_names,
)
from qrscope.core.retrieve.plan import PlannedInstance, RetrievePlan
from qrscope.core.retrieve.types import MissingInstance, MissingReason, RetrieveScope

if TYPE_CHECKING:
    from qrscope.core.retrieve.ledger import LedgerRecord, RetrieveLedger
    from qrscope.core.retrieve.request import RetrieveRequest

__all__ = ["RecoveryStep", "accepted_syntaxes", "every_class_steps", "missing_after",
           "missing_instances", "proposed_classes", "recover", "recovery_steps",
           "refused_syntaxes", "unoffered_class_steps", "worth_asking_again",
           "worth_offering"]

# PS3.4 C.4.3.1.4: "Refused: Out of resources - Unable to perform sub-operations".
SUBOPERATIONS_FAILED = 0xA702

# With C-MOVE the PACS proposes and picks the context; DCMTK's dcmqrscp sends every
# instance of a class on the first one we accepted and cannot convert to or from a
# compressed syntax, so one held in another syntax fails however our listener answers
# (docs/PACS-BEHAVIOUR.md). By C-GET we offer each syntax alone when one does not come.
_MOVE_FAILED_TRY_GET = (
    "; a PACS that sends each SOP class in one transfer syntax and cannot convert "
    "(DCMTK's dcmqrscp) fails those held in another: retrieve it by C-GET, where qrscope "
    "offers each syntax alone")


@dataclass(frozen=True)
class RecoveryStep:
    """One more C-GET of some instances of one series.

    With a *syntax*, offering the guessed classes in that one compressed
    syntax; without, offering exactly ``scope.sop_classes`` uncompressed.
    """

    scope: RetrieveScope
    syntax: str = ""
    unoffered: bool = False
    """The instances' own classes, which the earlier requests did not propose."""

    @property
    def description(self) -> str:
        count = len(self.scope.instance_uids)
        if self.unoffered:
            return (f"asking again for {count} instance(s) of {len(self.scope.sop_classes)} "
                    "SOP class(es) the study-level answer did not name, offering exactly those")
        if not self.syntax:
            return (f"asking again for {count} instance(s) of a SOP class the PACS does not "
                    f"name, offering {len(self.scope.sop_classes)} more storage classes")
        return (f"asking again for {count} instance(s) that did not arrive, offering only "
                f"{UID(self.syntax).name}")


def worth_asking_again(plan: RetrievePlan, received: Iterable[ReceivedInstance],
                       accepted: dict[str, set[str]]) -> list[PlannedInstance]:
    """The planned instances that did not arrive and that another proposal might bring.

    Left out: instances we refused ourselves (they reached us), and those of
    a class the PACS accepted no context for. Every class may be held in a
    syntax the first proposal did not leave the PACS to choose alone (Big
    Endian at least). An instance whose class the PACS did not tell us is
    asked for again.
    """
    seen = {r.sop_instance_uid for r in received}
    return [i for i in plan.instances if i.sop_instance_uid not in seen and (
        not i.sop_class_uid or i.sop_class_uid in accepted)]


def recovery_steps(plan: RetrievePlan, wanted: list[PlannedInstance],
                   refused: dict[str, set[str]] | None = None,
                   accepted: dict[str, set[str]] | None = None,
                   ) -> Iterator[tuple[str, list[RecoveryStep]]]:
    """Per syntax of :data:`STORED_AS`, one step per series of *wanted* for the instances
    the syntax is worth offering alone for (:func:`worth_offering`).

    The caller drops from *wanted* what has arrived before it takes the next
    syntax (the list is read again at each one), and stops on cancel.
    """
    for syntax in STORED_AS:
        steps = []
        for series_uid, items in plan.by_series(wanted).items():
            modalities = tuple(filter(None, [plan.series_modalities.get(series_uid)]))
            items = [i for i in items if worth_offering(str(syntax), i.sop_class_uid, modalities,
                                                        refused or {}, accepted or {})]
            if items:
                steps.append(RecoveryStep(_instances_scope(plan, series_uid, items),
                                          str(syntax)))
        if steps:
            yield str(syntax), steps


def worth_offering(syntax: str, sop_class: str, modalities: tuple[str, ...],
                   refused: dict[str, set[str]], accepted: dict[str, set[str]]) -> bool:
    """Whether offering *syntax* alone may bring an instance of *sop_class* (or, unnamed,
    of a class guessed from its series' *modalities*) that did not come.

    Not when no such class may be held in it, nor when the PACS refused it for
    the class already. A native syntax the PACS accepted for the class
    already (Big Endian, Deflate) is not offered again either: a server that
    takes the first context of a class converts between native syntaxes
    (DCMTK does), and one that sends as stored had it on offer. An
    encapsulated syntax is: DCMTK cannot convert to or from it.
    """
    if not sop_class and any(m.upper() not in KNOWN_MODALITIES for m in modalities):
        return True  # a modality the table does not know may be anything
    classes = [sop_class] if sop_class else storage_classes_for((), modalities)
    native = syntax in NATIVE_SYNTAXES
    return any(may_hold(syntax, [uid]) and syntax not in refused.get(uid, ())
               and not (native and syntax in accepted.get(uid, ()))
               for uid in classes)


def unoffered_class_steps(plan: RetrievePlan, received: Iterable[ReceivedInstance],
                          proposed: set[str]) -> Iterator[RecoveryStep]:
    """For planned instances that did not arrive and whose named class was never *proposed*.

    One step per series and per :data:`MAX_CLASSES` classes, offering exactly
    those classes uncompressed.
    """
    seen = {r.sop_instance_uid for r in received}
    wanted = [i for i in plan.instances if i.sop_instance_uid not in seen
              and i.sop_class_uid and i.sop_class_uid not in proposed]
    for series_uid, items in plan.by_series(wanted).items():
        classes = list(dict.fromkeys(i.sop_class_uid for i in items))
        for start in range(0, len(classes), MAX_CLASSES):
            chunk = set(classes[start:start + MAX_CLASSES])
            yield RecoveryStep(_instances_scope(
                plan, series_uid, [i for i in items if i.sop_class_uid in chunk]),
                unoffered=True)


def every_class_steps(plan: RetrievePlan, wanted: list[PlannedInstance],
                      proposed: set[str]) -> Iterator[RecoveryStep]:
    """For instances of unnamed class in *wanted*: every storage class not yet *proposed*.

    One step per series and per :data:`MAX_CLASSES` classes, uncompressed.
    The caller drops from *wanted* what has arrived (the list is read again
    at each step), and stops on cancel.
    """
    classes = [str(c) for c in every_storage_class() if str(c) not in proposed]
    for start in range(0, len(classes), MAX_CLASSES):
        for series_uid, items in plan.by_series(wanted).items():
            items = [i for i in items if not i.sop_class_uid]
            if items:
                yield RecoveryStep(replace(_instances_scope(plan, series_uid, items),
                                           sop_classes=tuple(classes[start:start + MAX_CLASSES])))


def recover(plan: RetrievePlan, ledger: RetrieveLedger,
            ask: Callable[[RecoveryStep, bool], bool], proposed: Callable[[], set[str]],
            accepted: dict[str, set[str]]) -> None:
    """Ask again for what another proposal may bring, step by step, in the order above.

    *ask* runs one step (its flag: offering every storage class) and says
    whether recovery goes on; *proposed* gives the classes proposed so far,
    *accepted* the syntaxes accepted by the first round.
    """
    received, counts = ledger.received, ledger.counts()
    refused = refused_syntaxes(ledger.requests)
    if stopped_answering(ledger.requests):
        return  # as slow with any other syntax on offer: the outcome names the limit
    if (counts.final is not None and 0xA700 <= counts.final.code <= 0xA7FF
            and not counts.failed_uids and not received):
        # Out of resources having tried nothing (PS3.4 C.4.3.1.4: a PACS that
        # tried and could not send names the instances in its Failed SOP
        # Instance UID List, as DCMTK does for a class without a context):
        # it is busy, and would say so to any other proposal. Asking again
        # once per syntax only adds load to a PACS that asked for less.
        return
    if any(not r.ok and r.status == STATUS_OUT_OF_RESOURCES for r in received):
        return  # our disk is full: asking again would only fail again
    if (counts.final is not None and counts.final.category is StatusCategory.FAILURE
            and counts.final.code != SUBOPERATIONS_FAILED
            and counts.completed + counts.warning == 0 and not received):
        # Nothing came, and the status is not "unable to perform sub-operations"
        # (dcmqrscp's answer when none could be sent on our contexts): the PACS
        # refused the retrieve itself; other syntaxes change nothing. The hint says why.
        return
    if not all(ask(step, False) for step in list(unoffered_class_steps(plan, received,
                                                                        proposed()))):
        return
    wanted = worth_asking_again(plan, received, accepted)
    for _syntax, steps in recovery_steps(plan, wanted, refused, accepted):
        if not all(ask(step, False) for step in steps):
            return
        _drop_arrived(wanted, ledger.arrived())
    # Instances of a class the PACS does not name may be of a class we
    # never guessed: offer every other storage class we know, once.
    for step in every_class_steps(plan, wanted, proposed()):
        if not ask(step, True):
            return
        _drop_arrived(wanted, ledger.arrived())


def stopped_answering(requests: Iterable[RetrieveRequest]) -> bool:
    """Whether a request of the retrieve ended at a time limit or by the PACS's abort.

    Recovery offers other syntaxes for instances a PACS could not send on the
    contexts we proposed; a PACS that went quiet past the idle or total limit,
    or aborted, would do the same on any context, and every step would wait
    out the limit again (once per syntax and series: half a minute for a
    small study at a 0.5 s idle limit).
    """
    return any(r.expired in ("idle", "total") or r.peer_aborted for r in requests)


def _drop_arrived(wanted: list[PlannedInstance], arrived: set[str]) -> None:
    wanted[:] = [i for i in wanted if i.sop_instance_uid not in arrived]


def missing_after(record: LedgerRecord, plan: RetrievePlan | None, observable: bool,
                  cancelled: bool, get_model: str | None) -> tuple[MissingInstance, ...]:
    """What :func:`missing_instances` names from a closed ledger (*get_model*: the C-GET
    model's UID, None for C-MOVE; the plan only counts where arrivals are *observable*)."""
    counts = record.counts
    if not (observable or counts.failed_uids):
        return ()
    all_failed = {u for r in record.requests for u in r.counts.failed_uids}
    get = get_model is not None
    return tuple(missing_instances(
        plan if observable else None, record.received, all_failed - record.recovered,
        accepted_syntaxes(record.requests) if get else None, cancelled,
        max(0, counts.failed - len(counts.failed_uids)), set(record.asked_again),
        proposed_classes(record.requests, get_model) if get_model else None,
        set(record.offered_every_class),
        roleless_classes(record.requests) if get else None, record.syntaxes_offered))


def proposed_classes(requests: Iterable[RetrieveRequest], model: str) -> set[str]:
    """The storage classes *requests* proposed (the retrieve model's own context left out)."""
    return {str(cx.abstract_syntax) for request in requests
            for cx in request.contexts if cx.abstract_syntax != model}


def refused_syntaxes(requests: Iterable[RetrieveRequest]) -> dict[str, set[str]]:
    """For each SOP class, the transfer syntaxes *requests* proposed and the PACS never
    accepted for it: offering one of them alone again would bring nothing."""
    proposed: dict[str, set[str]] = {}
    for request in requests:
        for cx in request.contexts:
            proposed.setdefault(str(cx.abstract_syntax), set()).update(
                str(ts) for ts in cx.transfer_syntax)
    accepted = accepted_syntaxes(requests)
    return {abstract: syntaxes - accepted.get(abstract, set())
            for abstract, syntaxes in proposed.items()}


def roleless_classes(requests: Iterable[RetrieveRequest]) -> set[str]:
    """Storage classes that no C-GET of *requests* could receive: accepted, never with our
    SCP role (a class accepted with the role on another association is not among them)."""
    without = {uid for request in requests for uid in request.roleless}
    return without - set(accepted_syntaxes(requests))


def accepted_syntaxes(requests: Iterable[RetrieveRequest]) -> dict[str, set[str]]:
    """For each SOP class, the transfer syntaxes the PACS accepted on any of *requests*."""
    accepted: dict[str, set[str]] = {}
    for request in requests:
        for abstract, syntaxes in request.accepted.items():
            accepted.setdefault(abstract, set()).update(syntaxes)
    return accepted


def _instances_scope(plan: RetrievePlan, series_uid: str,
                     items: list[PlannedInstance]) -> RetrieveScope:
    return RetrieveScope.instances(
        plan.scope.study_uid, series_uid, *[i.sop_instance_uid for i in items],
        patient_id=plan.scope.patient_id,
        sop_classes=tuple(dict.fromkeys(i.sop_class_uid for i in items if i.sop_class_uid)),
        modalities=tuple(filter(None, [plan.series_modalities.get(series_uid)])))


def missing_instances(plan: RetrievePlan | None, received: Iterable[ReceivedInstance],
                      reported_failed: Iterable[str], accepted: dict[str, set[str]] | None,
                      cancelled: bool, unnamed_failures: int = 0,
                      asked_again: set[str] | None = None,
                      proposed: set[str] | None = None,
                      offered_every_class: set[str] | None = None,
                      roleless: set[str] | None = None,
                      syntaxes_offered: Mapping[str, Sequence[str]] | None = None,
                      ) -> list[MissingInstance]:
    """Every instance of the scope that is not on disk, with the reason.

    *plan* lists what the PACS holds (None or incomplete: only what the PACS
    reported as failed, and what reached us unstored, can be named);
    *accepted* is what the PACS accepted per storage class (C-GET), None for
    C-MOVE, where the sender proposes; *proposed* the storage classes we
    proposed (C-GET). *unnamed_failures* is how many sub-operations the PACS
    counted as failed without listing them (Orthanc sends no Failed SOP
    Instance UID List): that many of the instances it never sent are named
    as failed. *asked_again* are the instances a recovery step asked for,
    *offered_every_class* those asked for with every storage class we know.
    *roleless* the storage classes the PACS accepted without granting us the
    SCP role (C-GET): their C-STOREs were refused on our side, and the PACS
    counts each as one of its failed sub-operations. *syntaxes_offered*: per
    instance asked for again, the syntaxes its class was offered in alone,
    which the detail names.
    """
    syntaxes_offered = syntaxes_offered or {}
    roleless = roleless or set()
    refused_here = sum(1 for item in plan.instances if item.sop_class_uid in roleless) \
        if plan is not None else 0
    unnamed_left = max(0, unnamed_failures - refused_here)
    asked_again = asked_again or set()
    offered_every_class = offered_every_class or set()
    received = list(received)
    stored = {r.sop_instance_uid for r in received if r.ok}
    refused = {r.sop_instance_uid: r for r in received if not r.ok}
    failed = set(reported_failed)
    missing: dict[str, MissingInstance] = {}

    def add(uid: str, sop_class: str = "", series: str = "") -> None:
        if uid in stored or uid in missing:
            return
        nonlocal unnamed_left
        reason, detail = _reason(uid, sop_class, refused, failed, accepted, cancelled,
                                 proposed)
        if reason is not MissingReason.NOT_STORED and sop_class in roleless:
            reason, detail = MissingReason.NO_CONTEXT, (
                f"the PACS accepted {UID(sop_class).name} but left our SCP role for it "
                "unanswered (SCP/SCU Role Selection, PS3.7 D.3.3.4), so its C-STOREs were "
                "refused here (0x0122); C-MOVE needs no role and brings it")
        if (reason in (MissingReason.FAILED_AT_PACS, MissingReason.NOT_SENT)
                and not sop_class and uid in offered_every_class):
            reason, detail = MissingReason.NO_CONTEXT, (
                "the PACS does not say which SOP class it is, and did not send it on any of "
                "the storage classes we know, all offered: a class we cannot name (private, "
                "or retired before our list); C-MOVE needs no context for it")
        if reason is MissingReason.NOT_SENT and unnamed_left:
            unnamed_left -= 1
            reason = MissingReason.FAILED_AT_PACS
            detail = (f"the PACS counted {unnamed_failures} sub-operation(s) as failed without "
                      "naming them; this instance is one it did not send")
        if (reason in (MissingReason.FAILED_AT_PACS, MissingReason.NOT_SENT)
                and syntaxes_offered.get(uid)):
            detail += (f"; asked again offering {syntax_names(syntaxes_offered[uid])} "
                       "(each alone), it did not come")
        elif reason is MissingReason.FAILED_AT_PACS and uid in asked_again:
            detail += ", also when asked again with exactly its class"
        if reason is MissingReason.FAILED_AT_PACS and accepted is None:
            detail += _MOVE_FAILED_TRY_GET
        if reason is MissingReason.FAILED_AT_PACS and accepted is not None and not sop_class:
            detail += ("; the PACS does not say which SOP class it is (no SOP Class UID in its "
                       "C-FIND answers), so it may be a class we could not guess and offer: "
                       "C-MOVE does not need to know")
        missing[uid] = MissingInstance(uid, reason, detail, sop_class, series)

    for item in plan.instances if plan is not None else ():
        add(item.sop_instance_uid, item.sop_class_uid, item.series_uid)
    for uid, item in refused.items():
        add(uid, item.sop_class_uid, item.series_uid)
    for uid in failed:
        planned = plan.find(uid) if plan is not None else None
        add(uid, planned.sop_class_uid if planned else "",
            planned.series_uid if planned else "")
    return list(missing.values())


def _reason(uid: str, sop_class: str, refused: dict[str, ReceivedInstance], failed: set[str],
            accepted: dict[str, set[str]] | None, cancelled: bool,
            proposed: set[str] | None = None) -> tuple[MissingReason, str]:
    name = UID(sop_class).name if sop_class else "its SOP class"
    if uid in refused:
        return MissingReason.NOT_STORED, f"it arrived but was not stored: {refused[uid].error}"
    if proposed is not None and sop_class and sop_class not in proposed:
        return (MissingReason.NOT_PROPOSED,
                f"we never proposed {name}: the PACS's study-level answer left it out, "
                f"or its series needs more than {MAX_CLASSES} storage classes, more than "
                "one association can carry; asking again with it did not bring it")
    if accepted is not None and sop_class and sop_class not in accepted:
        return (MissingReason.NO_CONTEXT,
                f"the PACS accepted no presentation context for {name}")
    if cancelled:
        return (MissingReason.CANCELLED, "the retrieve was cancelled before it arrived"
                + (" (the PACS had reported a failure for it)" if uid in failed else ""))
    if uid in failed:
        return MissingReason.FAILED_AT_PACS, "the PACS reported that sending it failed"
    return (MissingReason.NOT_SENT,
            "the PACS listed it but never sent it, and did not report it as failed")
