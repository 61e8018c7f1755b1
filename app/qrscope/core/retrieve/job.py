"""A retrieve as the user sees it: plan, request, recover, one outcome.

:class:`RetrieveJob` composes the steps of :mod:`qrscope.core.retrieve` and
is the one owner of what the user sees of them: cancel (one call reaches
whatever step runs), progress (one stream of snapshots) and the outcome.

* **C-GET**: learn what the PACS holds (:class:`RetrievePlanner`), ask for it
  with exactly the storage classes found (one request, or one per series
  when the classes do not fit in one association), then ask again for what
  did not arrive in other syntaxes (:mod:`~qrscope.core.retrieve.recovery`).
* **C-MOVE**: one request; the instances arrive at our
  :class:`~qrscope.core.receive.listener.StorageListener`, which hands each to the
  job it belongs to (:meth:`RetrieveJob.claim_score`). When the move ends
  incomplete, the plan is learnt afterwards to name what is missing.

The outcome joins two sources of truth: what the PACS says in its
responses, and what actually reached us.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from pynetdicom import AE

from qrscope.core.dicom.qr_models import model_uid
from qrscope.core.dicom.status import StatusCategory
from qrscope.core.net.association_log import AssociationLog, Direction
from qrscope.core.net.connection import AssociationFailure, FailureReason, make_ae
from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode, RetrieveMethod
from qrscope.core.receive.listener import StorageListener
from qrscope.core.receive.reception import STATUS_OUT_OF_RESOURCES, ReceivedInstance
from qrscope.core.receive.senders import host_matches
from qrscope.core.receive.storage import InstanceStore
from qrscope.core.retrieve.contexts import MAX_CLASSES, get_storage_contexts
from qrscope.core.retrieve.plan import RetrievePlan, RetrievePlanner
from qrscope.core.retrieve.recovery import (
    RecoveryStep,
    every_class_steps,
    missing_instances,
    recovery_steps,
    unoffered_class_steps,
    worth_asking_again,
)
from qrscope.core.retrieve.request import RequestCounts, RetrieveRequest
from qrscope.core.retrieve.types import (
    RetrieveOutcome,
    RetrieveProgress,
    RetrieveScope,
    RetrieveState,
    outcome_status,
)

__all__ = ["RetrieveJob"]

_LOGGER = logging.getLogger(__name__)
_JOB_NUMBERS = itertools.count(1)
# PS3.4 C.4.3.1.4: "Refused: Out of resources - Unable to perform sub-operations".
SUBOPERATIONS_FAILED = 0xA702
# Failures that no other request could get past: the PACS is not there.
_UNREACHABLE = {FailureReason.HOST_NOT_FOUND, FailureReason.CONNECTION_REFUSED,
                FailureReason.CONNECTION_TIMEOUT, FailureReason.CONNECTION_FAILED}


class _Cancelled(Exception):
    pass


class RetrieveJob:
    """One retrieve of a study, series or instances from one node.

    Call :meth:`run` in a worker thread; :meth:`cancel` and :meth:`progress`
    from any thread.

    Parameters
    ----------
    listener : StorageListener, optional
        Needed for C-MOVE to our own AE: the job attaches to it so that the
        instances it causes are matched to it. Without one (or with a move
        destination that is not us) the job trusts the PACS's counts.
    on_progress : callable, optional
        Called with a :class:`RetrieveProgress` after every response and
        every received instance, from worker or listener threads.
    job_id : str, optional
        The id of the job this retrieve runs for (the job service's, given
        when the job was asked for); by default a number of this process.
    grace_after_final : float
        Seconds to keep waiting for instances after the final C-MOVE
        response while fewer arrived than the PACS reported, or when it
        reported none at all: some servers send the final response first
        (non-conformant, but seen in the field). Each late arrival starts
        the wait again.
    """

    def __init__(
        self,
        node: RemoteNode,
        local: LocalAE,
        log: AssociationLog,
        scope: RetrieveScope,
        *,
        method: RetrieveMethod | None = None,
        listener: StorageListener | None = None,
        store: InstanceStore | None = None,
        move_destination: str | None = None,
        on_progress: Callable[[RetrieveProgress], None] | None = None,
        grace_after_final: float = 5.0,
        ae: AE | None = None,
        debug: bool = False,
        job_id: str | None = None,
    ) -> None:
        self.job_id = job_id or f"job-{next(_JOB_NUMBERS)}"
        self.node = node
        self.local = local
        self.log = log
        self.scope = scope.validated()
        self.method = method or node.retrieve_method
        self.listener = listener
        self.store = store or (listener.store if listener else InstanceStore(local.storage_folder))
        self.move_destination = (move_destination or node.move_destination
                                 or local.ae_title).strip()
        self.on_progress = on_progress
        self.grace_after_final = grace_after_final
        self.debug = debug
        self.plan: RetrievePlan | None = None
        self._ae = ae or make_ae(local, node)
        self._planner = RetrievePlanner(node, local, log, debug=debug)
        self._lock = threading.Condition()
        self._cancel = threading.Event()
        self._state = RetrieveState.PENDING
        self._started = time.monotonic()
        self._first: list[RetrieveRequest] = []  # the requests for the whole scope
        self._requests: list[RetrieveRequest] = []  # every request, recovery included
        self._current: RetrieveRequest | None = None
        self._message_ids: set[int] = set()
        self._received: list[ReceivedInstance] = []
        self._late: list[ReceivedInstance] = []
        self._recovered: set[str] = set()
        self._last_arrival = 0.0
        self._incoming_before = 0
        self._asked_again: set[str] = set()
        self._offered_every_class: set[str] = set()
        self._patient_id_missing = False  # a Patient Root request went out without it
        self._aliases: set[str] = set()  # AE titles our node was seen sending under
        self._sent_as_itself = False  # an instance came under our node's own AE title
        self._credited: set[str] = set()  # SOP Instance UIDs stored for this job: its count
        self._closed = False  # the outcome is made: instances go to others, or unexpected

    # -- public ----------------------------------------------------------------
    @property
    def state(self) -> RetrieveState:
        return self._state

    @property
    def to_our_listener(self) -> bool:
        """C-MOVE with our listener watching: what arrives can be counted."""
        return self.method is RetrieveMethod.MOVE and self.listener is not None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Stop whatever step runs: the look-up, the request (C-CANCEL), or a retry."""
        if self._cancel.is_set() or self._state.is_final:
            return  # a click that raced the end of the retrieve changes nothing
        self._cancel.set()
        self._set_state(RetrieveState.CANCELLING)
        self._planner.cancel()
        with self._lock:
            current = self._current
            self._lock.notify_all()
        if current is not None:
            current.cancel()

    def run(self) -> RetrieveOutcome:
        """Perform the retrieve (blocking; run it in a worker thread)."""
        self._started = time.monotonic()
        outcome = RetrieveOutcome(job_id=self.job_id, method=self.method,
                                  move_destination=self.move_destination
                                  if self.method is RetrieveMethod.MOVE else "")
        attached = self.to_our_listener
        if attached and self.listener is not None:
            self._incoming_before = self.listener.mark()
            self.listener.attach(self)
        try:
            self._set_state(RetrieveState.CONNECTING)
            if self.method is RetrieveMethod.GET:
                self._get()
            else:
                self._move()
        except _Cancelled:
            pass
        except AssociationFailure as exc:
            outcome.failure = exc
        finally:
            if attached and self.listener is not None:
                if outcome.failure is None:
                    self._await_stragglers()
                self.listener.detach(self)
        if outcome.failure is None and not self._cancel.is_set():
            self._learn_what_is_missing()
        return self._finish(outcome)

    def progress(self) -> RetrieveProgress:
        with self._lock:
            counts = self._merged_counts()
            received = len(self._credited)
            return RetrieveProgress(
                job_id=self.job_id, state=self._state, remaining=counts.remaining,
                completed=counts.completed, failed=counts.failed, warning=counts.warning,
                received=received, elapsed=time.monotonic() - self._started,
                last_status=counts.final)

    # -- RetrieveClaim (called from listener threads) ------------------------
    def claim_score(self, instance: ReceivedInstance, our_ae: str) -> int:
        """How surely *instance* is ours (0: not at all).

        The Move Originator fields (PS3.7 9.3.1.1) decide whenever the sender
        fills them in right: our AE title and one of our requests' Message
        IDs is a certain match, and another AE title names another
        workstation's request. A sender that leaves them empty, or fills
        them wrongly (its own AE title, or a Message ID of no request of this
        job: a Java archive sends Message ID 1 whatever ours was), is matched
        by the UIDs of the scope, below any certain match, so that a job
        whose request had that Message ID still wins the instance.

        Only our node sends for us: its AE title from its host, or, from its
        host, one other AE title with a Move Originator Message ID of ours
        and an instance of our scope (a PACS sending its sub-operations under
        a storage AE title of its own; see :meth:`accepts_sender`). An
        instance already credited is not credited again: a byte-identical
        second copy stays ours without counting twice, a different object
        under the same SOP Instance UID (filed beside the first) is not ours.
        """
        originator, message_id = instance.originator_ae, instance.originator_message_id
        if self._closed or instance.refused:
            return 0
        address = _address(instance.peer_address)
        itself = instance.calling_ae.strip() == self.node.ae_title and \
            host_matches(self.node.host, address)
        with self._lock:
            ours = message_id is not None and message_id in self._message_ids
            held = instance.sop_instance_uid in self._credited
            alias = not itself and self._may_alias(instance.calling_ae, address) and (
                ours or instance.calling_ae.strip() in self._aliases)
        if not (itself or alias):
            return 0  # a stranger's copy of the study is never part of this retrieve
        if held and not (instance.ok and instance.stored is not None
                         and instance.stored.duplicate and not instance.stored.conflict):
            return 0
        if message_id is not None and ours and originator in ("", self.local.ae_title):
            in_scope = self.scope.match_score(instance) > 0
            return 100 if (in_scope or (originator and not alias)) else 0
        if message_id is None and not originator:
            return 0 if held else self.scope.match_score(instance)
        if itself and self._names_no_request(originator):
            # The PACS filled the fields wrongly (its own AE title, a constant
            # Message ID): matched by UIDs, below any request's certain 100, so a
            # job whose request had that Message ID still wins it.
            return 0 if held else self.scope.match_score(instance)
        return 0  # another request's: ours, or another workstation's

    def _originator_quirk(self, received: list[ReceivedInstance]) -> str:
        """How our node filled the Move Originator fields wrongly, if it did ("": it did not)."""
        for instance in received:
            message_id = instance.originator_message_id
            named_us = instance.originator_ae in ("", self.local.ae_title) and (
                message_id is None or message_id in self._message_ids)
            if instance.ok and not named_us and (instance.originator_ae or message_id):
                return _quirk_words(instance)
        return ""

    def _names_no_request(self, originator: str) -> bool:
        """Whether Move Originator fields from our node name nobody's request.

        Another AE title names another workstation's request (it asked the
        PACS to send to us); the PACS's own AE title, or ours with a Message
        ID no request of this job had, is a PACS that fills the fields
        wrongly (PS3.7 9.3.1.1 asks for the C-MOVE requester's values).
        """
        return originator in ("", self.local.ae_title, self.node.ae_title)

    def accepts_sender(self, calling_ae: str, address: str, originator_ae: str,
                       originator_message_id: int | None) -> bool:
        """Whether a C-STORE from *calling_ae* at *address* is our node sending for us.

        Our node's AE title from its host; or, from its host, another AE title
        with a Move Originator that names one of our requests: some PACS send
        their C-MOVE sub-operations under a storage AE title of their own. That
        title is remembered (and reported) for the rest of this retrieve, and
        it is the only one: once our node has sent under its own title, or
        under one other, a further title from its host is somebody else
        there guessing our Message ID.
        """
        if self._from_our_node(calling_ae, address):
            return True
        with self._lock:
            ours = originator_message_id is not None and \
                originator_message_id in self._message_ids
            if (ours and originator_ae in ("", self.local.ae_title)
                    and self._may_alias(calling_ae, address)):
                self._aliases.add(calling_ae.strip())
                return True
        return False

    def _may_alias(self, calling_ae: str, address: str) -> bool:
        """Whether *calling_ae* may be our node's storage AE title (call with the lock)."""
        calling_ae = calling_ae.strip()
        if not host_matches(self.node.host, address):
            return False
        if calling_ae in self._aliases:
            return True
        return not self._aliases and not self._sent_as_itself

    def _from_our_node(self, calling_ae: str, address: str) -> bool:
        calling_ae = calling_ae.strip()
        return (calling_ae == self.node.ae_title or calling_ae in self._aliases) and \
            host_matches(self.node.host, address)

    def deliver(self, instance: ReceivedInstance) -> None:
        instance = replace(instance, job_id=self.job_id)
        with self._lock:
            if instance.calling_ae.strip() == self.node.ae_title:
                self._sent_as_itself = True
            else:
                # Claimed under another AE title: our node's storage AE (reported).
                self._aliases.add(instance.calling_ae.strip())
            self._last_arrival = time.monotonic()
            if instance.ok and instance.sop_instance_uid in self._credited:
                self._lock.notify_all()  # a second copy: already counted
                return
            first_final = any(r.counts.final is not None for r in self._first)
            if first_final and self.method is RetrieveMethod.MOVE:
                self._late.append(instance)
            if instance.ok and self._current is not None and self._current not in self._first:
                self._recovered.add(instance.sop_instance_uid)
            self._received.append(instance)
            if instance.ok:
                self._credited.add(instance.sop_instance_uid)
            current = self._current
            self._lock.notify_all()
        if current is not None:
            current.touch()
        self._report()

    # -- C-GET -------------------------------------------------------------------
    def _get(self) -> None:
        try:
            self.plan = self._planner.learn(self.scope, quick=True)
            if (self.plan.classes_named and len(self.plan.sop_classes) > MAX_CLASSES):
                # One request per series, each with its own classes: list them.
                self.plan = self._planner.learn(self.scope)
        except AssociationFailure as exc:
            if exc.reason in _UNREACHABLE:
                raise
            # The PACS does not let us search (e.g. a C-GET-only service):
            # the C-GET itself may still work, with the broad set of classes.
            _LOGGER.info("could not list the scope before C-GET: %s", exc)
            self.plan = RetrievePlan(self.scope)
        self._check_cancel()
        plan = self.plan
        if plan.classes_exact and len(plan.sop_classes) > MAX_CLASSES:
            # More classes than one association can carry: a request per series.
            failures: list[AssociationFailure] = []
            for series_uid, items in plan.by_series().items():
                scope = RetrieveScope.series(
                    plan.scope.study_uid, series_uid, patient_id=plan.scope.patient_id,
                    sop_classes=tuple(dict.fromkeys(i.sop_class_uid for i in items)))
                try:
                    self._run(self._get_request(scope), first=True)
                except AssociationFailure as exc:
                    failures.append(exc)  # the other series may still come
            if failures and not self._received:
                raise failures[0]
        else:
            self._run(self._get_request(plan.request_scope()), first=True)
        if plan.classes_named and self._short_of_plan():
            # The study-level answer was enough to ask; naming what is
            # missing, and asking again for it, needs the instances.
            try:
                self.plan = self._planner.learn(self.scope)
            except AssociationFailure as exc:
                _LOGGER.info("could not list the scope after a short C-GET: %s", exc)
        self._recover()

    def _short_of_plan(self) -> bool:
        """Whether the first round brought less than the PACS counted for the scope."""
        with self._lock:
            counts = self._merged_counts()
            stored = len(self._credited)
            refused = any(not r.ok for r in self._received)
        expected = self.plan.expected if self.plan is not None else None
        return (refused or counts.failed > 0 or bool(counts.remaining)
                or counts.final is None or expected is None or stored < expected)

    def _get_request(self, scope: RetrieveScope, syntax: str | None = None,
                     exact: bool = False) -> RetrieveRequest:
        """A C-GET of *scope* proposing its classes (exact, or guessed from modalities)."""
        exact = exact or (self.plan is not None and self.plan.classes_exact)
        model = model_uid(self.node.query_model, RetrieveMethod.GET)
        contexts, roles = get_storage_contexts(model, scope.sop_classes,
                                               () if exact else scope.modalities, syntax, exact)
        return self._request(scope, contexts=contexts, roles=roles)

    def _recover(self) -> None:
        """Ask again, in other syntaxes, for instances that another proposal may bring."""
        plan = self.plan
        if plan is None or not plan.instances:
            return
        accepted = self._accepted()
        with self._lock:
            received = list(self._received)
            counts = self._merged_counts()
        if any(not r.ok and r.status == STATUS_OUT_OF_RESOURCES for r in received):
            return  # our disk is full: asking again would only fail again
        refused = (counts.final is not None and counts.final.category is StatusCategory.FAILURE
                   and counts.final.code != SUBOPERATIONS_FAILED
                   and counts.completed + counts.warning == 0 and not received)
        if refused:
            # Nothing came, and the status is not "unable to perform
            # sub-operations" (dcmqrscp's answer when none could be sent on our
            # contexts): the PACS refused the retrieve itself, and asking again
            # in other syntaxes changes nothing. The hint says why.
            return
        for step in list(unoffered_class_steps(plan, received, self._proposed())):
            self._asked_again.update(step.scope.instance_uids)
            if not self._ask_again(step):
                return
        wanted = worth_asking_again(plan, received, accepted)
        for _syntax, steps in recovery_steps(plan, wanted):
            for step in steps:
                self._asked_again.update(step.scope.instance_uids)
                if not self._ask_again(step):
                    return
            self._drop_arrived(wanted)
        # Instances of a class the PACS does not name may be of a class we
        # never guessed: offer every other storage class we know, once.
        for step in every_class_steps(plan, wanted, self._proposed()):
            self._offered_every_class.update(step.scope.instance_uids)
            if not self._ask_again(step):
                return
            self._drop_arrived(wanted)

    def _ask_again(self, step: RecoveryStep) -> bool:
        """Run one recovery step; False when it failed and recovery should stop."""
        self._check_cancel()
        self.log.record(self.log.new_association_id(Direction.OUTGOING),
                        Direction.OUTGOING, "get-retry", step.description,
                        job_id=self.job_id, peer_ae=self.node.ae_title,
                        detail={"syntax": step.syntax,
                                "instances": list(step.scope.instance_uids)})
        try:
            self._run(self._get_request(step.scope, step.syntax or None,
                                        exact=not step.syntax))
        except AssociationFailure as exc:
            # What the first round brought stands; the outcome names the rest.
            _LOGGER.info("asking again failed, recovery stops: %s", exc)
            return False
        return True

    def _drop_arrived(self, wanted: list) -> None:
        with self._lock:
            arrived = {r.sop_instance_uid for r in self._received}
        wanted[:] = [i for i in wanted if i.sop_instance_uid not in arrived]

    def _proposed(self) -> set[str]:
        """The storage classes our C-GET requests proposed."""
        model = model_uid(self.node.query_model, RetrieveMethod.GET)
        return {str(cx.abstract_syntax) for request in self._requests
                for cx in request.contexts if cx.abstract_syntax != model}

    def _accepted(self) -> dict[str, set[str]]:
        accepted: dict[str, set[str]] = {}
        for request in self._requests:
            for abstract, syntaxes in request.accepted.items():
                accepted.setdefault(abstract, set()).update(syntaxes)
        return accepted

    # -- C-MOVE ------------------------------------------------------------------
    def _move(self) -> None:
        self._learn_patient_id()
        self._run(self._request(self.scope), first=True)

    def _learn_patient_id(self) -> None:
        """Patient Root needs the study's Patient ID in the identifier: ask for it first.

        PS3.4 C.4.2.2.1 asks for the unique key of each level above, single
        valued; ``dcmqrscp --check-move`` refuses an empty Patient ID with
        0xA900. When the PACS does not tell it, the request goes out without
        it (lenient servers accept that), and a refusal says why.
        """
        if self.node.query_model is not QueryModel.PATIENT_ROOT or self.scope.patient_id:
            return
        try:
            patient_id = self._planner.patient_id(self.scope)
        except AssociationFailure as exc:
            if exc.reason in _UNREACHABLE:
                raise
            _LOGGER.info("could not learn the Patient ID before the C-MOVE: %s", exc)
            return
        self._check_cancel()
        if patient_id:
            self.scope = replace(self.scope, patient_id=patient_id)

    def _await_stragglers(self) -> None:
        """After the final response, wait for instances still on their way.

        Until as many arrived as the PACS reported sent; and when it reported
        nothing at all, for the whole grace period, because a non-conformant
        PACS may answer first and send afterwards. Each arrival starts the
        wait again.
        """
        if not self.to_our_listener:
            return
        with self._lock:
            self._last_arrival = max(self._last_arrival, time.monotonic())
            while not self._cancel.is_set():
                counts = self._merged_counts()
                if counts.final is None:
                    return
                if counts.final.category is StatusCategory.FAILURE and not self._received:
                    return
                sent = counts.completed + counts.warning
                arrived = len(self._credited)
                nothing_reported = sent + counts.failed == 0
                if arrived >= sent and not (nothing_reported and self.grace_after_final):
                    return
                remaining = self._last_arrival + self.grace_after_final - time.monotonic()
                if remaining <= 0:
                    return
                self._lock.wait(timeout=remaining)

    def _learn_what_is_missing(self) -> None:
        """A C-MOVE that ended short: ask the PACS what the scope holds, to name the gaps."""
        if (self.method is not RetrieveMethod.MOVE or self.plan is not None
                or not self.to_our_listener or self.move_destination != self.local.ae_title):
            return  # only what reaches our listener can be compared with the plan
        counts = self._merged_counts()
        arrived = len(self._credited)
        short = (counts.failed > 0 or (counts.remaining or 0) > 0
                 or (self.to_our_listener and arrived < counts.completed + counts.warning)
                 or counts.completed + counts.warning + counts.failed == 0)
        nothing_sent = (counts.final is not None and counts.completed + counts.warning == 0
                        and counts.final.category is StatusCategory.FAILURE)
        if not short or counts.final is None or nothing_sent:
            # A move refused outright (unknown destination...) is missing
            # everything for the one reason its hint names: no look-up needed.
            return
        try:
            self.plan = self._planner.learn(self.scope)
        except AssociationFailure as exc:
            _LOGGER.info("could not list the scope after an incomplete C-MOVE: %s", exc)

    # -- requests ------------------------------------------------------------------
    def _request(self, scope: RetrieveScope, **kw: list) -> RetrieveRequest:
        request = RetrieveRequest(
            self.node, self.local, self.log, scope, self.method, job_id=self.job_id,
            ae=self._ae, store=self.store, move_destination=self.move_destination,
            on_response=lambda _counts: self._report(),
            on_instance=self.deliver, debug=self.debug, **kw)
        with self._lock:
            # Known before the request is sent: the first C-STORE may overtake it.
            self._message_ids.add(request.message_id)
        if self.node.query_model is QueryModel.PATIENT_ROOT and not scope.patient_id:
            self._patient_id_missing = True
        return request

    def _run(self, request: RetrieveRequest, first: bool = False) -> None:
        self._check_cancel()
        with self._lock:
            self._current = request
            self._requests.append(request)
            if first:
                self._first.append(request)
        if self._cancel.is_set():
            request.cancel()
        try:
            self._set_state(RetrieveState.RUNNING)
            request.run()
        finally:
            with self._lock:
                self._current = None
        self._check_cancel()

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise _Cancelled

    # -- state -------------------------------------------------------------------
    def _merged_counts(self) -> RequestCounts:
        """The first round's counts, with what the recovery brought moved to completed."""
        merged = RequestCounts()
        finals = []
        for request in self._first:
            c = request.counts
            merged.completed += c.completed
            merged.failed += c.failed
            merged.warning += c.warning
            merged.responses += c.responses
            merged.failed_uids += c.failed_uids
            if c.remaining is not None:
                merged.remaining = (merged.remaining or 0) + c.remaining
            if merged.first_response is None:
                merged.first_response = c.first_response
            if c.final is not None:
                finals.append(c.final)
        if self._first and len(finals) == len(self._first):
            # The worst final status stands for the round.
            order = [StatusCategory.FAILURE, StatusCategory.WARNING, StatusCategory.CANCEL]
            merged.final = next((f for cat in order for f in finals if f.category is cat),
                                finals[-1])
        if self._recovered:
            # What the recovery brought had been counted failed, or left remaining.
            listed = set(merged.failed_uids) & self._recovered
            was_failed = len(listed) if merged.failed_uids else len(self._recovered)
            was_failed = min(was_failed, merged.failed)
            merged.failed -= was_failed
            if merged.remaining:
                merged.remaining = max(0, merged.remaining - (len(self._recovered) - was_failed))
            merged.completed += len(self._recovered)
            merged.failed_uids = [u for u in merged.failed_uids if u not in self._recovered]
        return merged

    def _set_state(self, state: RetrieveState) -> None:
        if self._state.is_final:
            return
        if self._cancel.is_set() and not state.is_final:
            state = RetrieveState.CANCELLING
        self._state = state
        self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            try:
                self.on_progress(self.progress())
            except Exception:
                _LOGGER.exception("progress callback failed")

    def _finish(self, outcome: RetrieveOutcome) -> RetrieveOutcome:
        with self._lock:
            self._closed = True
            counts = self._merged_counts()
            outcome.received = list(self._received)
            outcome.late = list(self._late)
            outcome.recovered = sorted(self._recovered)
            requests = list(self._requests)
        first = requests[0] if requests else None
        outcome.final_status = counts.final
        outcome.remaining = counts.remaining
        outcome.completed = counts.completed
        outcome.failed = counts.failed
        outcome.warning = counts.warning
        outcome.failed_uids = counts.failed_uids
        outcome.responses = counts.responses
        outcome.first_response_seconds = counts.first_response
        if first is not None:
            outcome.association_id = first.association_id
            outcome.local_address = first.local_address
        outcome.peer_aborted = any(r.peer_aborted for r in requests)
        outcome.timed_out = next((r.expired for r in requests
                                  if r.expired in ("idle", "total")), None)
        outcome.seconds = time.monotonic() - self._started
        outcome.cancelled = self._cancel.is_set()
        if self.to_our_listener and self.listener is not None:
            # Ours: those our instances came on, and those of our node that
            # brought nothing (a failed reverse connection is evidence too);
            # not another job's.
            outcome.incoming_associations = [
                c for c in self.listener.connections_since(self._incoming_before)
                if self.job_id in c.job_ids or (not c.job_ids and (
                    self._from_our_node(c.calling_ae, c.address)
                    or host_matches(self.node.host, c.address)))]
        outcome.sender_aliases = sorted(self._aliases)
        outcome.originator_quirk = self._originator_quirk(outcome.received)
        outcome.patient_id_missing = self._patient_id_missing
        outcome.expected = self.plan.expected if self.plan is not None else None
        observable = self.to_our_listener or self.method is RetrieveMethod.GET
        if observable or outcome.failed_uids:
            all_failed = {u for r in requests for u in r.counts.failed_uids}
            unnamed = max(0, outcome.failed - len(outcome.failed_uids))
            outcome.missing = missing_instances(
                self.plan if observable else None, outcome.received,
                all_failed - self._recovered,
                self._accepted() if self.method is RetrieveMethod.GET else None,
                outcome.cancelled, unnamed, self._asked_again,
                self._proposed() if self.method is RetrieveMethod.GET else None,
                self._offered_every_class)
        outcome.status = outcome_status(outcome, observable)
        self._state = RetrieveState(outcome.status)
        self._report()
        return outcome


def _quirk_words(instance: ReceivedInstance) -> str:
    message_id = instance.originator_message_id
    return (f"Move Originator AE Title '{instance.originator_ae}', Message ID "
            f"{'none' if message_id is None else message_id}")


def _address(peer_address: str) -> str:
    """The IP of ``address:port`` (IPv6 addresses contain colons themselves)."""
    return peer_address.rsplit(":", 1)[0]
