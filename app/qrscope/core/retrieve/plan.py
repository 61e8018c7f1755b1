"""What the PACS holds for a retrieve scope, learnt level by level before a C-GET.

C-GET must propose a storage context for every SOP class the PACS will send
(see :mod:`qrscope.core.retrieve.contexts`), and the outcome of any retrieve
should name each instance that did not arrive. Both need the list of
instances, which a conformant SCU learns as PS3.4 C.4.1.2.2 (hierarchical
search) allows: the study, then its series, then each series' instances,
every query carrying only the unique keys of the levels above, each with a
single value.

That listing costs a C-FIND per series and a response per instance (about
1.5 s for 1000 instances), before anything is fetched. A study-level answer
with ``SOP Classes in Study`` and ``Number of Study Related Instances``
(Orthanc and the demo PACS give both; DCMTK's dcmqrscp gives neither) says
what a C-GET must propose in one response: :meth:`RetrievePlanner.learn`
with ``quick=True`` stops there (:attr:`RetrievePlan.classes_named`), and the
job lists the instances only when the retrieve comes back short, to name
and ask again for what is missing.

A plan's C-FINDs run on one association (:class:`~qrscope.core.query.find.FindAssociation`),
not one each: the association cost more than the small searches themselves.
A caller planning many scopes in turn (a batch) hands the planner its own,
kept open from one plan to the next.

Not every server returns SOP Class UID at IMAGE level (DCMTK's dcmqrscp
indexes only SOP Instance UID and Instance Number there), and a look-up the
PACS refuses is not an error: the classes then fall back to what the
study-level answer and each series' Modality suggest
(:func:`~qrscope.core.retrieve.contexts.storage_classes_for`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from qrscope.core.dicom.records import InstanceRecord, QueryLevel, Record, SeriesRecord, StudyRecord
from qrscope.core.dicom.status import StatusCategory
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import AssociationFailure, FailureReason, OutgoingAssociation
from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode
from qrscope.core.query.find import FindAssociation, FindOperation, QueryFilter
from qrscope.core.retrieve.contexts import MAX_CLASSES
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.core.validation import InvalidValue

__all__ = ["UNREACHABLE", "PlannedInstance", "RetrievePlan", "RetrievePlanner"]

_LOGGER = logging.getLogger(__name__)
INSTANCE_LOOKUP_LIMIT = 20_000
# Failures that no other request could get past: the PACS is not there.
UNREACHABLE = {FailureReason.HOST_NOT_FOUND, FailureReason.CONNECTION_REFUSED,
               FailureReason.CONNECTION_TIMEOUT, FailureReason.CONNECTION_FAILED}


@dataclass(frozen=True)
class PlannedInstance:
    """One instance the PACS listed for the scope."""

    sop_instance_uid: str
    sop_class_uid: str
    series_uid: str


@dataclass(frozen=True)
class RetrievePlan:
    """The scope with what the PACS said it holds for it.

    ``complete`` is true when every series of the scope was listed down to
    its instances: only then are ``instances`` all there is. The classes are
    exact (:attr:`classes_exact`) when, besides, every instance came with its
    SOP Class UID.
    """

    scope: RetrieveScope
    instances: tuple[PlannedInstance, ...] = ()
    complete: bool = False
    series_modalities: dict[str, str] = field(default_factory=dict)
    study_instances: int | None = None
    """NumberOfStudyRelatedInstances from the study-level answer, when asked."""
    classes_named: bool = False
    """The PACS named the study's classes (SOPClassesInStudy) and counted its
    instances; no instance was listed. The classes are taken as exact, and a
    retrieve that comes back short of the count lists the instances then."""

    @property
    def _listed_exact(self) -> bool:
        return self.complete and all(i.sop_class_uid for i in self.instances)

    @property
    def classes_exact(self) -> bool:
        return self._listed_exact or self.classes_named

    @property
    def sop_classes(self) -> tuple[str, ...]:
        """The classes known: exact when :attr:`classes_exact`, else all we were told of."""
        listed = tuple(dict.fromkeys(i.sop_class_uid for i in self.instances
                                     if i.sop_class_uid))
        if self._listed_exact:
            return listed
        return tuple(dict.fromkeys((*listed, *self.scope.sop_classes)))

    @property
    def modalities(self) -> tuple[str, ...]:
        found = tuple(m for m in self.series_modalities.values() if m)
        return tuple(dict.fromkeys((*self.scope.modalities, *found)))

    def request_scope(self) -> RetrieveScope:
        """The scope to ask for, with the classes and modalities learnt."""
        return replace(self.scope, sop_classes=self.sop_classes, modalities=self.modalities)

    @property
    def expected(self) -> int | None:
        """How many instances the PACS listed for the scope (None: not known)."""
        if self.complete:
            return len(self.instances)
        if self.scope.level is QueryLevel.STUDY:
            return self.study_instances
        return None

    @property
    def by_series_requests(self) -> bool:
        """Whether the exact classes are more than one association carries (C-GET)."""
        return self.classes_exact and len(self.sop_classes) > MAX_CLASSES

    def series_scopes(self) -> list[RetrieveScope]:
        """One scope per series, each with exactly its own classes."""
        return [RetrieveScope.series(
                    self.scope.study_uid, series_uid, patient_id=self.scope.patient_id,
                    sop_classes=tuple(dict.fromkeys(i.sop_class_uid for i in items)))
                for series_uid, items in self.by_series().items()]

    def by_series(self, instances: list[PlannedInstance] | None = None,
                  ) -> dict[str, list[PlannedInstance]]:
        grouped: dict[str, list[PlannedInstance]] = {}
        for item in self.instances if instances is None else instances:
            grouped.setdefault(item.series_uid, []).append(item)
        return grouped

    def find(self, sop_instance_uid: str) -> PlannedInstance | None:
        return next((i for i in self.instances if i.sop_instance_uid == sop_instance_uid),
                    None)


class RetrievePlanner:
    """Learns a :class:`RetrievePlan` with C-FIND; :meth:`cancel` stops it from any thread.

    Each public step's C-FINDs in the node's query model run on one association:
    *finds*, when the caller keeps one across plans (and closes it), else one
    opened for the step and released at its end.
    """

    def __init__(self, node: RemoteNode, local: LocalAE, log: AssociationLog,
                 debug: bool = False, finds: FindAssociation | None = None) -> None:
        self.node = node
        self.local = local
        self.log = log
        self.debug = debug
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._current: FindOperation | None = None
        self._finds = finds

    @contextlib.contextmanager
    def _one_association(self) -> Iterator[None]:
        """The step's searches on one association: the caller's, or one of its own,
        released when the outermost step ends."""
        if self._finds is not None:
            yield
            return
        self._finds = FindAssociation(self.node, self.local, self.log, debug=self.debug,
                                      idle=float("inf"))
        try:
            yield
        finally:
            finds, self._finds = self._finds, None
            finds.close()

    def cancel(self) -> None:
        self._cancel.set()
        with self._lock:
            current = self._current
        if current is not None:
            current.cancel()

    def patient_id(self, scope: RetrieveScope) -> str:
        """The Patient ID of the scope's study ("" when the PACS does not say).

        Patient Root retrieves need it (PS3.4 C.4.2.2.1: the unique key of
        each level above, single valued); strict servers such as ``dcmqrscp
        --check-move`` refuse an empty one with 0xA900. Raises
        ``AssociationFailure`` if the PACS cannot be reached.
        """
        if scope.patient_id:
            return scope.patient_id
        with self._one_association():
            study = self._study(scope)
        return study.patient_id if study is not None else ""

    def scope_for_move(self, scope: RetrieveScope) -> RetrieveScope:
        """*scope* with the study's Patient ID when Patient Root needs it and it is learnt.

        PS3.4 C.4.2.2.1 asks for the unique key of each level above, single
        valued; ``dcmqrscp --check-move`` refuses an empty Patient ID with
        0xA900. When the PACS does not tell it, the request goes out without
        it (lenient servers accept that), and a refusal says why.
        """
        if self.node.query_model is not QueryModel.PATIENT_ROOT or scope.patient_id:
            return scope
        try:
            patient_id = self.patient_id(scope)
        except AssociationFailure as exc:
            if exc.reason in UNREACHABLE:
                raise
            _LOGGER.info("could not learn the Patient ID before the C-MOVE: %s", exc)
            return scope
        return replace(scope, patient_id=patient_id) if patient_id else scope

    def for_get(self, scope: RetrieveScope) -> RetrievePlan:
        """The plan a C-GET starts from: the quick one, listed in full when its classes
        need a request per series; an empty plan when the PACS does not let us search
        (a C-GET-only service), so that the C-GET may still work with guessed classes.
        Raises ``AssociationFailure`` only when the PACS is not there at all."""
        try:
            with self._one_association():
                plan = self.learn(scope, quick=True)
                if plan.classes_named and len(plan.sop_classes) > MAX_CLASSES:
                    plan = self.learn(scope)  # one request per series, each with its classes
        except AssociationFailure as exc:
            if exc.reason in UNREACHABLE:
                raise
            _LOGGER.info("could not list the scope before C-GET: %s", exc)
            return RetrievePlan(scope)
        return plan

    def learn(self, scope: RetrieveScope, quick: bool = False) -> RetrievePlan:
        """The plan for *scope*. Raises ``AssociationFailure`` if the PACS cannot be reached.

        With *quick*, a whole study whose classes and instance count the PACS
        gives at study level is not listed further (:attr:`RetrievePlan.classes_named`).
        """
        with self._one_association():
            return self._learn(scope, quick)

    def _learn(self, scope: RetrieveScope, quick: bool) -> RetrievePlan:
        patient_id, study_instances = scope.patient_id, None
        if scope.level is QueryLevel.STUDY or (
                self.node.query_model is QueryModel.PATIENT_ROOT and not patient_id):
            study = self._study(scope)
            if study is not None:
                patient_id = patient_id or study.patient_id
                study_instances = study.number_of_instances
                scope = replace(
                    scope, patient_id=patient_id,
                    modalities=scope.modalities or study.modalities,
                    sop_classes=scope.sop_classes or study.sop_classes)
                if (quick and scope.level is QueryLevel.STUDY and not scope.instance_uids
                        and study.sop_classes and study_instances):
                    # The PACS's own classes, not ones a caller passed in.
                    scope = replace(scope, sop_classes=study.sop_classes)
                    return RetrievePlan(scope, study_instances=study_instances,
                                        classes_named=True)
        # The series level gives each series' Modality, the fallback for
        # servers that do not return SOP Class UIDs.
        listed = self._series(scope)
        modalities = {s.series_uid: s.modality for s in listed or ()}
        if scope.level is QueryLevel.STUDY:
            if listed is None:
                return RetrievePlan(scope, study_instances=study_instances)
            series_uids = list(modalities)
        else:
            series_uids = list(scope.series_uids)
            modalities = {uid: modalities.get(uid, "") for uid in series_uids}
        instances: list[PlannedInstance] = []
        complete = True
        for series_uid in series_uids:
            found = self._instances(scope, series_uid)
            if found is None:
                complete = False
                continue
            instances += found
        if scope.instance_uids:
            wanted = set(scope.instance_uids)
            instances = [i for i in instances if i.sop_instance_uid in wanted]
            complete = complete and len(instances) == len(wanted)
        return RetrievePlan(scope, tuple(instances), complete, modalities, study_instances)

    # -- one level at a time ---------------------------------------------------------
    def _patient_id(self, scope: RetrieveScope) -> str:
        """The Patient ID only where it is a unique key above the study (Patient Root)."""
        return scope.patient_id if self.node.query_model is QueryModel.PATIENT_ROOT else ""

    def _study(self, scope: RetrieveScope) -> StudyRecord | None:
        query = QueryFilter(study_uid=scope.study_uid, patient_id=self._patient_id(scope))
        walks = self.node.query_model is QueryModel.PATIENT_ROOT and not query.patient_id
        records = None
        if walks:
            # Under Patient Root a study is found below its patient, and
            # without the Patient ID that means searching every patient on
            # the PACS. Study Root finds it, and its Patient ID, in one
            # request; most servers offer both models.
            records = self._find(QueryLevel.STUDY, query, model=QueryModel.STUDY_ROOT)
        if records is None:
            # A Study Instance UID names one study: only a walk over the
            # patients needs the limit, to stop at the first that holds it.
            records = self._find(QueryLevel.STUDY, query, 1 if walks else None)
        return next((r for r in records or () if isinstance(r, StudyRecord)), None)

    def _series(self, scope: RetrieveScope) -> list[SeriesRecord] | None:
        records = self._find(QueryLevel.SERIES, QueryFilter(
            study_uid=scope.study_uid, patient_id=self._patient_id(scope)))
        if records is None:
            return None
        return [r for r in records if isinstance(r, SeriesRecord) and r.series_uid]

    def _instances(self, scope: RetrieveScope, series_uid: str) -> list[PlannedInstance] | None:
        records = self._find(QueryLevel.IMAGE, QueryFilter(
            study_uid=scope.study_uid, series_uid=series_uid,
            patient_id=self._patient_id(scope)), INSTANCE_LOOKUP_LIMIT)
        if records is None or len(records) >= INSTANCE_LOOKUP_LIMIT:
            return None  # not listed, or not all of it: the series stays unknown
        return [PlannedInstance(r.sop_instance_uid, r.sop_class_uid, r.series_uid or series_uid)
                for r in records if isinstance(r, InstanceRecord) and r.sop_instance_uid]

    def _association(self, model: QueryModel | None) -> OutgoingAssociation | None:
        """The shared association for a search in the node's own model; another model
        (Study Root asked of a Patient Root node) is asked on an association of its own."""
        if model is not None or self._finds is None:
            return None
        return self._finds.get()

    def _find(self, level: QueryLevel, query: QueryFilter, limit: int | None = None,
              model: QueryModel | None = None) -> list[Record] | None:
        """The records, or None when the PACS refused or we were cancelled.

        Reaching *limit* is not a refusal: the records found are returned
        (the C-CANCEL that ended the search may leave no success status).
        *model* overrides the node's query model; a PACS that does not offer
        it gives None.
        """
        if self._cancel.is_set():
            return None
        node = self.node if model is None else replace(self.node, query_model=model)
        try:
            operation = FindOperation(node, self.local, self.log, level, query,
                                      limit=limit, debug=self.debug,
                                      association=self._association(model))
        except InvalidValue as exc:
            # A UID the PACS gave us that we will not send back (too long, not
            # digits and dots): that part of the plan stays unknown.
            _LOGGER.info("cannot look up %s: %s", level.value, exc)
            return None
        with self._lock:
            self._current = operation
        if self._cancel.is_set():  # a cancel() that came before _current was published
            operation.cancel()
        try:
            result = operation.run()
        except AssociationFailure as exc:
            if model is None:
                raise
            # The other model is not offered (a context refused, or, as
            # pynetdicom does when none is left, the association aborted):
            # the node's own model is asked, and names any real failure.
            _LOGGER.info("%s look-up refused: %s", model.value, exc)
            return None
        finally:
            with self._lock:
                self._current = None
        if result.truncated and not self._cancel.is_set():
            return result.records
        status = result.status
        if (result.cancelled or status is None
                or status.category is not StatusCategory.SUCCESS):
            _LOGGER.info("%s-level look-up before the retrieve gave %s", level.value,
                         "no answer" if status is None else status)
            return None
        return result.records

