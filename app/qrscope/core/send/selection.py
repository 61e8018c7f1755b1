"""What a send asks for, and the archive's instances that answers it.

A selection names patients (by Patient ID, matched exactly), studies and
series, as ``qrscope archive delete`` does; ``only`` narrows it to some SOP
Instance UIDs (a retry of what failed, a resumed job's remainder);
``max_parallel`` bounds the associations it is sent on at once (0: as many
as the node's budget lends). The
archive may hold one instance in several files (a conflicting copy kept
beside the first): it is sent once, from the file listed first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qrscope.core.archive.index import ArchiveFilter, ArchiveIndex, ArchiveLevel
from qrscope.core.dicom.uids import is_valid_uid
from qrscope.core.validation import InvalidValue

__all__ = ["SendItem", "SendSelection", "items_to_send"]


@dataclass(frozen=True)
class SendSelection:
    """Patients, studies and series of the archive to send; ``only``: just these instances."""

    study_uids: tuple[str, ...] = ()
    series_uids: tuple[str, ...] = ()
    patient_ids: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    max_parallel: int = 0
    """The most associations at once; 0: as many as the node's budget lends."""

    def validated(self) -> SendSelection:
        if not (self.study_uids or self.series_uids or self.patient_ids):
            raise InvalidValue("selection", "name what to send: a study, series or patient")
        if self.max_parallel < 0:
            raise InvalidValue("max_parallel", "must be 1 or more (0: the node's budget)")
        for name, uids in (("study", self.study_uids), ("series", self.series_uids),
                           ("instance", self.only)):
            for uid in uids:
                if not is_valid_uid(uid):
                    raise InvalidValue(name, f"'{uid}' is not a valid UID")
        return self

    def narrowed(self, sop_instance_uids: Iterable[str]) -> SendSelection:
        """The same selection, only the instances named."""
        return SendSelection(self.study_uids, self.series_uids, self.patient_ids,
                             tuple(dict.fromkeys(sop_instance_uids)), self.max_parallel)

    def describe(self) -> str:
        """In words, for a job's label: "1 study, 2 series"."""
        parts = [(len(self.patient_ids), "patient", "patients"),
                 (len(self.study_uids), "study", "studies"),
                 (len(self.series_uids), "series", "series")]
        words = [f"{n} {one if n == 1 else many}" for n, one, many in parts if n]
        narrowed = f" ({len(self.only)} instance(s))" if self.only else ""
        return ", ".join(words) + narrowed

    def to_dict(self) -> dict[str, Any]:
        return {"study_uids": list(self.study_uids), "series_uids": list(self.series_uids),
                "patient_ids": list(self.patient_ids), "only": list(self.only),
                "max_parallel": self.max_parallel}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> SendSelection:
        return cls(*(tuple(str(v) for v in value.get(key, ()))
                     for key in ("study_uids", "series_uids", "patient_ids", "only")),
                   max_parallel=int(value.get("max_parallel", 0) or 0))


@dataclass(frozen=True)
class SendItem:
    """One instance to send: its UIDs, the syntax its file holds, the file."""

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax: str
    path: Path
    size: int


def items_to_send(index: ArchiveIndex, selection: SendSelection) -> list[SendItem]:
    """The archive's instances the selection names, each once, in series order."""
    queries = ([(ArchiveFilter(study_uid=u), None) for u in selection.study_uids]
               + [(ArchiveFilter(series_uid=u), None) for u in selection.series_uids]
               + [(ArchiveFilter(patient_id=p), p) for p in selection.patient_ids])
    only = set(selection.only)
    items: dict[str, SendItem] = {}
    for query, patient_id in queries:
        for row in index.select(ArchiveLevel.INSTANCE, query):
            uid = row["sop_instance_uid"]
            if (patient_id is not None and row["patient_id"] != patient_id) or uid in items:
                continue
            if only and uid not in only:
                continue
            items[uid] = SendItem(uid, row["sop_class_uid"], row["transfer_syntax"],
                                  index.path_of(row["path"]), int(row["bytes"] or 0))
    return list(items.values())
