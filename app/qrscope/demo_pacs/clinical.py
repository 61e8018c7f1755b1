"""Clinical objects a hospital PACS holds besides images, as a reproducible set.

Radiotherapy (CT, RT Structure Set, RT Plan, RT Dose and a treatment planning
system's private objects in one study), an Enhanced SR with an Encapsulated
PDF, a 12-lead ECG alone in its study, an ultrasound image of a retired SOP
class, and an MR image in Explicit VR Big Endian, for patients whose names
are written in four character sets (ISO_IR 100, ISO_IR 192, ISO 2022 IR 87
and ISO_IR 144; the names are those of pydicom's ``charset_files``).

Archives hold one class in several transfer syntaxes (what each modality or
migration wrote), and a C-GET must offer each of them: an RT study of plans
and doses exported over the years in Implicit VR, Explicit VR Big Endian,
Explicit VR Little Endian and, for the dose grid (pixel data like any image),
RLE Lossless; and an echocardiogram cine loop in JPEG Baseline with a
Segmentation of it in RLE Lossless.

Built the way :mod:`qrscope.demo_pacs.samples` builds its studies:
re-identified copies of files shipped in ``pydicom/data/test_files`` where
one exists, data sets made with pydicom otherwise, fixed UIDs from
:func:`~qrscope.demo_pacs.samples.sample_uid`, fixed dates. No download.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from qrscope.demo_pacs.samples import (
    Patient,
    Series,
    Study,
    load_source,
    sample_uid,
    write_studies,
)
from qrscope.demo_pacs.synthetic import synthetic_segmentation, synthetic_us

__all__ = [
    "ENHANCED_SR_STORAGE",
    "PRIVATE_SOP_CLASS_UID",
    "build_clinical_studies",
]

ENHANCED_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.22"
_ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
_RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
_RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"
_US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"

# A planning system's private SOP class, as vendors define under their own
# root (PS3.5 9.1); here under pydicom's, derived like every other UID.
PRIVATE_SOP_CLASS_UID: UID = sample_uid("private-sop-class", "tps-optimisation-state")
_PRIVATE_CREATOR = "QRSCOPE TPS STATE"

# The RT study's series numbers.
_CT, _RTSTRUCT, _RTPLAN, _RTDOSE, _TPS_STATE = 1, 2, 3, 4, 5
# The files each instance of a series "in every syntax" is made from, in
# instance order: (pydicom test file, syntax to write it in or "" as shipped).
_PLAN_SYNTAXES = (("rtplan.dcm", ""), ("rtplan.dcm", ExplicitVRBigEndian),
                  ("rtplan.dcm", ExplicitVRLittleEndian))
_DOSE_SYNTAXES = (("rtdose.dcm", ""), ("rtdose_expb.dcm", ""),
                  ("rtdose.dcm", ExplicitVRLittleEndian), ("rtdose_rle.dcm", ""))

_BUC = Patient("Buc^Jérôme", "QRS-2001", "19610305", "M", "ISO_IR 100")
_WANG = Patient("Wang^XiaoDong=王^小東", "QRS-2002", "19770921", "M", "ISO_IR 192")
_YAMADA = Patient(
    "Yamada^Tarou=山田^太郎=やまだ^たろう", "QRS-2003", "19880117", "M", ("", "ISO 2022 IR 87")
)
_IVANOVA = Patient("Иванова^Мария", "QRS-2004", "19690802", "F", "ISO_IR 144")

_STUDIES: tuple[Study, ...] = (
    Study(
        "clinical-rt-prostate", _BUC, "20220510", "090000", "ACC2001", "RT PROSTATE IMRT",
        "Curie^Marie",
        (
            Series(_CT, "CT", "Planning CT", "CT_small.dcm", 2, "PELVIS"),
            Series(_RTSTRUCT, "RTSTRUCT", "Structures", "rtstruct.dcm", 1),
            Series(_RTPLAN, "RTPLAN", "Plan IMRT 7F", "rtplan.dcm", 1),
            Series(_RTDOSE, "RTDOSE", "Plan dose", "rtdose.dcm", 1),
            # Planning systems store their own state next to the plan, under
            # a private SOP class, and PACS give such series modality OT.
            Series(_TPS_STATE, "OT", "TPS optimisation state", "built:private", 2),
        ),
    ),
    Study(
        "clinical-reports", _BUC, "20220602", "143000", "ACC2002", "OUTSIDE REPORTS",
        "Curie^Marie",
        (
            # Basic Text SR content fits the Enhanced SR IOD (PS3.3 A.35.2).
            Series(1, "SR", "Radiology report", "reportsi.dcm", 1,
                   sop_class=ENHANCED_SR_STORAGE),
            Series(2, "DOC", "Referral letter", "built:pdf", 1),
        ),
    ),
    Study(
        "clinical-ecg", _WANG, "20230114", "075500", "ACC2003", "ECG 12 LEAD RESTING",
        "Einthoven^Willem",
        (Series(1, "ECG", "Resting ECG", "waveform_ecg.dcm", 1),),
    ),
    Study(
        "clinical-us-legacy", _YAMADA, "19990420", "101000", "ACC2004", "US ABDOMEN",
        "Wild^John",
        (Series(1, "US", "Liver", "built:us-retired", 1, "ABDOMEN"),),
    ),
    Study(
        "clinical-mr-outside", _IVANOVA, "20040826", "185059", "ACC2005", "MR HEAD OUTSIDE CD",
        "Pavlov^Ivan",
        (Series(1, "MR", "T1 from outside CD", "MR_small_bigendian.dcm", 2, "HEAD"),),
    ),
    Study(
        "clinical-rt-syntaxes", _WANG, "20150311", "160000", "ACC2006", "RT LUNG SBRT ARCHIVE",
        "Curie^Marie",
        (
            # One plan and dose per export, as a migrated archive holds them:
            # Implicit VR, Big Endian, Explicit VR, and the dose RLE Lossless.
            Series(1, "RTPLAN", "Plans as exported", "built:rtplan-syntaxes",
                   len(_PLAN_SYNTAXES)),
            Series(2, "RTDOSE", "Doses as exported", "built:rtdose-syntaxes",
                   len(_DOSE_SYNTAXES)),
        ),
    ),
    Study(
        "clinical-echo", _IVANOVA, "20160503", "120850", "ACC2007", "ECHO TTE",
        "Pavlov^Ivan",
        (
            Series(1, "US", "Apical 4 chamber cine", "examples_ybr_color.dcm", 1, "HEART"),
            Series(2, "SEG", "LV segmentation", "built:segmentation", 1, "HEART"),
        ),
    ),
)


def build_clinical_studies(folder: Path) -> list[Path]:
    """Write the clinical set into `folder`, as ``<PatientID>/<study>/sNN/NNNN.dcm``.

    Parameters
    ----------
    folder : pathlib.Path
        Where to write; created if missing.

    Returns
    -------
    list of pathlib.Path
        The written files, in patient/study/series/instance order.

    Notes
    -----
    4 patients, 7 studies, 14 series, 22 instances, about 0.8 MB. SOP
    classes: CT, RT Structure Set, RT Plan, RT Dose, a private class
    (:data:`PRIVATE_SOP_CLASS_UID`), Enhanced SR, Encapsulated PDF, 12-lead
    ECG, Ultrasound Image Storage (Retired), Ultrasound Multi-frame, MR and
    Segmentation; transfer syntaxes: Implicit and Explicit VR Little Endian,
    Explicit VR Big Endian (MR, RT Plan, RT Dose), RLE Lossless (RT Dose,
    Segmentation) and JPEG Baseline (the cine loop). Every build writes the
    same bytes.
    """
    return write_studies(folder, _STUDIES, dt.date(2024, 1, 1), _load, _link)


_BUILT: dict[str, Callable[[int], Dataset]] = {
    "built:private": lambda index: _private_tps_state(index),
    "built:pdf": lambda index: _encapsulated_pdf(),
    "built:us-retired": lambda index: synthetic_us(),
    "built:rtplan-syntaxes": lambda index: _in_syntax(*_PLAN_SYNTAXES[index]),
    "built:rtdose-syntaxes": lambda index: _in_syntax(*_DOSE_SYNTAXES[index]),
    # The size of the cine loop it segments (examples_ybr_color.dcm).
    "built:segmentation": lambda index: synthetic_segmentation(240, 320),
}


def _load(source: str, index: int) -> Dataset:
    if source in _BUILT:
        return _BUILT[source](index)
    if source == "rtstruct.dcm":
        return _without_meta(source)
    with warnings.catch_warnings():
        # rtdose.dcm refers to its plan by an invalid UID ("...9.0123..."),
        # which _link_rt replaces; pydicom warns when it decodes it.
        warnings.filterwarnings("ignore", "Invalid value for VR UI", UserWarning)
        return load_source(source, index)


def _in_syntax(source: str, syntax: str) -> Dataset:
    """A pydicom test file, written in *syntax* ("": as shipped).

    Little endian to little endian is a change of the meta's syntax; a data
    set becomes Big Endian once every value is decoded, with no original
    encoding left to keep (pydicom refuses to swap the byte order of values
    it still holds raw). Only files without pixel data are made Big Endian
    here: the Big Endian dose is pydicom's own ``rtdose_expb.dcm``.
    """
    ds = _load(source, 0)
    if syntax == ExplicitVRBigEndian:
        for _element in ds.iterall():
            pass  # each raw element decoded, in its own encoding
        ds.set_original_encoding(False, False, ds.original_character_set)
    if syntax:
        ds.file_meta.TransferSyntaxUID = syntax
    return ds


def _without_meta(source: str) -> Dataset:
    """pydicom ships rtstruct.dcm without preamble or File Meta Information;
    the copy gets them (Implicit VR Little Endian, as the data set is encoded)."""
    path = get_testdata_file(source, download=False)
    if path is None:
        raise FileNotFoundError(f"pydicom test file {source!r} is not installed")
    ds = dcmread(path, force=True)
    ds.decode()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return ds


def _private_tps_state(index: int) -> Dataset:
    """A small instance of the private SOP class: the common modules plus a
    private block holding an opaque, deterministic blob."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = PRIVATE_SOP_CLASS_UID
    ds.Manufacturer = "qrscope TPS"
    block = ds.private_block(0x0029, _PRIVATE_CREATOR, create=True)
    block.add_new(0x00, "LO", f"optimisation pass {index + 1}")
    block.add_new(0x01, "OB", bytes((7 * i + index) % 256 for i in range(2048)))
    return ds


def _encapsulated_pdf() -> Dataset:
    """An Encapsulated PDF (PS3.3 A.45.1) of a one-page referral letter."""
    pdf = _tiny_pdf("Referral: please review the outside MR. Dr Curie")
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = _ENCAPSULATED_PDF_STORAGE
    ds.ConversionType = "WSD"
    ds.Manufacturer = ""
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = "Referral letter"
    ds.ConceptNameCodeSequence = []
    ds.AcquisitionDateTime = ""
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    # OB is padded to even length; the length attribute keeps the real one.
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + b"\0" * (len(pdf) % 2)
    return ds


def _tiny_pdf(text: str) -> bytes:
    """A valid one-page PDF 1.4 showing `text` (ASCII), with a correct xref table."""
    stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def _link(ds: Dataset, study: Study, series: Series, index: int) -> None:
    """Point each object at the ones it was made from, as their systems export them."""
    if series.modality in ("RTSTRUCT", "RTPLAN", "RTDOSE"):
        _link_rt(ds, study, series, index)
    elif series.modality == "SEG":
        _link_segmentation(ds, study)


def _link_rt(ds: Dataset, study: Study, series: Series, index: int) -> None:
    """Point the RT objects at each other and at the planning CT, as a planning
    system exports them: one frame of reference, structure set on the CT
    images, plan on the structure set, dose on the plan (the plan of its
    export where there are several). A study without a structure set has
    plans of treatment-device geometry, which name none (PS3.3 C.8.8.9)."""
    ct, plans = _number(study, "CT"), _number(study, "RTPLAN")
    frame = (sample_uid(study.key, ct, "frame-of-reference") if ct
             else sample_uid(study.key, "frame-of-reference"))
    if series.modality == "RTSTRUCT":
        _link_structure_set(ds, study, frame)
    elif series.modality == "RTPLAN":
        # Plan v1 replaces nothing: drop the source's reference to an older plan.
        if "ReferencedRTPlanSequence" in ds:
            del ds.ReferencedRTPlanSequence
        structures = _number(study, "RTSTRUCT")
        if not structures:
            ds.RTPlanGeometry = "TREATMENT_DEVICE"
            ds.pop("ReferencedStructureSetSequence", None)
        for item in ds.get("ReferencedStructureSetSequence", []):
            item.ReferencedSOPClassUID = _RT_STRUCTURE_SET_STORAGE
            item.ReferencedSOPInstanceUID = sample_uid(study.key, structures, 1)
    else:
        ds.FrameOfReferenceUID = frame
        plan_count = next(s.count for s in study.series if s.number == plans)
        for item in ds.get("ReferencedRTPlanSequence", []):
            item.ReferencedSOPClassUID = _RT_PLAN_STORAGE
            item.ReferencedSOPInstanceUID = sample_uid(
                study.key, plans, index + 1 if index < plan_count else 1)


def _link_segmentation(ds: Dataset, study: Study) -> None:
    """The Segmentation's references to the cine loop it segments, frame by frame
    (Common Instance Reference, PS3.3 C.12.2; Derivation Image, C.7.6.16.2.6),
    and its two dimensions: segment, then temporal position (C.7.6.17)."""
    source_series = _number(study, "US")
    source = sample_uid(study.key, source_series, 1)
    reference = Dataset()
    reference.ReferencedSOPClassUID = _US_MULTIFRAME_STORAGE
    reference.ReferencedSOPInstanceUID = source
    referenced_series = Dataset()
    referenced_series.SeriesInstanceUID = sample_uid(study.key, source_series)
    referenced_series.ReferencedInstanceSequence = [reference]
    ds.ReferencedSeriesSequence = [referenced_series]
    organisation = sample_uid(study.key, "SEG", "dimension-organization")
    dimension = Dataset()
    dimension.DimensionOrganizationUID = organisation
    ds.DimensionOrganizationSequence = [dimension]
    ds.DimensionIndexSequence = [
        _dimension(organisation, 0x0062000B, 0x0062000A, "Segment number"),
        _dimension(organisation, 0x00209128, 0x00209111, "Temporal position"),
    ]
    ds.SharedFunctionalGroupsSequence = [Dataset()]
    ds.PerFrameFunctionalGroupsSequence = [
        _segment_frame(source, frame) for frame in range(int(ds.NumberOfFrames))]


def _dimension(organisation: str, index: int, group: int, label: str) -> Dataset:
    item = Dataset()
    item.DimensionOrganizationUID = organisation
    item.DimensionIndexPointer = index
    item.FunctionalGroupPointer = group
    item.DimensionDescriptionLabel = label
    return item


def _segment_frame(source: str, frame: int) -> Dataset:
    content, segment = Dataset(), Dataset()
    content.DimensionIndexValues = [1, frame + 1]
    content.TemporalPositionIndex = frame + 1
    segment.ReferencedSegmentNumber = 1
    image = Dataset()
    image.ReferencedSOPClassUID = _US_MULTIFRAME_STORAGE
    image.ReferencedSOPInstanceUID = source
    image.ReferencedFrameNumber = frame + 1
    image.PurposeOfReferenceCodeSequence = [
        _code("121322", "DCM", "Source image for image processing operation")]
    derivation = Dataset()
    derivation.SourceImageSequence = [image]
    derivation.DerivationCodeSequence = [_code("113076", "DCM", "Segmentation")]
    item = Dataset()
    item.DerivationImageSequence = [derivation]
    item.FrameContentSequence = [content]
    item.SegmentIdentificationSequence = [segment]
    return item


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue = value
    code.CodingSchemeDesignator = scheme
    code.CodeMeaning = meaning
    return code


def _number(study: Study, modality: str) -> int:
    """The number of the study's first series of *modality*, 0 when it has none."""
    return next((s.number for s in study.series if s.modality == modality), 0)


def _link_structure_set(ds: Dataset, study: Study, frame: str) -> None:
    ct = _number(study, "CT")
    ct_images = [sample_uid(study.key, ct, n + 1) for n in range(_ct_count(study))]
    for reference in ds.get("ReferencedFrameOfReferenceSequence", []):
        reference.FrameOfReferenceUID = frame
        for referenced_study in reference.get("RTReferencedStudySequence", []):
            referenced_study.ReferencedSOPInstanceUID = sample_uid(study.key)
            for referenced_series in referenced_study.get("RTReferencedSeriesSequence", []):
                referenced_series.SeriesInstanceUID = sample_uid(study.key, ct)
                referenced_series.ContourImageSequence = [
                    _image_reference(uid) for uid in ct_images
                ]
    for roi in ds.get("StructureSetROISequence", []):
        roi.ReferencedFrameOfReferenceUID = frame
    for roi_contour in ds.get("ROIContourSequence", []):
        for contour in roi_contour.get("ContourSequence", []):
            if "ContourImageSequence" in contour:
                contour.ContourImageSequence = [_image_reference(ct_images[0])]


def _ct_count(study: Study) -> int:
    return next(s.count for s in study.series if s.modality == "CT")


def _image_reference(sop_instance_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = _CT_IMAGE_STORAGE
    item.ReferencedSOPInstanceUID = sop_instance_uid
    return item
