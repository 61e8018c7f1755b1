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

from qrscope.core.association_log import AssociationLog
from qrscope.core.connection import (
    OutgoingAssociation,
    make_ae,
    next_message_id,
    open_association,
    require_context,
)
from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode
from qrscope.core.qr_models import Operation, model_uid
from qrscope.core.records import QueryLevel, Record, record_from_identifier
from qrscope.core.status import Service, StatusCategory, StatusInfo, decode_status
from qrscope.core.validation import InvalidValue, check_date_range
from qrscope.core.watchdog import Watchdog

__all__ = ["FindOperation", "FindResult", "QueryFilter", "build_identifier"]

# Return keys each level asks for (PS3.4 C.6), beyond the matching keys.
_RETURN_KEYS: dict[QueryLevel, tuple[str, ...]] = {
    QueryLevel.PATIENT: ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                         "NumberOfPatientRelatedStudies"),
    QueryLevel.STUDY: ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                       "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber",
                       "StudyID", "StudyDescription", "ReferringPhysicianName",
                       "ModalitiesInStudy", "SOPClassesInStudy",
                       "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"),
    QueryLevel.SERIES: ("StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber",
                        "SeriesDescription", "SeriesDate", "BodyPartExamined",
                        "NumberOfSeriesRelatedInstances"),
    QueryLevel.IMAGE: ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                       "SOPClassUID", "InstanceNumber"),
}


@dataclass(frozen=True)
class QueryFilter:
    """What the user searches for; empty fields match everything.

    ``patient_name`` accepts DICOM wildcards (``*``, ``?``); dates accept
    ``YYYYMMDD`` and ranges ``A-B``, ``-B``, ``A-``; UIDs may be lists
    separated by backslashes.
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

    def validated(self) -> QueryFilter:
        modalities = tuple(m.strip().upper() for m in self.modalities if m.strip())
        for modality in modalities:
            if not modality.isalnum() or len(modality) > 16:
                raise InvalidValue("modality", f"'{modality}' is not a modality code (e.g. CT)")
        for name in ("study_uid", "series_uid", "sop_instance_uid"):
            for uid in filter(None, getattr(self, name).split("\\")):
                if len(uid) > 64 or not all(c.isdigit() or c == "." for c in uid):
                    raise InvalidValue(name, f"'{uid}' is not a UID (digits and dots)")
        return replace(
            self,
            birth_date=check_date_range(self.birth_date, "birth_date"),
            study_date=check_date_range(self.study_date, "study_date"),
            modalities=modalities,
        )


def build_identifier(level: QueryLevel, query: QueryFilter) -> Dataset:
    """The C-FIND identifier: matching keys from *query* plus the level's return keys."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level.value
    for keyword in _RETURN_KEYS[level]:
        setattr(ds, keyword, "")
    matching = {
        "PatientName": query.patient_name,
        "PatientID": query.patient_id,
        "PatientBirthDate": query.birth_date,
        "StudyInstanceUID": query.study_uid,
        "SeriesInstanceUID": query.series_uid,
        "SOPInstanceUID": query.sop_instance_uid,
    }
    if level is not QueryLevel.PATIENT:
        matching |= {
            "AccessionNumber": query.accession_number,
            "StudyDate": query.study_date,
            "StudyDescription": query.study_description,
            "ReferringPhysicianName": query.referring_physician,
        }
        modalities = "\\".join(query.modalities)
        if level is QueryLevel.STUDY:
            matching["ModalitiesInStudy"] = modalities
        elif level is QueryLevel.SERIES:
            matching["Modality"] = modalities
    for keyword, value in matching.items():
        if value:
            setattr(ds, keyword, value)
    # PS3.4 C.4.1.1.3.1: the identifier declares its character set, and
    # servers that convert responses (DCMTK's dcmqrscp) convert to the one of
    # the request: without this, "Müller" comes back as "M?ller".
    ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


@dataclass
class FindResult:
    """How a C-FIND ended; the records themselves were streamed."""

    level: QueryLevel
    count: int = 0
    status: StatusInfo | None = None
    cancelled: bool = False
    truncated: bool = False
    seconds: float = 0.0
    records: list[Record] = field(default_factory=list)


class FindOperation:
    """One C-FIND (or the patient-root two-step search) against one node.

    Call :meth:`run` in a worker thread; call :meth:`cancel` from any thread.

    Parameters
    ----------
    limit : int, optional
        Stop (with C-CANCEL) after this many records; ``FindResult.truncated`` is set.
    parent : QueryFilter fields
        Drill-down keys (e.g. ``study_uid`` for series) belong in *query* too.
    """

    def __init__(self, node: RemoteNode, local: LocalAE, log: AssociationLog,
                 level: QueryLevel, query: QueryFilter, limit: int | None = None,
                 ae: AE | None = None, debug: bool = False) -> None:
        self.node = node
        self.local = local
        self.log = log
        self.level = level
        self.query = query.validated()
        self.limit = limit
        self.debug = debug
        self._ae = ae or make_ae(local, node)
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: tuple[OutgoingAssociation, int, int] | None = None
        self._watchdog: Watchdog | None = None

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
        try:
            if self._needs_patient_step():
                self._run_two_step(result, emit)
            else:
                self._run_one(self.level, self.query, result, emit)
        finally:
            if self._watchdog:
                self._watchdog.stop()
        result.cancelled = self._cancel.is_set() and not result.truncated
        result.seconds = time.monotonic() - started
        return result

    def _needs_patient_step(self) -> bool:
        """Patient Root below PATIENT level needs a single Patient ID (PS3.4 C.4.1.2.2)."""
        if self.node.query_model is not QueryModel.PATIENT_ROOT:
            return False
        if self.level is QueryLevel.PATIENT:
            return False
        pid = self.query.patient_id
        return not pid or any(c in pid for c in "*?\\")

    def _run_two_step(self, result: FindResult, emit: Callable[[Record], None]) -> None:
        patients: list[Record] = []
        step = FindResult(level=QueryLevel.PATIENT)
        self._run_one(QueryLevel.PATIENT, self.query, step, patients.append)
        for patient in patients:
            if self._cancel.is_set() or result.truncated:
                break
            narrowed = replace(self.query, patient_id=patient.patient_id)  # type: ignore[union-attr]
            self._run_one(self.level, narrowed, result, emit)
        result.status = result.status or step.status

    def _run_one(self, level: QueryLevel, query: QueryFilter, result: FindResult,
                 emit: Callable[[Record], None]) -> None:
        if self._cancel.is_set():
            return
        model = model_uid(self.node.query_model, Operation.FIND)
        identifier = build_identifier(level, query)
        out = open_association(self._ae, self.node, self.log, [build_context(model)],
                               debug=self.debug)
        try:
            require_context(out, self.node, model, "C-FIND", "searching")
            self._collect(out, model, identifier, level, query, result, emit)
        finally:
            with self._lock:
                self._in_flight = None
            out.close()

    def _collect(self, out: OutgoingAssociation, model: str, identifier: Dataset,
                 level: QueryLevel, query: QueryFilter, result: FindResult,
                 emit: Callable[[Record], None]) -> None:
        msg_id = next_message_id()
        context_id = next(cx.context_id for cx in out.assoc.accepted_contexts
                          if cx.abstract_syntax == model)
        responses = out.assoc.send_c_find(identifier, model, msg_id=msg_id)
        with self._lock:
            self._in_flight = (out, msg_id, context_id)
        if self._cancel.is_set():
            self._send_cancel()
        for status, ds in responses:
            if "Status" not in status:
                break  # association aborted or response timeout; pynetdicom has logged it
            info = decode_status(Service.FIND, int(status.Status))
            if info.category is StatusCategory.PENDING and ds is not None:
                if self._cancel.is_set():
                    continue  # draining after C-CANCEL
                if not _matches_modalities(level, query, ds):
                    continue
                result.count += 1
                emit(record_from_identifier(level, ds))
                if self.limit is not None and result.count >= self.limit:
                    result.truncated = True
                    self._cancel.set()
                    self._send_cancel()
            elif info.is_final:
                result.status = info


def _force_abort(out: OutgoingAssociation) -> None:
    """End an association whose peer ignored C-CANCEL, unblocking the reader."""
    out.assoc.abort()
    out.assoc.dimse.msg_queue.put((None, None))


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
