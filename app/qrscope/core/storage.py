"""Where received instances go on disk: Patient/Study/Series/SOPInstanceUID.dcm.

Every path component comes from a validated or sanitised value, so a hostile
sender cannot write outside the storage folder (a "UID" of ``../../x`` never
reaches a path). Files are written whole or not at all, an instance that is
already stored is not written twice, and a *different* object claiming the
same SOP Instance UID is kept beside the first, never over it. Data that
cannot be parsed is kept in a quarantine folder for inspection.
"""

from __future__ import annotations

import errno
import hashlib
import re
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from qrscope.core.files import create_exclusive

__all__ = ["InstanceStore", "StorageError", "StoredInstance", "UnparseableInstance",
           "is_valid_uid", "sanitise_component"]

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Names Windows refuses as files whatever the extension.
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
             *(f"LPT{i}" for i in range(1, 10))}
QUARANTINE = "_quarantine"


def is_valid_uid(value: str) -> bool:
    """PS3.5 9.1: digits and dots, no leading zeros in a component, at most 64 chars."""
    return bool(value) and len(value) <= 64 and bool(_UID.match(value))


def sanitise_component(value: str, fallback: str = "UNKNOWN") -> str:
    """A safe single path component from free text such as a Patient ID."""
    cleaned = _UNSAFE.sub("_", value.strip()).strip("._")[:64]
    if not cleaned:
        return fallback
    if cleaned.upper().split(".")[0] in _RESERVED:
        cleaned = "_" + cleaned
    return cleaned


def _uid_component(value: str) -> str:
    if is_valid_uid(value):
        return value
    digest = hashlib.sha1(value.encode("utf-8", "replace")).hexdigest()[:16]
    return f"invalid-uid-{digest}"


class StorageError(OSError):
    """The instance could not be written (disk full, permissions); nothing was left behind."""


class UnparseableInstance(ValueError):
    """The received bytes are not a DICOM data set we can file; they were quarantined."""

    def __init__(self, message: str, quarantined: Path | None) -> None:
        super().__init__(message)
        self.quarantined = quarantined


@dataclass(frozen=True)
class StoredInstance:
    path: Path
    sop_instance_uid: str
    sop_class_uid: str
    study_uid: str
    series_uid: str
    patient_id: str
    size: int
    duplicate: bool = False
    """The same bytes were already stored; no second copy was written."""
    conflict: bool = False
    """Another object with this SOP Instance UID was stored earlier; this one sits beside it."""


_KEYS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")


class InstanceStore:
    """Files received instances under *root*."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, patient_id: str, study_uid: str, series_uid: str,
                 sop_instance_uid: str) -> Path:
        return (self.root / sanitise_component(patient_id) / _uid_component(study_uid)
                / _uid_component(series_uid) / f"{_uid_component(sop_instance_uid)}.dcm")

    def count_local(self, study_uids: list[str]) -> dict[str, int]:
        """How many instances of each study are stored (for marking browser rows)."""
        counts: dict[str, int] = {}
        for study_uid in study_uids:
            component = _uid_component(study_uid)
            counts[study_uid] = sum(1 for _ in self.root.glob(f"*/{component}/*/*.dcm"))
        return counts

    def store(self, data: bytes, sop_instance_uid: str = "", sop_class_uid: str = "") -> \
            StoredInstance:
        """File a DICOM Part 10 byte string (preamble, meta, data set).

        *sop_instance_uid*/*sop_class_uid* are the C-STORE request's values;
        the data set's own values are used for the folders.

        Raises
        ------
        UnparseableInstance
            The bytes do not parse; they were written to the quarantine folder.
        StorageError
            Writing failed (e.g. disk full); no partial file remains.
        """
        keys = self._read_keys(data)
        sop_uid = str(keys.get("SOPInstanceUID") or sop_instance_uid)
        if not is_valid_uid(sop_uid):
            # Nothing identifies this object: filing it would invent a name.
            path = self.quarantine(data)
            raise UnparseableInstance("received data has no valid SOP Instance UID", path)
        target = self.path_for(str(keys.get("PatientID", "")), str(keys.get("StudyInstanceUID",
                               "")), str(keys.get("SeriesInstanceUID", "")), sop_uid)
        stored = dict(
            sop_instance_uid=sop_uid,
            sop_class_uid=str(keys.get("SOPClassUID") or sop_class_uid),
            study_uid=str(keys.get("StudyInstanceUID", "")),
            series_uid=str(keys.get("SeriesInstanceUID", "")),
            patient_id=str(keys.get("PatientID", "")),
            size=len(data),
        )
        if self._write_new(target, data):
            return StoredInstance(path=target, **stored)
        if _same_content(target, data):
            return StoredInstance(path=target, duplicate=True, **stored)
        digest = hashlib.sha256(data).hexdigest()[:12]
        variant = target.with_name(f"{target.stem}~{digest}.dcm")
        created = self._write_new(variant, data)
        return StoredInstance(path=variant, duplicate=not created, conflict=True, **stored)

    def _write_new(self, target: Path, data: bytes) -> bool:
        try:
            return create_exclusive(target, data)
        except OSError as exc:
            reason = "the disk is full" if exc.errno == errno.ENOSPC else (
                exc.strerror or str(exc))
            raise StorageError(exc.errno or 0, f"cannot write {target}: {reason}") from exc

    def _read_keys(self, data: bytes) -> dict[str, str]:
        try:
            ds = pydicom.dcmread(BytesIO(data), stop_before_pixels=True,
                                 specific_tags=list(_KEYS))
            return {k: str(ds.get(k, "") or "") for k in _KEYS}
        except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError,
                AttributeError, OverflowError, NotImplementedError) as exc:
            path = self.quarantine(data)
            raise UnparseableInstance(f"received data could not be parsed ({exc})",
                                      path) from exc

    def quarantine(self, data: bytes) -> Path | None:
        """Keep bytes we cannot file, named by their hash, for later inspection."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.root / QUARANTINE / f"{digest}.bin"
        try:
            create_exclusive(target, data)
        except OSError:
            return None
        return target


def _same_content(path: Path, data: bytes) -> bool:
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False
