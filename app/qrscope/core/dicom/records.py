"""Typed C-FIND results: patients, studies, series and instances.

Each record keeps the decoded values a browser shows plus the raw identifier,
so that a column added later does not need a new query. Names are decoded
with the response's Specific Character Set (pydicom does this when the
identifier carries it); a value that cannot be decoded is shown with
replacement characters rather than failing the whole query.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from typing import Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from qrscope.core.dicom.identifier_values import raw_integer, raw_values

__all__ = [
    "EVERY_LEVEL_KEYS",
    "KEY_LEVELS",
    "UNIQUE_KEYS",
    "InstanceRecord",
    "PatientRecord",
    "QueryLevel",
    "Record",
    "SeriesRecord",
    "StudyRecord",
    "identifier_to_dict",
    "key_level",
    "record_from_identifier",
]


class QueryLevel(StrEnum):
    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"

    @property
    def rank(self) -> int:
        """Depth in the hierarchy: PATIENT is 0, IMAGE is 3."""
        return list(QueryLevel).index(self)

    @property
    def unique_key(self) -> str:
        """Keyword of the level's unique key (PS3.4 C.6.1.1 and C.6.2.1)."""
        return UNIQUE_KEYS[self]


UNIQUE_KEYS = {
    QueryLevel.PATIENT: "PatientID",
    QueryLevel.STUDY: "StudyInstanceUID",
    QueryLevel.SERIES: "SeriesInstanceUID",
    QueryLevel.IMAGE: "SOPInstanceUID",
}

# The level each key belongs to (PS3.4 C.6.1.1 and C.6.2.1, Patient Root). A
# keyword that is not listed has no known level; query clients send it at
# the level they ask, and servers treat it as an optional key of that level.
KEY_LEVELS: dict[str, QueryLevel] = {
    **dict.fromkeys(
        (
            "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate",
            "PatientBirthTime", "PatientSex", "OtherPatientIDs", "OtherPatientNames",
            "EthnicGroup", "PatientComments", "NumberOfPatientRelatedStudies",
            "NumberOfPatientRelatedSeries", "NumberOfPatientRelatedInstances",
        ),
        QueryLevel.PATIENT,
    ),
    **dict.fromkeys(
        (
            "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "StudyID",
            "StudyDescription", "ReferringPhysicianName", "PatientAge", "PatientSize",
            "PatientWeight", "Occupation", "AdditionalPatientHistory",
            "NameOfPhysiciansReadingStudy", "OtherStudyNumbers", "ModalitiesInStudy",
            "SOPClassesInStudy", "NumberOfStudyRelatedSeries",
            "NumberOfStudyRelatedInstances",
        ),
        QueryLevel.STUDY,
    ),
    **dict.fromkeys(
        (
            "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
            "SeriesDate", "SeriesTime", "BodyPartExamined", "ProtocolName", "Laterality",
            "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
            "PerformedProcedureStepID", "Manufacturer", "InstitutionName", "StationName",
            "OperatorsName", "NumberOfSeriesRelatedInstances",
        ),
        QueryLevel.SERIES,
    ),
    **dict.fromkeys(
        (
            "SOPInstanceUID", "SOPClassUID", "InstanceNumber", "ContentDate",
            "ContentTime", "AcquisitionNumber", "AvailableTransferSyntaxUID",
        ),
        QueryLevel.IMAGE,
    ),
}

# Keys that mean the same at every level (PS3.4 C.4.1.1.3 and C.4.1.1.3.2).
EVERY_LEVEL_KEYS = frozenset({
    "QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle", "InstanceAvailability",
    "TimezoneOffsetFromUTC", "QueryRetrieveView",
})


def key_level(keyword: str, study_root: bool) -> QueryLevel | None:
    """The level *keyword* belongs to in the model, ``None`` if every or no known level.

    Study Root has no PATIENT level: the patient attributes are attributes
    of the study there (PS3.4 C.6.2.1), so they belong to STUDY.
    """
    level = KEY_LEVELS.get(keyword)
    if level is QueryLevel.PATIENT and study_root:
        return QueryLevel.STUDY
    return level


_TAGS: dict[str, int] = {}


def _tag(keyword: str) -> int:
    tag = _TAGS.get(keyword)
    if tag is None:
        tag = _TAGS[keyword] = tag_for_keyword(keyword) or 0
    return tag


def _text(ds: Dataset, keyword: str) -> str:
    values = raw_values(ds, _tag(keyword))  # plain values without pydicom's conversion
    if values is not None:
        return "\\".join(values)
    try:
        value = ds.get(keyword, "")
    except Exception:  # undecodable bytes: keep the row, show what we can
        return "?"
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def _int(ds: Dataset, keyword: str) -> int | None:
    number = raw_integer(ds, _tag(keyword))  # a plain integer without pydicom's conversion
    if number is not False:
        return number  # type: ignore[return-value]
    text = _text(ds, keyword).strip()
    try:
        return int(text)
    except ValueError:
        return None


def _list(ds: Dataset, keyword: str) -> tuple[str, ...]:
    text = _text(ds, keyword)
    return tuple(v for v in text.split("\\") if v)


@dataclass(frozen=True)
class PatientRecord:
    patient_name: str
    patient_id: str
    birth_date: str = ""
    sex: str = ""
    number_of_studies: int | None = None
    identifier: Dataset = field(default_factory=Dataset, compare=False, repr=False)
    level: QueryLevel = QueryLevel.PATIENT

    @classmethod
    def from_identifier(cls, ds: Dataset) -> PatientRecord:
        return cls(
            patient_name=_text(ds, "PatientName"),
            patient_id=_text(ds, "PatientID"),
            birth_date=_text(ds, "PatientBirthDate"),
            sex=_text(ds, "PatientSex"),
            number_of_studies=_int(ds, "NumberOfPatientRelatedStudies"),
            identifier=ds,
        )


@dataclass(frozen=True)
class StudyRecord:
    study_uid: str
    patient_name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    sex: str = ""
    study_date: str = ""
    study_time: str = ""
    accession_number: str = ""
    study_id: str = ""
    description: str = ""
    referring_physician: str = ""
    modalities: tuple[str, ...] = ()
    sop_classes: tuple[str, ...] = ()
    number_of_series: int | None = None
    number_of_instances: int | None = None
    identifier: Dataset = field(default_factory=Dataset, compare=False, repr=False)
    level: QueryLevel = QueryLevel.STUDY

    @classmethod
    def from_identifier(cls, ds: Dataset) -> StudyRecord:
        return cls(
            study_uid=_text(ds, "StudyInstanceUID"),
            patient_name=_text(ds, "PatientName"),
            patient_id=_text(ds, "PatientID"),
            birth_date=_text(ds, "PatientBirthDate"),
            sex=_text(ds, "PatientSex"),
            study_date=_text(ds, "StudyDate"),
            study_time=_text(ds, "StudyTime"),
            accession_number=_text(ds, "AccessionNumber"),
            study_id=_text(ds, "StudyID"),
            description=_text(ds, "StudyDescription"),
            referring_physician=_text(ds, "ReferringPhysicianName"),
            modalities=_list(ds, "ModalitiesInStudy"),
            sop_classes=_list(ds, "SOPClassesInStudy"),
            number_of_series=_int(ds, "NumberOfStudyRelatedSeries"),
            number_of_instances=_int(ds, "NumberOfStudyRelatedInstances"),
            identifier=ds,
        )


@dataclass(frozen=True)
class SeriesRecord:
    series_uid: str
    study_uid: str = ""
    modality: str = ""
    series_number: int | None = None
    description: str = ""
    series_date: str = ""
    body_part: str = ""
    number_of_instances: int | None = None
    identifier: Dataset = field(default_factory=Dataset, compare=False, repr=False)
    level: QueryLevel = QueryLevel.SERIES

    @classmethod
    def from_identifier(cls, ds: Dataset) -> SeriesRecord:
        return cls(
            series_uid=_text(ds, "SeriesInstanceUID"),
            study_uid=_text(ds, "StudyInstanceUID"),
            modality=_text(ds, "Modality"),
            series_number=_int(ds, "SeriesNumber"),
            description=_text(ds, "SeriesDescription"),
            series_date=_text(ds, "SeriesDate"),
            body_part=_text(ds, "BodyPartExamined"),
            number_of_instances=_int(ds, "NumberOfSeriesRelatedInstances"),
            identifier=ds,
        )


@dataclass(frozen=True)
class InstanceRecord:
    sop_instance_uid: str
    sop_class_uid: str = ""
    series_uid: str = ""
    study_uid: str = ""
    instance_number: int | None = None
    identifier: Dataset = field(default_factory=Dataset, compare=False, repr=False)
    level: QueryLevel = QueryLevel.IMAGE

    @classmethod
    def from_identifier(cls, ds: Dataset) -> InstanceRecord:
        return cls(
            sop_instance_uid=_text(ds, "SOPInstanceUID"),
            sop_class_uid=_text(ds, "SOPClassUID"),
            series_uid=_text(ds, "SeriesInstanceUID"),
            study_uid=_text(ds, "StudyInstanceUID"),
            instance_number=_int(ds, "InstanceNumber"),
            identifier=ds,
        )


Record = PatientRecord | StudyRecord | SeriesRecord | InstanceRecord

_BY_LEVEL: dict[QueryLevel, Any] = {
    QueryLevel.PATIENT: PatientRecord,
    QueryLevel.STUDY: StudyRecord,
    QueryLevel.SERIES: SeriesRecord,
    QueryLevel.IMAGE: InstanceRecord,
}


def record_from_identifier(level: QueryLevel, ds: Dataset,
                           context: Dataset | None = None) -> Record:
    """The typed record of one C-FIND response.

    *context* holds what the levels above already answered (e.g. the
    patient's name, which a Patient Root STUDY level query may not ask for,
    PS3.4 C.4.1.2.2): it fills the fields the response leaves out, while the
    record's ``identifier`` stays the response itself.
    """
    source = ds
    if context is not None and len(context):
        source = Dataset()
        source.update(context)
        source.update(ds)
    record: Record = _BY_LEVEL[level].from_identifier(source)
    return record if source is ds else replace(record, identifier=ds)


def identifier_to_dict(ds: Dataset) -> dict[str, Any]:
    """Every attribute of *ds*, by keyword (or ``(gggg,eeee)`` for private and unknown ones).

    Values are strings, lists of strings for several values, and lists of
    such dicts for sequences; ``""`` when empty.
    """
    out: dict[str, Any] = {}
    for tag in sorted(ds.keys()):
        values = raw_values(ds, tag)
        if values is not None:
            name = keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
            out[name] = values[0] if len(values) == 1 else values
            continue
        element = ds[tag]
        name = element.keyword or f"({element.tag.group:04X},{element.tag.element:04X})"
        out[name] = _element_value(element)
    return out


def _element_value(element: DataElement) -> Any:
    if element.VR == "SQ":
        return [identifier_to_dict(item) for item in element.value or []]
    try:
        value = element.value
    except Exception:  # undecodable bytes: say so rather than drop the answer
        return "?"
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value]
    return str(value)


def record_to_dict(record: Record) -> dict[str, Any]:
    """A JSON-friendly dict of the record's typed fields (the identifier left out)."""
    out: dict[str, Any] = {}
    for name in record.__dataclass_fields__:
        if name == "identifier":
            continue
        value = getattr(record, name)
        out[name] = value.value if isinstance(value, Enum) else (
            list(value) if isinstance(value, tuple) else value)
    return out
