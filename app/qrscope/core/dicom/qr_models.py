"""The Query/Retrieve SOP classes, by information model and operation, in one table.

Both sides of qrscope read this table: the client picks the SOP class of a
request from it, and the demo PACS looks up which model a request's SOP
class belongs to (PS3.4 C.6: Patient Root and Study Root, each with FIND,
MOVE and GET).
"""

from __future__ import annotations

from enum import StrEnum

from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from qrscope.core.dicom.records import QueryLevel

__all__ = [
    "QR_MODELS",
    "Operation",
    "QueryModel",
    "model_levels",
    "model_name",
    "model_of",
    "model_uid",
    "root_name",
]


class QueryModel(StrEnum):
    """The information model a node is queried in (PS3.4 C.6.1, C.6.2), as profiles store it."""

    STUDY_ROOT = "study-root"
    PATIENT_ROOT = "patient-root"


class Operation(StrEnum):
    FIND = "find"
    MOVE = "move"  # the values match RetrieveMethod's, so Operation(method) works
    GET = "get"


QR_MODELS: dict[tuple[QueryModel, Operation], str] = {
    (QueryModel.STUDY_ROOT, Operation.FIND): str(StudyRootQueryRetrieveInformationModelFind),
    (QueryModel.STUDY_ROOT, Operation.MOVE): str(StudyRootQueryRetrieveInformationModelMove),
    (QueryModel.STUDY_ROOT, Operation.GET): str(StudyRootQueryRetrieveInformationModelGet),
    (QueryModel.PATIENT_ROOT, Operation.FIND): str(PatientRootQueryRetrieveInformationModelFind),
    (QueryModel.PATIENT_ROOT, Operation.MOVE): str(PatientRootQueryRetrieveInformationModelMove),
    (QueryModel.PATIENT_ROOT, Operation.GET): str(PatientRootQueryRetrieveInformationModelGet),
}

_MODEL_BY_UID = {uid: model for (model, _operation), uid in QR_MODELS.items()}


def model_uid(model: QueryModel, operation: Operation | str) -> str:
    return QR_MODELS[(model, Operation(operation))]


def model_of(sop_class_uid: str) -> QueryModel:
    """The information model of a FIND, MOVE or GET SOP Class UID.

    Raises ``KeyError`` for a UID that is not a Patient Root or Study Root
    Q/R SOP class.
    """
    return _MODEL_BY_UID[str(sop_class_uid)]


def model_levels(model: QueryModel) -> tuple[QueryLevel, ...]:
    """The levels of *model*: Study Root has no PATIENT level (PS3.4 C.6.2)."""
    if model is QueryModel.PATIENT_ROOT:
        return tuple(QueryLevel)
    return (QueryLevel.STUDY, QueryLevel.SERIES, QueryLevel.IMAGE)


def root_name(model: QueryModel) -> str:
    """The model in words: 'Study Root' or 'Patient Root'."""
    return "Study Root" if model is QueryModel.STUDY_ROOT else "Patient Root"


def model_name(model: QueryModel, operation: Operation | str) -> str:
    """Short words for reports: 'Study Root FIND'."""
    return f"{root_name(model)} {Operation(operation).value.upper()}"
