"""Deleting from the archive: patients, studies or series, their files and rows together.

Each file is removed first and its row after (the file is the truth: a
kill in between leaves a row whose file is gone, which the next check
drops). Files indexed in place outside the storage folder are the user's
own: only their rows go, and the report says which were kept. Folders the
deletion empties are removed up to the storage root.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qrscope.core.archive.index import ArchiveFilter, ArchiveIndex, ArchiveLevel

__all__ = ["DeleteReport", "delete_rows", "rows_to_delete"]


@dataclass
class DeleteReport:
    files_removed: int = 0
    rows_removed: int = 0
    bytes_removed: int = 0
    kept_outside: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"files_removed": self.files_removed, "rows_removed": self.rows_removed,
                "bytes_removed": self.bytes_removed, "kept_outside": self.kept_outside,
                "failed": [{"path": p, "reason": r} for p, r in self.failed]}


def rows_to_delete(index: ArchiveIndex, *, study_uids: Sequence[str] = (),
                   series_uids: Sequence[str] = (),
                   patient_ids: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The instance rows the selectors name, each file once (a Patient ID matched exactly)."""
    selected = ([(ArchiveFilter(study_uid=u), None) for u in study_uids]
                + [(ArchiveFilter(series_uid=u), None) for u in series_uids]
                + [(ArchiveFilter(patient_id=p), p) for p in patient_ids])
    rows: dict[str, dict[str, Any]] = {}
    for query, patient_id in selected:
        for row in index.select(ArchiveLevel.INSTANCE, query):
            if patient_id is None or row["patient_id"] == patient_id:
                rows.setdefault(row["path"], row)
    return list(rows.values())


def delete_rows(index: ArchiveIndex, rows: list[dict[str, Any]]) -> DeleteReport:
    """Remove the files of *rows* inside the storage folder, then all their rows."""
    report = DeleteReport()
    gone: list[str] = []
    folders: set[Path] = set()
    for row in rows:
        name = row["path"]
        path = index.path_of(name)
        if Path(name).is_absolute():
            report.kept_outside.append(name)
            gone.append(name)
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            report.failed.append((str(path), exc.strerror or str(exc)))
            continue
        report.files_removed += 1
        report.bytes_removed += int(row["bytes"] or 0)
        gone.append(name)
        folders.add(path.parent)
    report.rows_removed = index.remove(gone)
    _remove_empty(index.root, folders)
    return report


def _remove_empty(root: Path, folders: set[Path]) -> None:
    root = root.absolute()
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        current = folder.absolute()
        while current != root and root in current.parents:
            with contextlib.suppress(OSError):
                os.rmdir(current)  # only an empty folder goes
            if current.exists():
                break
            current = current.parent
