"""One file as the index sees it: the attributes a browser shows, read up to the pixel data.

Only the attributes the index keeps are read (``specific_tags``), and never
the pixel data, so describing a 300 MB instance costs about as much as a
1 kB one. Names are decoded with the file's own Specific Character Set
(PS3.5 6.1), which is why (0008,0005) is among the tags read.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.errors import InvalidDicomError

__all__ = ["DICOMDIR_CLASS", "INDEX_TAGS", "InstanceRow", "NotDicom", "describe",
           "frames_of", "text_of"]

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage (PS3.10 8.6)

_TAGS = {
    "SpecificCharacterSet": "", "PatientID": "", "PatientName": "", "PatientBirthDate": "",
    "PatientSex": "", "StudyInstanceUID": "", "StudyDate": "", "StudyTime": "",
    "AccessionNumber": "", "StudyDescription": "", "ReferringPhysicianName": "",
    "SeriesInstanceUID": "", "Modality": "", "SeriesNumber": "", "SeriesDescription": "",
    "SOPInstanceUID": "", "SOPClassUID": "", "InstanceNumber": "", "NumberOfFrames": "",
}
# The same attributes by tag: tag -> keyword (what the storage's scan collects for the index).
INDEX_TAGS = {int(tag_for_keyword(keyword)): keyword  # type: ignore[arg-type]
              for keyword in _TAGS}


class NotDicom(ValueError):
    """The file is not a DICOM instance the index can hold; the message says why."""


@dataclass(frozen=True)
class InstanceRow:
    """Everything the index keeps of one file, at its four levels."""

    path: str
    size: int
    mtime_ns: int
    sop_instance_uid: str
    sop_class_uid: str
    series_uid: str
    study_uid: str
    patient_id: str
    transfer_syntax: str = ""
    instance_number: str = ""
    frames: int = 1
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""
    study_date: str = ""
    study_time: str = ""
    accession_number: str = ""
    study_description: str = ""
    referring_physician: str = ""
    modality: str = ""
    series_number: str = ""
    series_description: str = ""


def _text(ds: Any, keyword: str) -> str:
    return text_of(ds.get(keyword, ""))


def text_of(value: Any) -> str:
    """A value as the index keeps it: values of several joined by a backslash, one stripped."""
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _frames(ds: Any) -> int:
    return frames_of(ds.get("NumberOfFrames", 1))


def frames_of(value: Any) -> int:
    """Number of Frames as the index counts it: 1 when absent, empty or not a number."""
    try:
        return max(1, int(value or 1))
    except (TypeError, ValueError):
        return 1


def describe(path: Path, stored_as: str) -> InstanceRow:
    """The index row of the file at *path*, kept under the name *stored_as*.

    Raises :class:`NotDicom` (with the reason) for anything that is not a
    DICOM instance with the UIDs that place it: not Part 10, unreadable,
    a DICOMDIR, or missing its Study, Series or SOP Instance UID.
    """
    try:
        stat = os.stat(path)
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(_TAGS))
    except InvalidDicomError as exc:
        raise NotDicom(f"not a DICOM Part 10 file ({exc})") from None
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError,
            OverflowError, NotImplementedError, RecursionError, struct.error) as exc:
        raise NotDicom(f"cannot be read as DICOM ({type(exc).__name__}: {exc})") from None
    meta = getattr(ds, "file_meta", None)
    media_class = str(getattr(meta, "MediaStorageSOPClassUID", "") or "")
    if media_class == DICOMDIR_CLASS:
        raise NotDicom("a DICOMDIR (import it to import the files it lists)")
    sop_uid = _text(ds, "SOPInstanceUID") or str(
        getattr(meta, "MediaStorageSOPInstanceUID", "") or "")
    missing = [name for name, value in (("SOP Instance UID", sop_uid),
               ("Study Instance UID", _text(ds, "StudyInstanceUID")),
               ("Series Instance UID", _text(ds, "SeriesInstanceUID"))) if not value]
    if missing:
        raise NotDicom(f"DICOM without {', '.join(missing)}: nothing places it in the archive")
    return InstanceRow(
        path=stored_as, size=stat.st_size, mtime_ns=stat.st_mtime_ns,
        sop_instance_uid=sop_uid,
        sop_class_uid=_text(ds, "SOPClassUID") or media_class,
        series_uid=_text(ds, "SeriesInstanceUID"), study_uid=_text(ds, "StudyInstanceUID"),
        patient_id=_text(ds, "PatientID"),
        transfer_syntax=str(getattr(meta, "TransferSyntaxUID", "") or ""),
        instance_number=_text(ds, "InstanceNumber"), frames=_frames(ds),
        patient_name=_text(ds, "PatientName"), birth_date=_text(ds, "PatientBirthDate"),
        sex=_text(ds, "PatientSex"), study_date=_text(ds, "StudyDate"),
        study_time=_text(ds, "StudyTime"), accession_number=_text(ds, "AccessionNumber"),
        study_description=_text(ds, "StudyDescription"),
        referring_physician=_text(ds, "ReferringPhysicianName"),
        modality=_text(ds, "Modality"), series_number=_text(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
    )
