"""One row of a batch: what it asks for, what it resolved to, where it stands.

Plain values shared by the input reader, the resolver, the runner, the job
store and the report. An item keeps its input row as it was read (every cell
as text), so that the report can show the user their own row beside what
became of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

__all__ = ["BatchItem", "BatchSpec", "FoundStudy", "ItemProgress", "ItemStatus"]


class ItemStatus(StrEnum):
    """Where an item stands. ``pending`` and ``found`` are unfinished; the others
    are the report's statuses (``qrscope batch --json`` counts them)."""

    PENDING = "pending"
    """Not resolved yet."""
    FOUND = "found"
    """Resolved to its studies; not fetched yet."""
    DONE = "done"
    PARTIAL = "partial"
    FAILED = "failed"
    NOT_FOUND = "not-found"
    AMBIGUOUS = "ambiguous"
    SKIPPED = "skipped"
    """Already complete in the local archive: nothing was fetched."""

    @property
    def is_final(self) -> bool:
        return self not in (ItemStatus.PENDING, ItemStatus.FOUND)


FINAL_STATUSES = tuple(s for s in ItemStatus if s.is_final)


@dataclass(frozen=True)
class BatchItem:
    """What one input row asks for; empty fields ask nothing.

    ``row`` is the row's number in its file (the header is row 1 of a
    spreadsheet; a plain text file counts its lines), as the user sees it.
    """

    row: int
    values: dict[str, str] = field(default_factory=dict)
    accession_number: str = ""
    patient_id: str = ""
    study_uid: str = ""
    study_date: str = ""
    modality: str = ""

    def describe(self) -> str:
        """What the item asks, in words (``ACC1001``, ``Patient ID 42, 2024``...)."""
        parts = []
        if self.study_uid:
            parts.append(f"study {self.study_uid}")
        if self.accession_number:
            parts.append(f"accession {self.accession_number}")
        if self.patient_id:
            parts.append(f"Patient ID {self.patient_id}")
        if self.study_date:
            parts.append(f"date {self.study_date}")
        if self.modality:
            parts.append(self.modality)
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "values": dict(self.values),
                "accession_number": self.accession_number, "patient_id": self.patient_id,
                "study_uid": self.study_uid, "study_date": self.study_date,
                "modality": self.modality}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchItem:
        return cls(row=int(data["row"]), values={str(k): str(v) for k, v in
                                                 dict(data.get("values", {})).items()},
                   **{name: str(data.get(name, "")) for name in (
                       "accession_number", "patient_id", "study_uid", "study_date",
                       "modality")})


@dataclass(frozen=True)
class FoundStudy:
    """A study an item resolved to, as the PACS described it."""

    study_uid: str
    patient_id: str = ""
    accession_number: str = ""
    study_date: str = ""
    instances: int | None = None
    """Number of Study Related Instances, where the PACS says."""

    def to_dict(self) -> dict[str, Any]:
        return {"study_uid": self.study_uid, "patient_id": self.patient_id,
                "accession_number": self.accession_number, "study_date": self.study_date,
                "instances": self.instances}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FoundStudy:
        instances = data.get("instances")
        return cls(study_uid=str(data["study_uid"]), patient_id=str(data.get("patient_id", "")),
                   accession_number=str(data.get("accession_number", "")),
                   study_date=str(data.get("study_date", "")),
                   instances=None if instances is None else int(instances))


@dataclass(frozen=True)
class ItemProgress:
    """An item and where it stands: what the job store keeps after every step."""

    index: int
    """The item's place in the batch (0-based), its key in the store."""
    item: BatchItem
    status: ItemStatus = ItemStatus.PENDING
    studies: tuple[FoundStudy, ...] = ()
    expected: int | None = None
    """Instances the PACS listed for the item's studies (None: not known)."""
    received: int = 0
    """Instances fetched for the item by this batch (not counting those already here)."""
    reason: str = ""
    """Why it is not done, in words."""
    hint: str = ""
    """The id of the hint that explains it, where one does."""
    attempts: int = 0

    def but(self, **changes: Any) -> ItemProgress:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The report's and ``--json``'s shape of one item."""
        return {"index": self.index, "row": self.item.row, "input": dict(self.item.values),
                "asks": self.item.describe(), "status": self.status.value,
                "studies": [s.study_uid for s in self.studies],
                "expected": self.expected, "received": self.received,
                "reason": self.reason, "hint": self.hint, "attempts": self.attempts}


@dataclass(frozen=True)
class BatchSpec:
    """What a batch job is, beyond its node and method: kept with the job.

    ``key`` names the batch: the same input (content and column mapping) to
    the same node is the same batch, so that running the command again
    resumes it.
    """

    key: str
    source: str = ""
    report: str = ""
    """The CSV report's path ('' none); the JSON one is beside it."""
    max_parallel: int = 2
    window: str = ""
    """When retrieves may start, e.g. ``20:00-06:00`` ('' always)."""

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "source": self.source, "report": self.report,
                "max_parallel": self.max_parallel, "window": self.window}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchSpec:
        return cls(key=str(data["key"]), source=str(data.get("source", "")),
                   report=str(data.get("report", "")),
                   max_parallel=int(data.get("max_parallel", 2)),
                   window=str(data.get("window", "")))
