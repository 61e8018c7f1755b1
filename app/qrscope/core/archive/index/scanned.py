"""A received instance as the index sees it, from the storage's own scan of its bytes.

Filing an instance already walks its data set once (the folder keys,
:func:`qrscope.core.dicom.encoding.scan_instance`); that walk also keeps the
raw elements of :data:`.describe.INDEX_TAGS`, and this module turns them
into the row :func:`.describe.describe` would give for the stored file, so
the file is never read a second time: reading it again with pydicom cost
more than filing it (docs/PERFORMANCE.md, "The archive index on ingest").

Plain values (printable ASCII, one value) are decoded here; anything else
goes through pydicom's own conversion with the data set's Specific
Character Set (PS3.5 6.1, 6.2), as a ``dcmread`` would decode it. What even
that cannot settle (a VR other than the dictionary's, a value pydicom
refuses, no UIDs to place it) gives None, and the caller describes the
stored file with pydicom instead.
"""

from __future__ import annotations

import re
from typing import Any

from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.tag import BaseTag

from qrscope.core.archive.index.describe import (
    DICOMDIR_CLASS,
    INDEX_TAGS,
    InstanceRow,
    frames_of,
    text_of,
)
from qrscope.core.dicom.encoding import ScannedInstance

__all__ = ["row_from_scan"]

_CHARSET = 0x00080005
_PLAIN = frozenset(range(0x20, 0x7F)) - {0x5C}  # printable ASCII but the value separator
_DIGITS = re.compile(rb"\s*\d+\s*")
_VRS = {tag: dictionary_VR(tag).encode("ascii") for tag in INDEX_TAGS}
# Specific Character Set values seen: the Python encodings pydicom makes of them.
_ENCODINGS: dict[bytes, list[str]] = {}


class _Decline(Exception):
    """Only a full pydicom read of the file should decide this value."""


def row_from_scan(scanned: ScannedInstance, stored_as: str, size: int,
                  mtime_ns: int) -> InstanceRow | None:
    """The index row of the stored file *stored_as* whose bytes *scanned* describes.

    None where only pydicom reading the file can say (see the module).
    """
    try:
        values = _values(scanned)
    except _Decline:
        return None
    sop_uid, sop_class = values["SOPInstanceUID"], values["SOPClassUID"]
    study_uid, series_uid = values["StudyInstanceUID"], values["SeriesInstanceUID"]
    if not (sop_uid and sop_class and study_uid and series_uid) or sop_class == DICOMDIR_CLASS:
        return None  # describe() says why, from the file meta as well
    return InstanceRow(
        path=stored_as, size=size, mtime_ns=mtime_ns, sop_instance_uid=sop_uid,
        sop_class_uid=sop_class, series_uid=series_uid, study_uid=study_uid,
        patient_id=values["PatientID"], transfer_syntax=scanned.transfer_syntax,
        instance_number=values["InstanceNumber"], frames=frames_of(values["NumberOfFrames"]),
        patient_name=values["PatientName"], birth_date=values["PatientBirthDate"],
        sex=values["PatientSex"], study_date=values["StudyDate"],
        study_time=values["StudyTime"], accession_number=values["AccessionNumber"],
        study_description=values["StudyDescription"],
        referring_physician=values["ReferringPhysicianName"], modality=values["Modality"],
        series_number=values["SeriesNumber"], series_description=values["SeriesDescription"],
    )


def _values(scanned: ScannedInstance) -> dict[str, str]:
    """Every index attribute as text (empty when absent), as :func:`text_of` gives it."""
    elements = scanned.elements
    encodings: list[str] | None = None
    values = {}
    for tag, keyword in INDEX_TAGS.items():
        vr, raw = elements.get(tag, (b"", b""))
        if vr and vr != _VRS[tag]:
            raise _Decline  # pydicom would judge (or replace) a VR the dictionary disagrees with
        text = _plain(raw, tag)
        if text is None:
            if encodings is None:
                encodings = _encodings(elements.get(_CHARSET), scanned)
            text = _converted(tag, raw, encodings, scanned)
        values[keyword] = text
    return values


def _plain(raw: bytes, tag: int) -> str | None:
    """*raw* decoded without pydicom when it is one plain value; None otherwise."""
    value = raw.rstrip(b"\x00 ")
    if not set(value) <= _PLAIN:
        return None
    if _VRS[tag] == b"IS" and value and not _DIGITS.fullmatch(value):
        return None  # a sign, a fraction or no number: pydicom's IS decides
    if _VRS[tag] == b"PN" and b"=" in value:
        return None  # component groups: pydicom's PersonName decides
    return value.decode("ascii").strip()


def _encodings(charset: tuple[bytes, bytes] | None, scanned: ScannedInstance) -> list[str]:
    """The Python encodings of the data set's Specific Character Set, as pydicom takes them."""
    raw = b"" if charset is None else charset[1]
    if not raw.strip(b"\x00 "):
        return [default_encoding]
    known = _ENCODINGS.get(raw)
    if known is None:
        value = _element(_CHARSET, raw, [default_encoding], scanned).value
        known = convert_encodings(value)
        if len(_ENCODINGS) < 64:
            _ENCODINGS[raw] = known
    return list(known)


def _converted(tag: int, raw: bytes, encodings: list[str], scanned: ScannedInstance) -> str:
    value = _element(tag, raw, encodings, scanned).value
    return str(frames_of(value)) if tag == 0x00280008 else text_of(value)


def _element(tag: int, raw: bytes, encodings: list[str], scanned: ScannedInstance) -> Any:
    """pydicom's conversion of one raw element (as ``Dataset.__getitem__`` does it)."""
    implicit = not scanned.elements.get(tag, (b"",))[0]
    element = RawDataElement(BaseTag(tag), None if implicit else _VRS[tag].decode("ascii"),
                             len(raw), raw, 0, implicit, scanned.little_endian)
    try:
        return convert_raw_data_element(element, encoding=encodings)
    except Exception as exc:  # whatever pydicom raises for a value it refuses
        raise _Decline from exc
