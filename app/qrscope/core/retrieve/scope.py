"""What a retrieve asks for: a study, some of its series, or some instances.

A plain value shared by the CLI, the window, the job service and every step
of a retrieve; the unique keys it carries are those of PS3.4 C.4.2.2.1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydicom.dataset import Dataset

from qrscope.core.dicom.records import QueryLevel
from qrscope.core.profiles import QueryModel
from qrscope.core.receive.storage import is_valid_uid
from qrscope.core.validation import InvalidValue

__all__ = ["RetrieveScope"]


@dataclass(frozen=True)
class RetrieveScope:
    """A study, some series of one study, or some instances of one series.

    ``sop_classes`` and ``modalities`` (from the query) let C-GET propose
    the right storage contexts; ``patient_id`` is required by Patient Root.
    """

    level: QueryLevel
    study_uid: str
    series_uids: tuple[str, ...] = ()
    instance_uids: tuple[str, ...] = ()
    patient_id: str = ""
    sop_classes: tuple[str, ...] = ()
    modalities: tuple[str, ...] = ()

    @classmethod
    def study(cls, study_uid: str, **kw: Any) -> RetrieveScope:
        return cls(QueryLevel.STUDY, study_uid, **kw)

    @classmethod
    def series(cls, study_uid: str, *series_uids: str, **kw: Any) -> RetrieveScope:
        return cls(QueryLevel.SERIES, study_uid, series_uids=tuple(series_uids), **kw)

    @classmethod
    def instances(cls, study_uid: str, series_uid: str, *instance_uids: str,
                  **kw: Any) -> RetrieveScope:
        return cls(QueryLevel.IMAGE, study_uid, series_uids=(series_uid,),
                   instance_uids=tuple(instance_uids), **kw)

    def validated(self) -> RetrieveScope:
        if self.level is QueryLevel.PATIENT:
            raise InvalidValue("level", "retrieve a study, series or instances")
        for name, uids in (("study", (self.study_uid,)), ("series", self.series_uids),
                           ("instance", self.instance_uids)):
            for uid in uids:
                if not is_valid_uid(uid):
                    raise InvalidValue(name, f"'{uid}' is not a valid UID")
        if self.level is QueryLevel.SERIES and not self.series_uids:
            raise InvalidValue("series", "a series retrieve needs at least one series UID")
        if self.level is QueryLevel.IMAGE and (len(self.series_uids) != 1
                                               or not self.instance_uids):
            raise InvalidValue("instance", "an instance retrieve needs one series UID and "
                               "at least one SOP Instance UID")
        return replace(self, sop_classes=tuple(filter(None, self.sop_classes)))

    def identifier(self, model: QueryModel) -> Dataset:
        """The C-MOVE/C-GET identifier: unique keys down to the level (PS3.4 C.4.2.2.1)."""
        ds = Dataset()
        ds.QueryRetrieveLevel = self.level.value
        if model is QueryModel.PATIENT_ROOT:
            ds.PatientID = self.patient_id
        ds.StudyInstanceUID = self.study_uid
        if self.level in (QueryLevel.SERIES, QueryLevel.IMAGE):
            ds.SeriesInstanceUID = "\\".join(self.series_uids)
        if self.level is QueryLevel.IMAGE:
            ds.SOPInstanceUID = "\\".join(self.instance_uids)
        return ds
