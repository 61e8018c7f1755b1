"""What the Local view reads from the archive, and what it deletes: plain data, no Qt.

Every function here blocks (SQLite, the file system) and runs in a worker
of the bridge, never on the GUI thread. One listing is three queries with
the same filter (patients, studies, series): the view then narrows the
series to the selected studies or patients in memory, so a click never
waits for the database.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qrscope.core.archive.delete import DeleteReport, delete_rows, rows_to_delete
from qrscope.core.archive.index import ArchiveFilter, ArchiveLevel, open_index
from qrscope.core.query.find import QueryFilter
from qrscope.core.send.selection import SendSelection

__all__ = ["DELETE_BATCH", "ArchiveListing", "DeletePlan", "archive_filter", "delete_plan",
           "folder_of", "human_bytes", "read_listing", "run_delete", "series_instances"]

DELETE_BATCH = 100
"""Files removed between two progress reports of a delete."""


def human_bytes(size: int | None) -> str:
    """``0 B``, ``512 B``, ``1.5 KB``, ``23.4 MB``, ``1.2 GB`` (powers of 1024, as file
    managers count)."""
    value = float(size or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def archive_filter(query: QueryFilter) -> ArchiveFilter:
    """The search form's filter as the archive's (the same fields, the same wildcards)."""
    return ArchiveFilter(patient_name=query.patient_name, patient_id=query.patient_id,
                         study_date=query.study_date, modalities=query.modalities,
                         accession_number=query.accession_number,
                         description=query.study_description)


@dataclass(frozen=True)
class ArchiveListing:
    """Patients, studies and series matching one filter, as the index had them."""

    root: Path
    patients: list[dict[str, Any]] = field(default_factory=list)
    studies: list[dict[str, Any]] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)


def read_listing(root: Path, query: ArchiveFilter) -> ArchiveListing:
    """The archive of *root* at the three levels (raises ``InvalidValue`` for a bad date)."""
    if not root.is_dir():  # nothing received yet: not created by looking
        return ArchiveListing(root)
    index = open_index(root)
    return ArchiveListing(root, index.select(ArchiveLevel.PATIENT, query),
                          index.select(ArchiveLevel.STUDY, query),
                          index.select(ArchiveLevel.SERIES, query))


def series_instances(root: Path, series_uid: str) -> list[dict[str, Any]]:
    """The instances of one series in order, each with its file's full path (``file``)."""
    index = open_index(root)
    rows = index.select(ArchiveLevel.INSTANCE, ArchiveFilter(series_uid=series_uid))
    for row in rows:
        row["file"] = index.path_of(row["path"])
    return rows


def folder_of(root: Path, selection: SendSelection) -> Path | None:
    """The folder holding every file of *selection* (its study or series folder)."""
    index = open_index(root)
    rows = rows_to_delete(index, study_uids=selection.study_uids,
                          series_uids=selection.series_uids,
                          patient_ids=selection.patient_ids)
    folders = {str(index.path_of(r["path"]).parent) for r in rows}
    return Path(os.path.commonpath(sorted(folders))) if folders else None


@dataclass(frozen=True)
class DeletePlan:
    """What a delete would remove, counted before the user is asked."""

    selection: SendSelection
    rows: list[dict[str, Any]]

    @property
    def instances(self) -> int:
        return len({r["sop_instance_uid"] for r in self.rows})

    @property
    def size(self) -> int:
        return sum(int(r["bytes"] or 0) for r in self.rows)

    @property
    def studies(self) -> int:
        return len({r["study_uid"] for r in self.rows})


def delete_plan(root: Path, selection: SendSelection) -> DeletePlan:
    index = open_index(root)
    return DeletePlan(selection, rows_to_delete(
        index, study_uids=selection.study_uids, series_uids=selection.series_uids,
        patient_ids=selection.patient_ids))


def run_delete(root: Path, plan: DeletePlan,
               on_progress: Callable[[int, int], None]) -> DeleteReport:
    """Remove the plan's files and rows, :data:`DELETE_BATCH` at a time, reporting (done, total).

    Each batch goes through :func:`qrscope.core.archive.delete.delete_rows`
    (the file first, its row after); the reports are summed.
    """
    index = open_index(root)
    total = len(plan.rows)
    report = DeleteReport()
    for start in range(0, total, DELETE_BATCH):
        part = delete_rows(index, plan.rows[start:start + DELETE_BATCH])
        report.files_removed += part.files_removed
        report.rows_removed += part.rows_removed
        report.bytes_removed += part.bytes_removed
        report.kept_outside += part.kept_outside
        report.failed += part.failed
        on_progress(min(total, start + DELETE_BATCH), total)
    return report
