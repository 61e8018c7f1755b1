"""The bundled sample studies the demo PACS serves when given no folder.

Every file is a re-identified copy of a file shipped inside the pydicom wheel
(``pydicom/data/test_files``) or a small image drawn with numpy, so the set
needs no network and no extra download. Compressed sources are copied
without decoding: their pixel data bytes reach the disk exactly as pydicom
shipped them, which is what lets tests prove that a retrieve did not
transcode.

UIDs are derived from fixed strings with :func:`pydicom.uid.generate_uid`, so
two builds produce the same studies and a saved query or a test can name a
UID. Dates are the exception on purpose: the "recent" studies are placed a
few days before ``today`` so that "last 30 days" searches always find
something, while the older studies keep fixed dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, PYDICOM_ROOT_UID, UID, generate_uid

from qrscope.demo_pacs.synthetic import synthetic_cr, synthetic_dx

__all__ = [
    "Patient",
    "Series",
    "Study",
    "build_sample_studies",
    "load_source",
    "reidentify",
    "sample_uid",
    "write_studies",
]

# generate_uid() hashes prefix + entropy; the pydicom root keeps the UIDs
# valid (registered root) and the fixed entropy keeps them stable.
_UID_ENTROPY_ROOT = "qrscope-demo-pacs-v1"

# Attributes of the source files that describe their original patient or
# contradict the new one; dropped rather than rewritten.
_DROPPED_PATIENT_DETAILS = (
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientBirthTime",
    "PatientAddress",
    "PatientComments",
    "IssuerOfPatientID",
)

# Date/time pairs that should agree with the study they now belong to.
_DATE_TIME_PAIRS = (
    ("SeriesDate", "SeriesTime"),
    ("AcquisitionDate", "AcquisitionTime"),
    ("ContentDate", "ContentTime"),
    ("InstanceCreationDate", "InstanceCreationTime"),
)

_SourceLoader = Callable[[int], Dataset]


@dataclass(frozen=True)
class Patient:
    name: str
    patient_id: str
    birth_date: str
    sex: str
    # ISO_IR 192 (UTF-8) for the patient whose name needs it; the others use
    # ISO_IR 100 (Latin-1), still the most common declaration in the field.
    # A tuple is a multi-valued (0008,0005), e.g. ("", "ISO 2022 IR 87").
    character_set: str | tuple[str, ...] = "ISO_IR 100"


@dataclass(frozen=True)
class Series:
    number: int
    modality: str
    description: str
    source: str
    count: int
    body_part: str = ""
    # Store the copy under another SOP class whose IOD its content fits.
    sop_class: str = ""


@dataclass(frozen=True)
class Study:
    key: str
    patient: Patient
    # A fixed "YYYYMMDD" date, or the number of days before ``today``.
    date: str | int
    time: str
    accession: str
    description: str
    referring: str
    series: tuple[Series, ...]


_DOE = Patient("Doe^Jane", "QRS-1001", "19700412", "F")
_MUELLER = Patient("Müller^Jürgen", "QRS-1002", "19581130", "M", "ISO_IR 192")
_SMITH = Patient("Smith^John", "QRS-1003", "19851203", "M")
_TANAKA = Patient("Tanaka^Yuki", "QRS-1004", "19920707", "F")

_STUDIES: tuple[Study, ...] = (
    Study(
        "ct-chest", _DOE, 3, "081512", "ACC1001", "CT CHEST W/O CONTRAST", "House^Gregory",
        (
            Series(1, "CT", "Axial 5mm", "CT_small.dcm", 12, "CHEST"),
            Series(2, "CT", "Localizer JPEG 2000", "693_J2KI.dcm", 4, "CHEST"),
            Series(3, "SR", "Dose report", "reportsi.dcm", 1),
        ),
    ),
    Study(
        "mr-brain", _DOE, "20190314", "142000", "ACC1002", "MR BRAIN", "Grey^Meredith",
        (
            Series(1, "MR", "T1 SE", "MR_small.dcm", 6, "HEAD"),
            Series(2, "MR", "T2 TSE", "MR_small_implicit.dcm", 6, "HEAD"),
            Series(3, "MR", "DWI", "MR_small_RLE.dcm", 4, "HEAD"),
        ),
    ),
    Study(
        "mr-knee", _MUELLER, 12, "093000", "ACC1003", "MR KNIE RECHTS", "Schäfer^Anna",
        (
            Series(1, "MR", "PD FS", "MR_small_jp2klossless.dcm", 6, "KNEE"),
            Series(2, "MR", "T1 COR", "MR_small_jpeg_ls_lossless.dcm", 6, "KNEE"),
        ),
    ),
    Study(
        "dx-chest", _MUELLER, "20210602", "101500", "ACC1004", "XR THORAX 2 EBENEN",
        "Schäfer^Anna",
        (
            Series(1, "DX", "Thorax PA", "synthetic:dx-pa", 1, "CHEST"),
            Series(2, "DX", "Thorax lateral", "synthetic:dx-lat", 1, "CHEST"),
        ),
    ),
    Study(
        "sc-import", _SMITH, 1, "161045", "ACC1005", "OUTSIDE IMAGES IMPORT", "Wilson^James",
        (
            Series(1, "OT", "Photos", "SC_rgb_jpeg_dcmtk.dcm", 3),
            Series(2, "OT", "Scanned film", "JPEG-lossy.dcm", 2),
            Series(3, "OT", "Scanned film J2K", "JPEG2000.dcm", 1),
        ),
    ),
    Study(
        "rt-plan", _SMITH, "20171120", "113000", "ACC1006", "RT PROSTATE PLAN", "Cuddy^Lisa",
        (Series(1, "RTPLAN", "Plan v1", "rtplan.dcm", 1),),
    ),
    Study(
        "cr-hand", _TANAKA, 45, "083000", "ACC1007", "XR HAND LEFT", "Wilson^James",
        (
            Series(1, "CR", "Hand PA", "synthetic:cr-hand", 2, "HAND"),
            Series(2, "SR", "Radiology report", "test-SR.dcm", 1),
        ),
    ),
)

_SYNTHETIC: dict[str, _SourceLoader] = {
    "synthetic:dx-pa": lambda index: synthetic_dx(lateral=False),
    "synthetic:dx-lat": lambda index: synthetic_dx(lateral=True),
    "synthetic:cr-hand": lambda index: synthetic_cr(variant=index),
}


def build_sample_studies(folder: Path, today: dt.date | None = None) -> list[Path]:
    """Write the bundled sample studies into `folder`.

    Parameters
    ----------
    folder : pathlib.Path
        Where to write; created if missing. Files go into
        ``<PatientID>/<study>/sNN/NNNN.dcm`` so a person browsing the folder
        sees the hierarchy the PACS reports.
    today : datetime.date, optional
        The day the "recent" studies are counted back from (default: the
        real today), so that relative-date searches always find something.
        Pass a fixed date for byte-identical builds.

    Returns
    -------
    list of pathlib.Path
        The written files, in patient/study/series/instance order.

    Notes
    -----
    The set holds 4 patients, 7 studies, 16 series and 57 instances
    (CT, MR, DX, CR, OT, SR and RTPLAN) in Explicit and Implicit VR Little
    Endian, JPEG Baseline, JPEG Extended, JPEG 2000 (lossy and lossless),
    JPEG-LS Lossless and RLE Lossless. UIDs are the same on every build.
    """
    return write_studies(folder, _STUDIES, today or dt.date.today())


def write_studies(
    folder: Path,
    studies: Sequence[Study],
    today: dt.date,
    load: Callable[[str, int], Dataset] | None = None,
    finish: Callable[[Dataset, Study, Series, int], None] | None = None,
) -> list[Path]:
    """Write ``studies`` into ``folder`` as ``<PatientID>/<study>/sNN/NNNN.dcm``.

    ``load`` makes each source data set (default :func:`load_source`);
    ``finish``, when given, adjusts each copy after :func:`reidentify`, for
    example to link the objects of one study to each other.
    """
    load = load or load_source
    written: list[Path] = []
    for study in studies:
        study_date = _study_date(study, today)
        for series in study.series:
            for index in range(series.count):
                ds = load(series.source, index)
                reidentify(ds, study, series, index, study_date)
                if finish is not None:
                    finish(ds, study, series, index)
                path = (
                    folder
                    / study.patient.patient_id
                    / study.key
                    / f"s{series.number:02d}"
                    / f"{index + 1:04d}.dcm"
                )
                path.parent.mkdir(parents=True, exist_ok=True)
                ds.save_as(path, enforce_file_format=True)
                written.append(path)
    return written


def _study_date(study: Study, today: dt.date) -> str:
    if isinstance(study.date, str):
        return study.date
    return (today - dt.timedelta(days=study.date)).strftime("%Y%m%d")


def load_source(source: str, index: int) -> Dataset:
    """Read a pydicom test file, or draw a synthetic image, as a fresh dataset."""
    if source in _SYNTHETIC:
        return _SYNTHETIC[source](index)
    # download=False: a missing file must fail here, never reach the network.
    path = get_testdata_file(source, download=False)
    if path is None:
        raise FileNotFoundError(f"pydicom test file {source!r} is not installed")
    ds = dcmread(path)
    # Decode every text value with the source's character set now, so that
    # changing (0008,0005) below re-encodes them instead of writing the old
    # bytes under a new declaration.
    ds.decode()
    return ds


def sample_uid(*parts: object) -> UID:
    """A UID under the pydicom root, the same on every build for the same parts."""
    entropy = [_UID_ENTROPY_ROOT, *(str(part) for part in parts)]
    return generate_uid(prefix=PYDICOM_ROOT_UID, entropy_srcs=entropy)


def reidentify(
    ds: Dataset, study: Study, series: Series, index: int, study_date: str
) -> None:
    """Give one copy its new patient, study, series and instance identity."""
    patient = study.patient
    charset = patient.character_set
    ds.SpecificCharacterSet = list(charset) if isinstance(charset, tuple) else charset
    for keyword in _DROPPED_PATIENT_DETAILS:
        if keyword in ds:
            delattr(ds, keyword)
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.PatientAge = _age(patient.birth_date, study_date)

    ds.StudyInstanceUID = sample_uid(study.key)
    ds.StudyDate = study_date
    ds.StudyTime = study.time
    ds.StudyID = study.accession[-4:]
    ds.AccessionNumber = study.accession
    ds.StudyDescription = study.description
    ds.ReferringPhysicianName = study.referring
    ds.InstitutionName = "qrscope Demo Hospital"

    ds.SeriesInstanceUID = sample_uid(study.key, series.number)
    ds.SeriesNumber = series.number
    ds.SeriesDescription = series.description
    ds.Modality = series.modality
    if series.body_part:
        ds.BodyPartExamined = series.body_part
    if "FrameOfReferenceUID" in ds:
        ds.FrameOfReferenceUID = sample_uid(study.key, series.number, "frame-of-reference")

    if series.sop_class:
        ds.SOPClassUID = series.sop_class
    sop_instance_uid = sample_uid(study.key, series.number, index + 1)
    ds.SOPInstanceUID = sop_instance_uid
    ds.InstanceNumber = index + 1
    # Content times step by a second so instances sort the way they were made.
    content_time = _add_seconds(study.time, 60 * series.number + index)
    for date_keyword, time_keyword in _DATE_TIME_PAIRS:
        if date_keyword in ds or date_keyword in ("SeriesDate", "ContentDate"):
            setattr(ds, date_keyword, study_date)
            setattr(ds, time_keyword, content_time)

    meta = ds.file_meta
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    # pydicom writes the copy, so it is the implementation that made the file.
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    if "ImplementationVersionName" in meta:
        del meta.ImplementationVersionName
    if "SourceApplicationEntityTitle" in meta:
        del meta.SourceApplicationEntityTitle


def _age(birth_date: str, study_date: str) -> str:
    born = dt.datetime.strptime(birth_date, "%Y%m%d").date()
    seen = dt.datetime.strptime(study_date, "%Y%m%d").date()
    years = seen.year - born.year - ((seen.month, seen.day) < (born.month, born.day))
    return f"{years:03d}Y"


def _add_seconds(hhmmss: str, seconds: int) -> str:
    start = dt.datetime.strptime(hhmmss, "%H%M%S")
    return (start + dt.timedelta(seconds=seconds)).strftime("%H%M%S")
