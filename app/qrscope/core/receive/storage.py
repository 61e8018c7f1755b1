"""Where received instances go on disk: Patient/Study/Series/SOPInstanceUID.dcm.

Every path component comes from a validated or sanitised value, so a hostile
sender cannot write outside the storage folder (a "UID" of ``../../x`` never
reaches a path). Files are written whole or not at all, an instance that is
already stored is not written twice, and a *different* object claiming the
same SOP Instance UID is kept beside the first, never over it. Data that
cannot be parsed is kept in a quarantine folder for inspection.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import mmap
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset

from qrscope.core.archive.index import INDEX_TAGS, record_filed, will_file
from qrscope.core.dicom.encoding import (
    KEY_TAGS,
    HostileDataSet,
    ScannedInstance,
    check_inflation,
    deflated_head,
    deflated_start,
    scan_instance,
)
from qrscope.core.dicom.status import CANNOT_UNDERSTAND, DATA_SET_DOES_NOT_MATCH
from qrscope.core.dicom.uids import is_valid_uid
from qrscope.core.files import create_exclusive, place_exclusive

__all__ = ["DataSetMismatch", "InstanceStore", "StorageError", "StoredInstance",
           "UnparseableInstance", "is_valid_uid", "sanitise_component"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Names Windows refuses as files whatever the extension.
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
             *(f"LPT{i}" for i in range(1, 10))}
QUARANTINE = "_quarantine"
_CHUNK = 1 << 20


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


class DataSetMismatch(ValueError):
    """The data set is not the object its C-STORE command names; it was not filed.

    ``status`` is the C-STORE status PS3.4 B.2.3 gives: 0xA900 (Data Set does
    not match SOP Class) when the classes differ, 0xC000 (Cannot understand)
    when the instances do.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


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


def _entries(folder: Any) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:  # gone meanwhile, or not a folder
        return []


def _subfolders(folder: Any) -> list[os.DirEntry[str]]:
    return [e for e in _entries(folder) if e.is_dir()]


def _instance_names(series: Any) -> set[str]:
    """The SOP instances a series folder holds: ``UID~hash.dcm`` (a different object
    under the same UID, kept beside the first) is the same instance as ``UID.dcm``."""
    return {os.path.normcase(entry.name)[:-4].split("~", 1)[0] for entry in _entries(series)
            if entry.is_file() and os.path.normcase(entry.name).endswith(".dcm")}


_KEYS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")


class _Payload:
    """A received instance as bytes in memory, or as a complete Part 10 file on disk.

    Large instances arrive as files (pynetdicom writes the data set to disk
    as it arrives, see :mod:`qrscope.core.receive.reception`): they are parsed up to
    the pixel data, compared and hashed a chunk at a time, and filed by a
    hard link where the filesystem allows, so their size never has to fit in
    memory.
    """

    def __init__(self, data: bytes | None = None, path: Path | None = None) -> None:
        self.data, self.path = data, path

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size  # type: ignore[union-attr]

    @contextlib.contextmanager
    def source(self) -> Iterator[Any]:
        """The bytes as a file for pydicom, one it can never read whole (see _PartReads)."""
        if self.data is not None:
            yield _PartReads(BytesIO(self.data))
            return
        with self.path.open("rb") as fh:  # type: ignore[union-attr]
            yield _PartReads(fh)

    @contextlib.contextmanager
    def view(self) -> Iterator[bytes | mmap.mmap]:
        """The bytes to scan in place: a file is mapped, so only what is read is paged in."""
        if self.data is not None:
            yield self.data
            return
        with self.path.open("rb") as fh:  # type: ignore[union-attr]
            try:
                mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError:  # an empty file cannot be mapped
                yield b""
                return
            try:
                yield mapped
            finally:
                # A view an exception's frames still hold keeps the mapping
                # until they go; closing it then would hide that exception.
                with contextlib.suppress(BufferError):
                    mapped.close()

    def chunks(self, start: int = 0) -> Iterator[bytes | memoryview]:
        if self.data is not None:
            yield memoryview(self.data)[start:]
            return
        with self.path.open("rb") as fh:  # type: ignore[union-attr]
            fh.seek(start)
            while chunk := fh.read(_CHUNK):
                yield chunk

    def digest(self) -> str:
        sha = hashlib.sha256()
        for chunk in self.chunks():
            sha.update(chunk)
        return sha.hexdigest()

    def place(self, target: Path) -> bool:
        if self.data is not None:
            return create_exclusive(target, self.data)
        return place_exclusive(target, self.path)  # type: ignore[arg-type]

    def same_as(self, path: Path) -> bool:
        """Byte for byte the same as the file at *path* (compared a chunk at a time)."""
        try:
            if path.stat().st_size != self.size:
                return False
            with path.open("rb") as other:
                for chunk in self.chunks():
                    view = memoryview(chunk)
                    for start in range(0, len(view), _CHUNK):
                        part = view[start:start + _CHUNK]
                        if other.read(len(part)) != part:
                            return False
            return True
        except OSError:
            return False


def _check_command(keys: dict[str, str], sop_instance_uid: str, sop_class_uid: str) -> None:
    """Refuse a data set whose own SOP Instance or Class UID differs from the command's.

    A command naming one instance over the data set of another is how a
    forged copy of a real instance gets credited to a retrieve (the command's
    UID is what is matched) while a different object is filed; PS3.4 B.2.3
    gives the statuses. A data set without the value is taken as the command
    names it (liberal in what we receive).
    """
    own_instance, own_class = keys.get("SOPInstanceUID", ""), keys.get("SOPClassUID", "")
    if sop_class_uid and own_class and own_class != sop_class_uid:
        raise DataSetMismatch(f"the data set is of SOP class {own_class}, but its command "
                              f"names {sop_class_uid}", DATA_SET_DOES_NOT_MATCH)
    if sop_instance_uid and own_instance and own_instance != sop_instance_uid:
        raise DataSetMismatch(f"the data set is instance {own_instance}, but its command "
                              f"names {sop_instance_uid}", CANNOT_UNDERSTAND)


class _PartReads:
    """A file pydicom may read a part at a time, never to its end in one call.

    pydicom reads the rest of a file in one call only to inflate a deflated
    data set, whole and unbounded (``filereader.read_partial``). qrscope
    inflates those itself, within limits; one gets here only when its file
    meta header is one qrscope's scanner does not follow, and is refused.
    """

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self.seek, self.tell = fh.seek, fh.tell

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise HostileDataSet("deflated data set with a file meta header qrscope "
                                 "cannot follow")
        return self._fh.read(size)


class InstanceStore:
    """Files received instances under *root*, each into the archive index as well.

    The index row is written after the file is durable and never fails the
    filing (see :func:`qrscope.core.archive.index.record_filed`); its
    attributes come from the same scan that found the folder keys, so the
    stored file is not read again.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, patient_id: str, study_uid: str, series_uid: str,
                 sop_instance_uid: str) -> Path:
        return (self.root / sanitise_component(patient_id) / _uid_component(study_uid)
                / _uid_component(series_uid) / f"{_uid_component(sop_instance_uid)}.dcm")

    def count_local(self, study_uids: list[str]) -> dict[str, int]:
        """How many instances of each study are stored (for marking browser rows).

        One pass over the patient folders, entering only the studies asked
        for: a glob per study read the whole first level of the tree once per
        row, 10,000 times after a large search, holding the interpreter from
        the window meanwhile.
        """
        wanted: dict[str, list[str]] = {}
        for study_uid in study_uids:
            wanted.setdefault(_uid_component(study_uid), []).append(study_uid)
        found = dict.fromkeys(wanted, 0)
        for patient in _subfolders(self.root):
            for study in _subfolders(patient):
                if study.name in found:
                    found[study.name] += sum(len(_instance_names(series))
                                             for series in _subfolders(study))
        return {uid: found[component] for component, uids in wanted.items() for uid in uids}

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
        return self._file(_Payload(data=data), sop_instance_uid, sop_class_uid)

    def store_file(self, path: Path, sop_instance_uid: str = "", sop_class_uid: str = "") -> \
            StoredInstance:
        """File a complete DICOM Part 10 file that the caller removes afterwards.

        As :meth:`store`, but the instance is never read whole into memory.
        """
        return self._file(_Payload(path=Path(path)), sop_instance_uid, sop_class_uid)

    def _file(self, payload: _Payload, sop_instance_uid: str, sop_class_uid: str) -> \
            StoredInstance:
        keys, scanned = self._read_keys(payload)
        _check_command(keys, sop_instance_uid, sop_class_uid)
        sop_uid = str(keys.get("SOPInstanceUID") or sop_instance_uid)
        if not is_valid_uid(sop_uid):
            # Nothing identifies this object: filing it would invent a name.
            path = self._quarantine(payload)
            raise UnparseableInstance("received data has no valid SOP Instance UID", path)
        target = self.path_for(str(keys.get("PatientID", "")), str(keys.get("StudyInstanceUID",
                               "")), str(keys.get("SeriesInstanceUID", "")), sop_uid)
        stored = dict(
            sop_instance_uid=sop_uid,
            sop_class_uid=str(keys.get("SOPClassUID") or sop_class_uid),
            study_uid=str(keys.get("StudyInstanceUID", "")),
            series_uid=str(keys.get("SeriesInstanceUID", "")),
            patient_id=str(keys.get("PatientID", "")),
            size=payload.size,
        )
        if self._write_new(target, payload):
            return self._indexed(StoredInstance(path=target, **stored), scanned)
        if payload.same_as(target):
            return self._indexed(StoredInstance(path=target, duplicate=True, **stored), scanned)
        variant = target.with_name(f"{target.stem}~{payload.digest()[:12]}.dcm")
        created = self._write_new(variant, payload)
        return self._indexed(StoredInstance(path=variant, duplicate=not created,
                                            conflict=True, **stored), scanned)

    def _indexed(self, stored: StoredInstance, scanned: ScannedInstance | None) -> \
            StoredInstance:
        """*stored*, its row written to the archive index (a duplicate's too: the index may
        have missed it the first time). The file at ``stored.path`` holds exactly the bytes
        *scanned* read (None: pydicom read them, and the index reads the file)."""
        record_filed(self.root, stored.path, scanned)
        return stored

    def _write_new(self, target: Path, payload: _Payload) -> bool:
        will_file(self.root)  # a kill from the file's creation to its row leaves a mark
        try:
            return payload.place(target)
        except OSError as exc:
            reason = "the disk is full" if exc.errno == errno.ENOSPC else (
                exc.strerror or str(exc))
            raise StorageError(exc.errno or 0, f"cannot write {target}: {reason}") from exc

    def _read_keys(self, payload: _Payload) -> tuple[dict[str, str], ScannedInstance | None]:
        """The folder keys; what cannot be read, or must not be, is quarantined."""
        try:
            return self._parse_keys(payload)
        except HostileDataSet as exc:
            reason = str(exc)
        except RecursionError:
            # A last resort: the scanner stops at MAX_DEPTH, but pydicom reads
            # what the scanner leaves to it recursively.
            reason = "data set nests sequences too deep to read"
        except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError,
                AttributeError, OverflowError, NotImplementedError) as exc:
            reason = f"received data could not be parsed ({exc})"
        raise UnparseableInstance(reason, self._quarantine(payload))

    def _parse_keys(self, payload: _Payload) -> tuple[dict[str, str], ScannedInstance | None]:
        """The scanner's keys and scan (pydicom's keys where it declines), within the limits.

        The scan also keeps the raw attributes the archive index lists
        (:data:`INDEX_TAGS`), for its row.

        A deflated data set is first inflated whole within
        :func:`check_inflation`'s limits, keeping none of it; only its head
        is ever held, for the scanner or for pydicom.
        """
        with payload.view() as data:
            start = deflated_start(data)
            if start is not None:
                check_inflation(payload.chunks(start), payload.size - start)
            scanned = scan_instance(data, INDEX_TAGS)  # the plain cases, without pydicom
            if scanned is not None:
                return scanned.keys, scanned
            if start is not None:
                head = deflated_head(memoryview(data)[start:])
                ds = read_dataset(BytesIO(head), False, True,
                                  specific_tags=[0x00080005, *KEY_TAGS])
                return {k: str(ds.get(k, "") or "") for k in _KEYS}, None
        with payload.source() as source:
            ds = pydicom.dcmread(source, stop_before_pixels=True, specific_tags=list(_KEYS))
        return {k: str(ds.get(k, "") or "") for k in _KEYS}, None

    def quarantine(self, data: bytes) -> Path | None:
        """Keep bytes we cannot file, named by their hash, for later inspection."""
        return self._quarantine(_Payload(data=data))

    def _quarantine(self, payload: _Payload) -> Path | None:
        target = self.root / QUARANTINE / f"{payload.digest()}.bin"
        try:
            payload.place(target)
        except OSError:
            return None
        return target
