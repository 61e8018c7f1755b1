"""The index against the files: what was added, changed or removed by hand, and healing it.

The files are the truth. A walk of the storage folder (hidden names such as
the incoming folder and the index itself, and the quarantine, left out)
is compared with the index by name, size and modification time; files
indexed in place outside the folder are checked where they are. Repairing
describes what is new or changed and drops what is gone, in batches, so a
rebuild of a large archive is a few hundred transactions, not one per file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from qrscope.core.archive.index.describe import InstanceRow, NotDicom, describe
from qrscope.core.archive.index.store import ArchiveIndex

__all__ = ["QUARANTINE_FOLDER", "CheckReport", "reconcile"]

QUARANTINE_FOLDER = "_quarantine"  # the instance store's; never indexed
_BATCH = 500


@dataclass
class CheckReport:
    """What a check found (and, with *repaired*, what it healed)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    not_dicom: list[tuple[str, str]] = field(default_factory=list)
    repaired: bool = False
    files: int = 0

    @property
    def clean(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def to_dict(self) -> dict[str, object]:
        return {"added": self.added, "changed": self.changed, "removed": self.removed,
                "not_dicom": [{"path": p, "reason": r} for p, r in self.not_dicom],
                "repaired": self.repaired, "files": self.files, "clean": self.clean}


def _on_disk(root: Path) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != QUARANTINE_FOLDER]
        base = Path(folder).relative_to(root)
        for name in names:
            if name.startswith("."):
                continue
            try:
                stat = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            found[(base / name).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return found


def _external(names: list[str]) -> dict[str, tuple[int, int]]:
    found = {}
    for name in names:
        try:
            stat = os.stat(name)
        except OSError:
            continue
        found[name] = (stat.st_size, stat.st_mtime_ns)
    return found


def reconcile(index: ArchiveIndex, *, repair: bool) -> CheckReport:
    """Compare *index* with the files; with *repair*, make it match them.

    New and changed files are read either way, so that a file which is not
    DICOM is reported as such (with the reason), not as one the index lacks.
    """
    known = index.files()
    disk = _on_disk(index.root)
    disk.update(_external([n for n in known if Path(n).is_absolute()]))
    report = CheckReport(removed=sorted(set(known) - set(disk)))
    rows: list[InstanceRow] = []
    spoiled: list[str] = []  # indexed once, no longer DICOM: their rows go
    for name in sorted(disk):
        if known.get(name) == disk[name]:
            continue
        try:
            rows.append(describe(index.path_of(name), name))
        except NotDicom as exc:
            report.not_dicom.append((name, str(exc)))
            if name in known:
                spoiled.append(name)
            continue
        (report.changed if name in known else report.added).append(name)
    if repair:
        for start in range(0, len(rows), _BATCH):
            index.add(rows[start:start + _BATCH])
        # A file can be filed between the walk and now: only what is still gone goes.
        index.remove([n for n in report.removed if not index.path_of(n).exists()] + spoiled)
        report.repaired = True
    report.removed = sorted(report.removed + spoiled)
    report.files = len(index.files())
    return report
