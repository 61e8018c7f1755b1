"""Importing DICOM from elsewhere: files, folders (recursively) and DICOMDIRs.

Two ways, as the user chooses. ``copy`` files each instance into the
storage layout through the same :class:`InstanceStore` as a received one:
atomically, never over a different object with the same SOP Instance UID
(kept beside it), the index row written as it is filed. ``in_place``
indexes the files where they are, under their absolute paths: nothing is
copied, and the archive shows them until they move (a check then drops them).
Every path gets an answer (imported, already present, not DICOM with the
reason, failed with the reason); a file that is not DICOM never stops the rest.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from qrscope.core.archive.index import ArchiveIndex, NotDicom, describe, open_index, writing
from qrscope.core.archive.index.describe import DICOMDIR_CLASS
from qrscope.core.imaging import THUMBNAIL_FOLDER
from qrscope.core.receive.reception import INCOMING_FOLDER
from qrscope.core.receive.storage import InstanceStore, StorageError, UnparseableInstance

__all__ = ["ImportMode", "ImportResult", "import_paths"]


class ImportMode(Enum):
    COPY = "copy"
    IN_PLACE = "in-place"


@dataclass(frozen=True)
class ImportResult:
    """What became of one file."""

    path: str
    outcome: str  # "imported", "already present", "not DICOM", "failed"
    reason: str = ""
    stored_as: str = ""
    sop_instance_uid: str = ""
    study_uid: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _dicomdir_files(path: Path) -> Iterator[Path] | None:
    """The files a DICOMDIR lists (PS3.10 8.6, Referenced File ID), or None if it is not one."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError,
            AttributeError):
        return None
    meta = getattr(ds, "file_meta", None)
    if str(getattr(meta, "MediaStorageSOPClassUID", "") or "") != DICOMDIR_CLASS:
        return None
    found = []
    for record in ds.get("DirectoryRecordSequence", []):
        parts = record.get("ReferencedFileID")
        if parts:
            parts = [parts] if isinstance(parts, str) else list(parts)
            found.append(path.parent.joinpath(*parts))
    return iter(found)


def _expand(paths: Iterable[Path]) -> Iterator[Path]:
    """Every file to try: folders walked in name order, DICOMDIRs read for what they list."""
    for path in paths:
        if path.is_dir():
            for folder, dirs, names in os.walk(path):
                # The thumbnails of an archive imported whole are not DICOM: not walked.
                dirs[:] = sorted(d for d in dirs if d != THUMBNAIL_FOLDER)
                # A DICOMDIR's files are in the folder being walked: each is met once.
                yield from (Path(folder) / n for n in sorted(names) if n.upper() != "DICOMDIR")
            continue
        listed = _dicomdir_files(path) if path.is_file() else None
        yield from (listed if listed is not None else [path])


def import_paths(paths: Iterable[Path], storage: Path, mode: ImportMode,
                 on_result: Callable[[ImportResult], None] | None = None,
                 ) -> list[ImportResult]:
    """Import every file under *paths* into the archive of *storage*; one result per file."""
    index = open_index(storage)
    store = InstanceStore(storage)
    results = []
    for path in _expand(Path(p).absolute() for p in paths):
        result = _copy_in(store, path) if mode is ImportMode.COPY else _in_place(index, path)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _copy_in(store: InstanceStore, path: Path) -> ImportResult:
    try:
        row = describe(path, str(path))
    except NotDicom as exc:
        return ImportResult(str(path), "not DICOM", str(exc))
    incoming = store.root / INCOMING_FOLDER
    try:
        incoming.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=incoming, prefix=".incoming-import-", suffix=".part")
        os.close(fd)
        tmp = Path(name)
    except OSError as exc:
        return ImportResult(str(path), "failed", f"cannot write in {incoming}: {exc}")
    try:
        shutil.copyfile(path, tmp)
        stored = store.store_file(tmp, row.sop_instance_uid, row.sop_class_uid)
    except (StorageError, UnparseableInstance, OSError, ValueError) as exc:
        return ImportResult(str(path), "failed", str(exc), sop_instance_uid=row.sop_instance_uid,
                            study_uid=row.study_uid)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    outcome = "already present" if stored.duplicate else "imported"
    reason = ("another object with this SOP Instance UID is in the archive; this one is kept "
              "beside it") if stored.conflict and not stored.duplicate else ""
    return ImportResult(str(path), outcome, reason, str(stored.path), row.sop_instance_uid,
                        row.study_uid)


def _in_place(index: ArchiveIndex, path: Path) -> ImportResult:
    name = index.name_for(path)
    try:
        row = describe(path, name)
    except NotDicom as exc:
        return ImportResult(str(path), "not DICOM", str(exc))
    held = index.names_of(row.sop_instance_uid)
    if held and name not in held:
        where = str(index.path_of(held[0]))
        return ImportResult(str(path), "already present", f"the archive holds it at {where}",
                            where, row.sop_instance_uid, row.study_uid)
    writing(index.root)
    index.add([row])  # for a file indexed already: its size and time as they are now
    outcome = "already present" if held else "imported"
    return ImportResult(str(path), outcome, "", str(path), row.sop_instance_uid, row.study_uid)
