"""A retrieve as the user sees it: plan, request, recover, one outcome.

:class:`RetrieveJob` orchestrates the steps of :mod:`qrscope.core.retrieve`
and owns what the user sees of them: cancel (one call reaches whatever step
runs), progress (one stream of snapshots) and the outcome. The rest has its
own owner: the books (what was asked, received, credited) its
:class:`RetrieveLedger`; which job an instance arriving at the listener counts
for, :mod:`~qrscope.core.receive.claims`; what is missing and what to ask
again for, :mod:`~qrscope.core.retrieve.recovery`; the outcome,
:func:`~qrscope.core.retrieve.outcome.build_outcome`, once.

C-GET: plan (C-FIND), one request (or one per series when the classes do not
fit in one association), then recovery. C-MOVE: one request; the instances
arrive at our listener, which hands each to the job the claim rule names;
a move that ends short is planned afterwards, to name what is missing.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pynetdicom import AE

from qrscope.core.dicom.qr_models import model_uid
from qrscope.core.net.association_log import AssociationLog, Direction
from qrscope.core.net.connection import AssociationFailure, make_ae
from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode, RetrieveMethod
from qrscope.core.receive import claims
from qrscope.core.receive.reception import ReceivedInstance
from qrscope.core.receive.storage import InstanceStore
from qrscope.core.retrieve.contexts import get_storage_contexts
from qrscope.core.retrieve.ledger import RetrieveLedger
from qrscope.core.retrieve.outcome import Ending, RetrieveOutcome, build_outcome
from qrscope.core.retrieve.plan import RetrievePlan, RetrievePlanner
from qrscope.core.retrieve.recovery import (
    RecoveryStep,
    accepted_syntaxes,
    missing_after,
    proposed_classes,
    recover,
    stopped_answering,
)
from qrscope.core.retrieve.request import RetrieveRequest
from qrscope.core.retrieve.scope import RetrieveScope
from qrscope.core.retrieve.types import RetrieveProgress, RetrieveState

if TYPE_CHECKING:
    from qrscope.core.receive.listener import StorageListener

__all__ = ["RetrieveJob", "RetrieveOptions"]

_LOGGER = logging.getLogger(__name__)
_JOB_NUMBERS = itertools.count(1)


class _Cancelled(Exception):
    """Raised between steps once the user cancelled: run() ends with what came."""


@dataclass(frozen=True)
class RetrieveOptions:
    """How a retrieve runs, beside what it asks of whom (see :class:`RetrieveJob`)."""

    method: RetrieveMethod
    move_destination: str
    grace_after_final: float = 5.0
    debug: bool = False


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
        The job service's id for this retrieve; by default a number of this process.
    method, move_destination, grace_after_final, debug
        Kept together as :attr:`options`. *grace_after_final*: seconds to wait
        for instances after the final C-MOVE response while fewer arrived than
        the PACS reported, or when it reported none (some servers answer
        first and send afterwards); each arrival starts the wait again.
    """

    def __init__(
        self, node: RemoteNode, local: LocalAE, log: AssociationLog, scope: RetrieveScope, *,
        method: RetrieveMethod | None = None, listener: StorageListener | None = None,
        store: InstanceStore | None = None, move_destination: str | None = None,
        on_progress: Callable[[RetrieveProgress], None] | None = None,
        grace_after_final: float = 5.0, ae: AE | None = None, debug: bool = False,
        job_id: str | None = None,
    ) -> None:
        self.job_id = job_id or f"job-{next(_JOB_NUMBERS)}"
        self.node = node
        self.local = local
        self.log = log
        self.listener = listener
        self.on_progress = on_progress
        self.options = RetrieveOptions(
            method or node.retrieve_method,
            (move_destination or node.move_destination or local.ae_title).strip(),
            grace_after_final, debug)
        self.store = store or (listener.store if listener else InstanceStore(local.storage_folder))
        self.ledger = RetrieveLedger(scope.validated(), self.method, node.ae_title)
        self.plan: RetrievePlan | None = None
        self._ae = ae or make_ae(local, node)
        self._planner = RetrievePlanner(node, local, log, debug=debug)
        self._cancel = threading.Event()
        self._state = RetrieveState.PENDING
        self._started = time.monotonic()
        self._incoming_before = 0

    # -- public ----------------------------------------------------------------
    @property
    def method(self) -> RetrieveMethod:
        return self.options.method

    @property
    def move_destination(self) -> str:
        return self.options.move_destination

    @property
    def scope(self) -> RetrieveScope:
        return self.ledger.scope

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
        self.ledger.wake()
        current = self.ledger.current
        if current is not None:
            current.cancel()

    def run(self) -> RetrieveOutcome:
        """Perform the retrieve (blocking; run it in a worker thread)."""
        self._started = time.monotonic()
        failure: AssociationFailure | None = None
        listener = self.listener if self.to_our_listener else None
        if listener is not None:
            self._incoming_before = listener.mark()
            listener.attach(self)
        try:
            self._set_state(RetrieveState.CONNECTING)
            if self.method is RetrieveMethod.GET:
                self._get()
            else:
                self._move()
        except _Cancelled:
            pass
        except AssociationFailure as exc:
            failure = exc
        finally:
            if listener is not None:
                if failure is None:
                    self.ledger.wait_for_stragglers(self.options.grace_after_final,
                                                    self._cancel)
                listener.detach(self)
        if failure is None and not self._cancel.is_set():
            self._learn_what_is_missing()
        return self._finish(RetrieveOutcome(self.job_id, self.method, failure=failure))

    def progress(self) -> RetrieveProgress:
        counts = self.ledger.counts()
        return RetrieveProgress(
            job_id=self.job_id, state=self._state, remaining=counts.remaining,
            completed=counts.completed, failed=counts.failed, warning=counts.warning,
            received=self.ledger.credited, elapsed=time.monotonic() - self._started,
            last_status=counts.final)

    # -- claims.Claimant (called from listener threads) ------------------------
    def standing(self, sop_instance_uid: str) -> claims.Standing:
        """This job's evidence for the claim rule, now, for one SOP Instance UID."""
        return self.ledger.standing(self._standing, sop_instance_uid)

    def claim_score(self, instance: ReceivedInstance, our_ae: str) -> int:
        """How surely *instance* is ours (0: not at all): :func:`claims.claim`'s score."""
        return claims.claim(claims.Incoming.of(instance),
                            self.standing(instance.sop_instance_uid)).score

    def accepts_sender(self, calling_ae: str, address: str, originator_ae: str,
                       originator_message_id: int | None) -> bool:
        """Whether a C-STORE's sender is our node sending for us (:func:`claims.admission`).

        A storage AE title of the node's that names one of our requests is
        adopted as its alias for the rest of this retrieve (and reported).
        """
        sender = claims.Sender(calling_ae.strip(), address, originator_ae,
                               originator_message_id)
        return self.ledger.admit(self._standing,
                                 lambda standing: claims.admission(sender, standing),
                                 calling_ae)

    def deliver(self, instance: ReceivedInstance) -> None:
        """Record an instance of ours (a listener's claimed one, or a C-GET's)."""
        recorded, current = self.ledger.receive(replace(instance, job_id=self.job_id))
        if not recorded:
            return  # a second copy: already counted
        if current is not None:
            current.touch()
        self._report()

    @property
    def _standing(self) -> claims.Standing:
        return claims.Standing(self.local.ae_title, self.node.ae_title, self.node.host,
                               self.scope)

    @property
    def _message_ids(self) -> set[int]:
        """The ledger's set of our requests' Message IDs itself (tests register one)."""
        return self.ledger.message_ids

    # -- C-GET -------------------------------------------------------------------
    def _get(self) -> None:
        self._planned(self._planner.for_get(self.scope))
        self._check_cancel()
        plan = self.plan
        if plan.by_series_requests:
            # More classes than one association can carry: a request per series.
            failures: list[AssociationFailure] = []
            for scope in plan.series_scopes():
                try:
                    self._run(self._get_request(scope), first=True)
                except AssociationFailure as exc:
                    failures.append(exc)  # the other series may still come
            if failures and not self.ledger.received:
                raise failures[0]
        else:
            self._run(self._get_request(plan.request_scope()), first=True)
        if plan.classes_named and self._short_of_plan():
            # The study-level answer was enough to ask; naming what is
            # missing, and asking again for it, needs the instances.
            try:
                self._planned(self._planner.learn(self.scope))
            except AssociationFailure as exc:
                _LOGGER.info("could not list the scope after a short C-GET: %s", exc)
        if self.plan is not None and self.plan.instances:
            recover(self.plan, self.ledger, self._ask_again, self._proposed,
                    accepted_syntaxes(self.ledger.requests))

    def _planned(self, plan: RetrievePlan) -> None:
        self.plan = plan
        self.ledger.expect(plan.expected)

    def _short_of_plan(self) -> bool:
        """Whether the first round brought less than the PACS counted for the scope."""
        counts, expected = self.ledger.counts(), self.ledger.expected
        return (any(not r.ok for r in self.ledger.received) or counts.failed > 0
                or bool(counts.remaining) or counts.final is None or expected is None
                or self.ledger.credited < expected)

    def _get_request(self, scope: RetrieveScope, syntax: str | None = None,
                     exact: bool = False) -> RetrieveRequest:
        """A C-GET of *scope* proposing its classes (exact, or guessed from modalities)."""
        exact = exact or (self.plan is not None and self.plan.classes_exact)
        contexts, roles = get_storage_contexts(self._get_model, scope.sop_classes,
                                               () if exact else scope.modalities, syntax, exact)
        return self._request(scope, contexts=contexts, roles=roles)

    def _ask_again(self, step: RecoveryStep, every_class: bool) -> bool:
        """Run one recovery step; False when it failed and recovery should stop."""
        self.ledger.ask_again(step.scope.instance_uids, every_class=every_class,
                              syntax=step.syntax)
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
        return not stopped_answering(self.ledger.requests[-1:])

    @property
    def _get_model(self) -> str:
        return model_uid(self.node.query_model, RetrieveMethod.GET)

    def _proposed(self) -> set[str]:
        """The storage classes our C-GET requests proposed."""
        return proposed_classes(self.ledger.requests, self._get_model)

    # -- C-MOVE ------------------------------------------------------------------
    def _move(self) -> None:
        self.ledger.rescope(self._planner.scope_for_move(self.scope))  # Patient Root
        self._check_cancel()
        self._run(self._request(self.scope), first=True)

    def _learn_what_is_missing(self) -> None:
        """A C-MOVE that ended short: ask the PACS what the scope holds, to name the gaps."""
        if (self.method is not RetrieveMethod.MOVE or self.plan is not None
                or not self.to_our_listener or self.move_destination != self.local.ae_title
                or not self.ledger.ended_short()):
            return  # only what reaches our listener can be compared with the plan
        try:
            self._planned(self._planner.learn(self.scope))
        except AssociationFailure as exc:
            _LOGGER.info("could not list the scope after an incomplete C-MOVE: %s", exc)

    # -- requests ------------------------------------------------------------------
    def _request(self, scope: RetrieveScope, **kw: list) -> RetrieveRequest:
        request = RetrieveRequest(
            self.node, self.local, self.log, scope, self.method, job_id=self.job_id,
            ae=self._ae, store=self.store, move_destination=self.move_destination,
            on_response=lambda _counts: self._report(),
            on_instance=self.deliver, debug=self.options.debug, **kw)
        # Known before the request is sent: the first C-STORE may overtake it.
        self.ledger.register(request.message_id, without_patient_id=(
            self.node.query_model is QueryModel.PATIENT_ROOT and not scope.patient_id))
        return request

    def _run(self, request: RetrieveRequest, first: bool = False) -> None:
        self._check_cancel()
        self.ledger.start(request, first=first)
        if self._cancel.is_set():
            request.cancel()
        try:
            self._set_state(RetrieveState.RUNNING)
            request.run()
        finally:
            self.ledger.stop()
        self._check_cancel()

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise _Cancelled

    # -- state -------------------------------------------------------------------
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

    def _finish(self, begun: RetrieveOutcome) -> RetrieveOutcome:
        """Close the ledger and build the outcome, once; *begun* carries the failure if any."""
        record = self.ledger.close()
        observable = self.to_our_listener or self.method is RetrieveMethod.GET
        cancelled = self._cancel.is_set()
        outcome = build_outcome(record, Ending(
            job_id=self.job_id, method=self.method, our_ae=self.local.ae_title,
            observable=observable, failure=begun.failure, cancelled=cancelled,
            move_destination=self.move_destination if self.method is RetrieveMethod.MOVE
            else "", seconds=time.monotonic() - self._started,
            incoming_associations=tuple(self.listener.connections_of(
                self._incoming_before, self.job_id, self.node.host))
            if self.to_our_listener and self.listener is not None else (),
            missing=missing_after(record, self.plan, observable, cancelled,
                                  self._get_model if self.method is RetrieveMethod.GET
                                  else None)))
        self._state = RetrieveState(outcome.status)
        self._report()
        return outcome
