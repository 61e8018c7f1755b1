"""C-FIND: search a node at patient, study, series or image level.

Results stream to the caller as they arrive (a PACS may take seconds per
hundred matches), a result limit and :meth:`FindOperation.cancel` both end
the query with C-CANCEL, and the wait after a cancel is bounded so that a
peer that ignores it cannot hang the search.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pydicom.dataset import Dataset
from pynetdicom import AE, build_context

from qrscope.core.dicom.qr_models import Operation, model_uid
from qrscope.core.dicom.records import QueryLevel, Record, key_level, record_from_identifier
from qrscope.core.dicom.status import Service, StatusCategory, StatusInfo, decode_status
from qrscope.core.dicom.uids import is_valid_uid
from qrscope.core.engine.choice import current as current_engine
from qrscope.core.engine.pynetdicom_private import wake_reader
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import (
    OutgoingAssociation,
    make_ae,
    next_message_id,
    open_association,
    require_context,
)
from qrscope.core.net.watchdog import Watchdog
from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode
from qrscope.core.query.keys import QueryKey
from qrscope.core.validation import InvalidValue, check_date_range

__all__ = ["FindAssociation", "FindOperation", "FindResult", "QueryFilter", "build_identifier",
           "check_keys", "find_association", "shared_searches"]

# Return keys each level asks for (PS3.4 C.6.1 and C.6.2), beyond the matching
# keys: only keys of the level itself, because hierarchical search allows no
# other (PS3.4 C.4.1.2.2). Study Root holds the patient's attributes at STUDY
# level; Patient Root answers them at PATIENT level, and the search fills the
# study rows in from that step.
_PATIENT_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
_RETURN_KEYS: dict[QueryLevel, tuple[str, ...]] = {
    QueryLevel.PATIENT: (*_PATIENT_KEYS, "NumberOfPatientRelatedStudies"),
    QueryLevel.STUDY: ("StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber",
                       "StudyID", "StudyDescription", "ReferringPhysicianName",
                       "ModalitiesInStudy", "SOPClassesInStudy",
                       "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"),
    QueryLevel.SERIES: ("SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
                        "SeriesDate", "BodyPartExamined", "NumberOfSeriesRelatedInstances"),
    QueryLevel.IMAGE: ("SOPInstanceUID", "SOPClassUID", "InstanceNumber"),
}
_WILDCARDS = frozenset("*?")


@dataclass(frozen=True)
class QueryFilter:
    """What the user searches for; empty fields match everything.

    ``patient_name`` accepts DICOM wildcards (``*``, ``?``); dates accept
    ``YYYYMMDD`` and ranges ``A-B``, ``-B``, ``A-``; UIDs may be lists
    separated by backslashes. ``keys`` are further keys by tag (``-k``),
    matching keys where they have a value; one overrides the field for the
    same attribute.
    """

    patient_name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    accession_number: str = ""
    study_date: str = ""
    modalities: tuple[str, ...] = ()
    study_description: str = ""
    referring_physician: str = ""
    study_uid: str = ""
    series_uid: str = ""
    sop_instance_uid: str = ""
    keys: tuple[QueryKey, ...] = ()

    def validated(self) -> QueryFilter:
        modalities = tuple(m.strip().upper() for m in self.modalities if m.strip())
        for modality in modalities:
            if not modality.isalnum() or len(modality) > 16:
                raise InvalidValue("modality", f"'{modality}' is not a modality code (e.g. CT)")
        for name in ("study_uid", "series_uid", "sop_instance_uid"):
            for uid in filter(None, getattr(self, name).split("\\")):
                if not is_valid_uid(uid, strict=False):  # matched as the PACS gave it
                    raise InvalidValue(name, f"'{uid}' is not a UID (digits and dots)")
        return replace(
            self,
            birth_date=check_date_range(self.birth_date, "birth_date"),
            study_date=check_date_range(self.study_date, "study_date"),
            modalities=modalities,
        )

    def matching(self, level: QueryLevel, model: QueryModel,
                 search: QueryLevel | None = None) -> dict[str, str]:
        """The matching keys with a value that belong to *level*, by keyword.

        The modality filter is ModalitiesInStudy when the *search* (by
        default *level*) is at STUDY level, and Modality of the series when
        it goes deeper.
        """
        search = search or level
        study_root = model is QueryModel.STUDY_ROOT
        keys = {
            "PatientName": self.patient_name, "PatientID": self.patient_id,
            "PatientBirthDate": self.birth_date, "AccessionNumber": self.accession_number,
            "StudyDate": self.study_date, "StudyDescription": self.study_description,
            "ReferringPhysicianName": self.referring_physician,
            "StudyInstanceUID": self.study_uid, "SeriesInstanceUID": self.series_uid,
            "SOPInstanceUID": self.sop_instance_uid,
        }
        wanted = {k: v for k, v in keys.items() if v and key_level(k, study_root) is level}
        if self.modalities:
            if level is search is QueryLevel.STUDY:
                wanted["ModalitiesInStudy"] = "\\".join(self.modalities)
            elif level is QueryLevel.SERIES:
                wanted["Modality"] = "\\".join(self.modalities)
        for key in self.keys:
            if key.value and key.keyword and key_level(key.keyword, study_root) is level:
                wanted[key.keyword] = key.value
        return wanted


def check_keys(level: QueryLevel, query: QueryFilter, model: QueryModel) -> None:
    """Refuse keys a hierarchical search at *level* cannot carry (PS3.4 C.4.1.2.2).

    A matching key of a level above is fine (the search applies it at that
    level); a return key of another level, or any key of a level below, is
    not.

    Raises
    ------
    InvalidValue
    """
    study_root = model is QueryModel.STUDY_ROOT
    below = {"series_uid": QueryLevel.SERIES, "sop_instance_uid": QueryLevel.IMAGE}
    for name, key_level_ in below.items():
        if getattr(query, name) and key_level_.rank > level.rank:
            raise InvalidValue(name, f"narrows only {key_level_} level searches and below, "
                               f"not {level} level ones")
    for key in query.keys:
        belongs = key_level(key.keyword, study_root) if key.keyword else None
        if belongs is None or belongs is level:
            continue
        if belongs.rank > level.rank:
            raise InvalidValue("-k", f"{key.name} is a {belongs} level key; a {level} level "
                               "search cannot carry it (PS3.4 C.4.1.2.2)")
        if key.value is None:
            raise InvalidValue("-k", f"{key.name} is a {belongs} level key: a {level} level "
                               f"search returns only {level} level keys (PS3.4 C.4.1.2.2); "
                               f"ask for it with --level {belongs.value.lower()}")


def build_identifier(level: QueryLevel, query: QueryFilter,
                     model: QueryModel = QueryModel.STUDY_ROOT,
                     above: dict[str, str] | None = None,
                     search: QueryLevel | None = None) -> Dataset:
    """The C-FIND identifier of a hierarchical search (PS3.4 C.4.1.2.2).

    It holds the unique key of each level above *level* in *model*, single
    valued (*above*, by keyword; taken from *query* when not given), plus the
    return keys and the matching keys of *level* itself, then the ``-k``
    keys of *level* (or of no known level), which override the others.
    """
    study_root = model is QueryModel.STUDY_ROOT
    ds = Dataset()
    ds.QueryRetrieveLevel = level.value
    if above is None:
        above = {lv.unique_key: query.matching(lv, model).get(lv.unique_key, "")
                 for lv in _path(model, level)[:-1]}
    for keyword, value in above.items():
        setattr(ds, keyword, value)
    return_keys = _RETURN_KEYS[level]
    if level is QueryLevel.STUDY and study_root:
        return_keys = (*_PATIENT_KEYS, *return_keys)
    for keyword in return_keys:
        setattr(ds, keyword, "")
    for keyword, value in query.matching(level, model, search).items():
        setattr(ds, keyword, value)
    for key in query.keys:
        belongs = key_level(key.keyword, study_root) if key.keyword else None
        if belongs is None or belongs is level:
            key.add_to(ds)
    # PS3.4 C.4.1.1.3.1: the identifier declares its character set, and
    # servers that convert responses (DCMTK's dcmqrscp) convert to the one of
    # the request: without this, "Müller" comes back as "M?ller".
    if "SpecificCharacterSet" not in ds:
        ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def _path(model: QueryModel, level: QueryLevel) -> list[QueryLevel]:
    """The levels from the model's top down to *level*.

    PATIENT level under Study Root is not a level of the model; it is sent
    as asked, and the server's refusal (0xA900) is what the user sees.
    """
    top = QueryLevel.PATIENT if model is QueryModel.PATIENT_ROOT else QueryLevel.STUDY
    return [lv for lv in QueryLevel if top.rank <= lv.rank <= level.rank] or [level]


@dataclass
class FindResult:
    """How a C-FIND ended; the records themselves were streamed."""

    level: QueryLevel
    count: int = 0
    status: StatusInfo | None = None
    cancelled: bool = False
    truncated: bool = False
    seconds: float = 0.0
    seconds_after_request: float | None = None
    """From the last C-FIND request sent to the end of the search (None: none was sent)."""
    records: list[Record] = field(default_factory=list)
    local_address: str = ""
    """Our end of the search's association: the address the PACS saw us call from."""

    @property
    def ended_after(self) -> float:
        """How quickly the PACS ended the search once asked: without the time it took to
        connect and associate, which a loaded network or machine stretches."""
        after = self.seconds_after_request
        return self.seconds if after is None else after

    @property
    def unanswered(self) -> bool:
        """Ended without a final status we did not cause (the PACS aborted, or went silent).

        Not an empty result: Orthanc aborts the C-FIND of a caller it does not know.
        """
        return self.status is None and not self.cancelled and not self.truncated

    @property
    def failed(self) -> bool:
        return self.unanswered or (self.status is not None
                                   and self.status.category is StatusCategory.FAILURE)


def find_association(node: RemoteNode, log: AssociationLog, ae: AE, *,
                     debug: bool = False) -> OutgoingAssociation:
    """An association to *node* proposing its query model's C-FIND, for one search or
    for several in turn (:class:`FindOperation`'s ``association``).

    Raises ``AssociationFailure`` when the node cannot be reached.
    """
    model = model_uid(node.query_model, Operation.FIND)
    return open_association(ae, node, log, [build_context(model)], debug=debug)


def shared_searches() -> bool:
    """Whether several C-FINDs may follow each other on one association (see
    :class:`FindAssociation`)."""
    return current_engine().uses("reactors")


class FindAssociation:
    """One C-FIND association to *node* for several searches in turn, opened at the first
    (:meth:`get`) and again only when the PACS ended it or more than *idle* seconds
    passed since it was last handed out; released by :meth:`close`.

    Opening and releasing an association costs more than a small C-FIND (about
    20 ms against 3-6 ms on Orthanc, docs/PERFORMANCE.md), so a retrieve's plan
    asks its levels on one, and a batch plans all its items on one. An
    association left idle is not trusted with the next search: a PACS may have
    ended it on its own idle timer without our side having seen it yet, and a
    search on it would go unanswered. Not for two threads at once: one search
    at a time runs on an association.

    Only on the tuned engine's reactors: stock pynetdicom's reactor thread can
    take a response meant for a later request on an association (the gap in
    its pause handshake, see :mod:`qrscope.core.engine.reactors`) and drop it,
    and a plan would silently list a series or an instance fewer. On stock
    pynetdicom each :meth:`get` hands out a new association (the one before
    released), as every search had before.
    """

    def __init__(self, node: RemoteNode, local: LocalAE, log: AssociationLog, *,
                 idle: float = 1.0, debug: bool = False) -> None:
        self.node = node
        self.local = local
        self.log = log
        self.idle = idle
        self.debug = debug
        self._out: OutgoingAssociation | None = None
        self._used = 0.0

    def get(self) -> OutgoingAssociation:
        """The association for the next search. Raises ``AssociationFailure``."""
        out = self._out
        if out is not None and (not out.assoc.is_established or not shared_searches()
                                or time.monotonic() - self._used > self.idle):
            self.close()
            out = None
        if out is None:
            out = find_association(self.node, self.log, make_ae(self.local, self.node),
                                   debug=self.debug)
            self._out = out
        self._used = time.monotonic()
        return out

    def close(self) -> None:
        """Release the association if one is open (a later :meth:`get` opens another)."""
        out, self._out = self._out, None
        if out is not None:
            out.close()


class FindOperation:
    """A hierarchical search (PS3.4 C.4.1.2.2) of one node at one level.

    A conformant identifier below the model's top carries a single value of
    the unique key of each level above. Where the query does not name one
    (Patient Root without a Patient ID, an IMAGE level search without a
    series), or filters a level above by other keys (a patient's name for a
    series search), or names several (two series), the search walks down:
    it asks the level above for its matches and then searches each, all
    over one association. Results of the asked level stream to the caller.

    Call :meth:`run` in a worker thread; call :meth:`cancel` from any thread.

    Parameters
    ----------
    limit : int, optional
        Stop (with C-CANCEL) after this many records; ``FindResult.truncated`` is set.
    query : QueryFilter
        Drill-down keys (e.g. ``study_uid`` for series) belong in it too.

    association : OutgoingAssociation, optional
        An association to *node* already open (a batch resolving its rows one
        after another on one): the search runs on it and leaves it open for the
        caller to close. Without it the search opens its own and releases it.

    Raises
    ------
    InvalidValue
        From the constructor, for a value or key the search cannot use.
    """

    def __init__(self, node: RemoteNode, local: LocalAE, log: AssociationLog,
                 level: QueryLevel, query: QueryFilter, limit: int | None = None,
                 ae: AE | None = None, debug: bool = False,
                 association: OutgoingAssociation | None = None) -> None:
        self.node = node
        self.local = local
        self.log = log
        self.level = level
        self.query = query.validated()
        check_keys(level, self.query, node.query_model)
        self.limit = limit
        self.debug = debug
        self._ae = ae or make_ae(local, node)
        self._path = _path(node.query_model, level)
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: tuple[OutgoingAssociation, int, int] | None = None
        self._watchdog: Watchdog | None = None
        self._association = association

    def cancel(self) -> None:
        """Send C-CANCEL for the request in flight; the wait for its answer is bounded."""
        self._cancel.set()
        self._send_cancel()

    def _send_cancel(self) -> None:
        with self._lock:
            in_flight = self._in_flight
        if in_flight is None:
            return
        out, msg_id, context_id = in_flight
        try:
            out.assoc.send_c_cancel(msg_id, context_id)
        except RuntimeError:
            return  # already ended
        grace = self.node.timeouts.cancel_grace
        self._watchdog = Watchdog(None, None, lambda _reason: _force_abort(out)).start()
        self._watchdog.expire_in(grace, "cancel-grace")

    def run(self, on_record: Callable[[Record], None] | None = None) -> FindResult:
        """Run the search, calling *on_record* for each match as it arrives.

        Raises ``AssociationFailure`` when the node cannot be reached or does
        not offer the query model.
        """
        result = FindResult(level=self.level)
        started = time.monotonic()
        emit = on_record or result.records.append
        model = model_uid(self.node.query_model, Operation.FIND)
        out = self._association or find_association(self.node, self.log, self._ae,
                                                    debug=self.debug)
        result.local_address = out.local_address
        try:
            require_context(out, self.node, model, "C-FIND", "searching")
            walk = _Walk(out, model, result, emit)
            self._walk(walk, 0, {}, Dataset())
            if walk.requested_at is not None:
                result.seconds_after_request = time.monotonic() - walk.requested_at
        finally:
            with self._lock:
                self._in_flight = None
            if self._watchdog:
                self._watchdog.stop()
            if self._association is None:
                out.close()
        result.cancelled = self._cancel.is_set() and not result.truncated
        result.seconds = time.monotonic() - started
        return result

    def _walk(self, walk: _Walk, depth: int, above: dict[str, str], context: Dataset) -> None:
        level = self._path[depth]
        if level is self.level:
            if not self._request(walk, level, above, context, walk.result, walk.emit):
                self._unanswered(walk)
            return
        for value, found in self._entities(walk, level, above, context):
            if self._cancel.is_set() or walk.result.truncated or walk.failed:
                return
            self._walk(walk, depth + 1, above | {level.unique_key: value}, found)

    def _entities(self, walk: _Walk, level: QueryLevel, above: dict[str, str],
                  context: Dataset) -> list[tuple[str, Dataset]]:
        """The unique key values of *level* to search under, each with what is known of it.

        Plain values of the unique key are used as they are, with no request,
        unless the level has other matching keys, or (Patient Root, STUDY
        level) the study rows need the patient's name and sex.
        """
        matching = self.query.matching(level, self.node.query_model, self.level)
        values = [v for v in matching.pop(level.unique_key, "").split("\\") if v]
        plain = values and not any(_WILDCARDS & set(v) for v in values)
        wants_patient = level is QueryLevel.PATIENT and self.level is QueryLevel.STUDY
        if plain and not matching and not wants_patient:
            return [(value, context) for value in values]
        step = FindResult(level=level)
        found: list[Record] = []
        if not self._request(walk, level, above, context, step, found.append):
            self._unanswered(walk)
            return []
        if _is_failure(step.status):
            walk.result.status, walk.failed = step.status, True
        elif walk.result.status is None:
            walk.result.status = step.status
        entities = []
        for record in found:
            value = str(record.identifier.get(level.unique_key, "") or "")
            if value:
                merged = Dataset()
                merged.update(context)
                merged.update(record.identifier)
                entities.append((value, merged))
        return list({value: (value, ds) for value, ds in entities}.values())

    def _unanswered(self, walk: _Walk) -> None:
        """One request of the walk got no final status: the whole search is unanswered.

        Its earlier requests' success must not make a partial list look complete.
        """
        if not self._cancel.is_set() and not walk.result.truncated:
            walk.result.status, walk.failed = None, True

    def _request(self, walk: _Walk, level: QueryLevel, above: dict[str, str],
                 context: Dataset, result: FindResult, emit: Callable[[Record], None]) -> bool:
        """Send one C-FIND and hand on its matches; whether a final status came back."""
        if self._cancel.is_set():
            return True
        identifier = build_identifier(level, self.query, self.node.query_model, above,
                                      search=self.level)
        counted = level is self.level
        out = walk.out
        msg_id = next_message_id()
        context_id = next(cx.context_id for cx in out.assoc.accepted_contexts
                          if cx.abstract_syntax == walk.model)
        walk.requested_at = time.monotonic()
        responses = out.assoc.send_c_find(identifier, walk.model, msg_id=msg_id)
        with self._lock:
            self._in_flight = (out, msg_id, context_id)
        if self._cancel.is_set():
            self._send_cancel()
        answered = False
        for status, ds in responses:
            if "Status" not in status:
                break  # association aborted or response timeout; pynetdicom has logged it
            info = decode_status(Service.FIND, int(status.Status))
            if info.category is StatusCategory.PENDING and ds is not None:
                if self._cancel.is_set():
                    continue  # draining after C-CANCEL
                if not _matches_modalities(level, self.query, ds):
                    continue
                result.count += 1
                emit(record_from_identifier(level, ds, context))
                if counted and self.limit is not None and result.count >= self.limit:
                    result.truncated = True
                    self._cancel.set()
                    self._send_cancel()
            elif info.is_final:
                answered = True
                if not _is_failure(result.status):
                    result.status = info  # the first failure of several requests is kept
        with self._lock:
            self._in_flight = None
        return answered or self._cancel.is_set()


@dataclass
class _Walk:
    """The association and the result one search's requests share."""

    out: OutgoingAssociation
    model: str
    result: FindResult
    emit: Callable[[Record], None]
    failed: bool = False
    requested_at: float | None = None  # when the latest request was sent


def _is_failure(status: StatusInfo | None) -> bool:
    return status is not None and status.category is StatusCategory.FAILURE


def _force_abort(out: OutgoingAssociation) -> None:
    """End an association whose peer ignored C-CANCEL, unblocking the reader."""
    out.assoc.abort()
    wake_reader(out.assoc)


def _matches_modalities(level: QueryLevel, query: QueryFilter, ds: Dataset) -> bool:
    """Client-side check of the modality filter.

    Several servers ignore ModalitiesInStudy as a matching key (or match only
    its first value), so the user's choice is enforced here too; a study
    whose response does not list its modalities is kept.
    """
    if not query.modalities or level not in (QueryLevel.STUDY, QueryLevel.SERIES):
        return True
    keyword = "ModalitiesInStudy" if level is QueryLevel.STUDY else "Modality"
    value = ds.get(keyword)
    if not value:
        return True
    present = {str(v).upper() for v in (value if isinstance(value, list | tuple) or
                                         type(value).__name__ == "MultiValue" else [value])}
    return bool(present & set(query.modalities))
