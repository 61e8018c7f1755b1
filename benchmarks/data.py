"""The benchmark's data, generated (never downloaded), and the check that it arrived whole.

Every data set is written once per run into the work folder. What each instance
must look like on arrival is kept as a :class:`Fingerprint` per SOP Instance
UID, so a contender that is fast but loses, duplicates or alters an instance
fails the run instead of winning it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
# Multi-frame Grayscale Word Secondary Capture: a plain class every peer knows,
# used for the one very large instance.
MULTIFRAME_WORD_SC = "1.2.840.10008.5.1.4.1.1.7.3"


@dataclass(frozen=True)
class Study:
    """A generated study: where its files are and what each must be on arrival."""

    name: str
    study_uid: str
    folder: Path
    fingerprints: dict[str, str]
    """SOP Instance UID -> :func:`fingerprint` of the data set."""

    @property
    def count(self) -> int:
        return len(self.fingerprints)

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.iterdir())


class WrongResult(AssertionError):
    """A contender's output is not the study it was asked for."""


def fingerprint(ds: Dataset) -> str:
    """Digest of every element's tag and value outside the file meta group, pixel data
    as raw bytes: equal for two files that hold the same data set, whatever their
    file meta or encoding details (group lengths, padding) a writer chose."""
    digest = hashlib.sha256()
    for element in ds:
        if element.tag.group == 0x0002:
            continue
        value = element.value
        payload = bytes(value) if isinstance(value, bytes | bytearray) else repr(value).encode()
        digest.update(f"{element.tag:08X}{len(payload)}".encode())
        digest.update(payload)
    return digest.hexdigest()


def _image(study_uid: str, series_uid: str, number: int, rows: int, cols: int,
           frames: int = 1, sop_class: str = CT_IMAGE, patient: str = "BENCH^STUDY") -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid.generate_uid()
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientName = patient
    ds.PatientID = patient.split("^")[-1][:16]
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyDate = "20240101"
    ds.StudyTime = "120000"
    ds.AccessionNumber = f"A{number % 10**8:08d}"
    ds.StudyID = "1"
    ds.StudyDescription = "qrscope benchmark"
    ds.ReferringPhysicianName = ""
    ds.Modality = "CT" if sop_class == CT_IMAGE else "OT"
    ds.SeriesNumber = 1
    ds.InstanceNumber = number + 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if sop_class == CT_IMAGE:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.SliceThickness = 1
        ds.ImagePositionPatient = [0, 0, number]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.7]
    return ds


def _pixels(rng: np.random.Generator, values: int) -> bytes:
    return rng.integers(0, 4096, size=values, dtype=np.uint16).tobytes()


def _save(ds: Dataset, path: Path) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)


def image_study(folder: Path, name: str, count: int, rows: int, cols: int, seed: int) -> Study:
    """``count`` single-frame CT images of ``rows`` x ``cols`` 16-bit pixels, one series."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    study_uid, series_uid = uid.generate_uid(), uid.generate_uid()
    fingerprints = {}
    for number in range(count):
        ds = _image(study_uid, series_uid, number, rows, cols)
        ds.PixelData = _pixels(rng, rows * cols)
        _save(ds, folder / f"{number:06d}.dcm")
        fingerprints[str(ds.SOPInstanceUID)] = fingerprint(ds)
    return Study(name, study_uid, folder, fingerprints)


def multiframe_study(folder: Path, megabytes: int) -> Study:
    """One multi-frame instance of 512 x 512 16-bit frames, about ``megabytes`` MB."""
    folder.mkdir(parents=True)
    frames = max(1, megabytes * 2**20 // (512 * 512 * 2))
    study_uid, series_uid = uid.generate_uid(), uid.generate_uid()
    ds = _image(study_uid, series_uid, 0, 512, 512, frames, MULTIFRAME_WORD_SC)
    # A repeating ramp, not random: generating 300 MB of random numbers takes seconds.
    frame = (np.arange(512 * 512, dtype=np.uint32) % 4096).astype(np.uint16).tobytes()
    ds.PixelData = frame * frames
    _save(ds, folder / "multiframe.dcm")
    return Study(f"{frames} frames", study_uid, folder, {str(ds.SOPInstanceUID): fingerprint(ds)})


def many_studies(folder: Path, count: int) -> list[str]:
    """``count`` studies of one tiny CT image each (for C-FIND); their Study UIDs."""
    folder.mkdir(parents=True)
    study_uids = []
    pixels = bytes(8)
    for number in range(count):
        study_uid = uid.generate_uid()
        ds = _image(study_uid, uid.generate_uid(), number, 2, 2,
                    patient=f"FIND^P{number:05d}")
        ds.PixelData = pixels
        _save(ds, folder / f"{number:06d}.dcm")
        study_uids.append(study_uid)
    return study_uids


def _dicom_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        # Tools keep a partial file under a temporary name until it is complete.
        if path.is_file() and not path.name.startswith(".") and path.suffix not in {".part",
                                                                                   ".tmp"}:
            yield path


def check_arrived(study: Study, folder: Path) -> int:
    """Raise :class:`WrongResult` unless ``folder`` holds exactly ``study``: one file per
    instance, none missing, none extra, each holding the same data set. Returns the count."""
    seen: dict[str, Path] = {}
    for path in _dicom_files(folder):
        ds = pydicom.dcmread(path)
        sop_uid = str(ds.SOPInstanceUID)
        if sop_uid in seen:
            raise WrongResult(f"{sop_uid} arrived twice: {seen[sop_uid]} and {path}")
        seen[sop_uid] = path
        if sop_uid not in study.fingerprints:
            raise WrongResult(f"{path} is not an instance of the {study.name} study")
        if fingerprint(ds) != study.fingerprints[sop_uid]:
            raise WrongResult(f"{path} differs from the instance that was sent")
    missing = set(study.fingerprints) - set(seen)
    if missing:
        raise WrongResult(f"{len(missing)} of {study.count} instances missing, "
                          f"e.g. {sorted(missing)[:2]}")
    return len(seen)


def study_uids_in(identifiers: Iterable[str]) -> set[str]:
    return {value.strip() for value in identifiers if value.strip()}
