"""The Query/Retrieve SOP classes, by information model and operation, in one table."""

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

from qrscope.core.profiles import QueryModel

__all__ = ["QR_MODELS", "Operation", "model_name", "model_uid"]


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


def model_uid(model: QueryModel, operation: Operation | str) -> str:
    return QR_MODELS[(model, Operation(operation))]


def model_name(model: QueryModel, operation: Operation | str) -> str:
    """Short words for reports: 'Study Root FIND'."""
    root = "Study Root" if model is QueryModel.STUDY_ROOT else "Patient Root"
    return f"{root} {Operation(operation).value.upper()}"
