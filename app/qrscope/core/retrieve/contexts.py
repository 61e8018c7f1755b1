"""Presentation contexts for C-GET: which storage classes to offer, in which syntaxes.

With C-GET the images come back on our own association, so every SOP class
the PACS may send must be proposed up front, with SCP role selection
(PS3.4 C.4.3.1.2 / PS3.7 D.3.3.4), and one association holds at most 128
presentation contexts (the context ID is an odd byte, PS3.8 9.3.2.2).
An accepted context carries exactly one transfer syntax, so to receive a
file as the PACS holds it (an archive that does not convert sends it only
so: Orthanc with ``TranscodeDicomProtocol`` off answers "No presentation
context" otherwise) we propose, for every class, each syntax it may be held
in as a context of its own (:func:`syntaxes_for`):

* every class, whatever it holds: Explicit and Implicit VR Little Endian
  (PS3.5 A.1, A.2), Explicit VR Big Endian (A.3, retired in 2004 but still
  in archives) and Deflated Explicit VR Little Endian (A.5). These are the
  only syntaxes of objects without pixel data: an encapsulated syntax
  (A.4) encodes Pixel Data alone (PS3.5 8.2), so SR, RT Plans and
  waveforms (whose samples are native Waveform Data, PS3.5 8.3) are never
  compressed;
* classes whose IOD holds Pixel Data (PS3.3 A: images of every kind, RT
  Dose's dose grid, Segmentation, Parametric Map, ...): besides, every
  encapsulated syntax (JPEG, JPEG-LS, JPEG 2000, HTJ2K, RLE); video classes
  also MPEG-2, MPEG-4 and HEVC (PS3.5 8.2.5 to 8.2.8).

Which classes hold Pixel Data is told by elimination: the families of
PS3.3 IODs without the Image Pixel module are named (:data:`_WITHOUT_PIXEL_DATA`),
every other class, a private or unknown one included, is taken to may hold
it. Forgetting a class without pixels costs a few contexts; forgetting one
with pixels (the old hand list of "image classes") loses its instances.

When the classes do not fit, the classes of the scope come first with
their two little endian contexts (at most :data:`MAX_CLASSES`), then the
other syntaxes in the order of :data:`STORED_AS`, each for every class
that may hold it, until the 128 are used: the tail of that list is what is
trimmed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydicom.uid import (
    HEVCMP51,
    HTJ2K,
    JPEG2000,
    MPEG2MPHL,
    MPEG2MPML,
    MPEG4HP41,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import build_context, build_role
from pynetdicom import sop_class as sc
from pynetdicom.presentation import AllStoragePresentationContexts

__all__ = ["KNOWN_MODALITIES", "MAX_CLASSES", "MAX_CONTEXTS", "NATIVE_SYNTAXES", "STORED_AS",
           "UNCOMPRESSED", "carries_pixel_data", "every_storage_class", "get_storage_contexts",
           "may_hold", "storage_classes_for",
           "syntax_names", "syntaxes_for"]

MAX_CONTEXTS = 128
# Every class gets an explicit and an implicit little endian context, and the
# retrieve model takes one: this many classes fit in one C-GET association.
MAX_CLASSES = (MAX_CONTEXTS - 1) // 2
UNCOMPRESSED = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
# Any data set may be held in these besides (PS3.5 A.3, A.5).
_ANY_DATA_SET = (ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian)
# The syntaxes a sender can convert between without a codec.
NATIVE_SYNTAXES = (*UNCOMPRESSED, *_ANY_DATA_SET)
# Encapsulated Pixel Data (PS3.5 A.4), ordered by how often PACS store them.
_ENCAPSULATED = (JPEG2000Lossless, JPEGLosslessSV1, JPEGBaseline8Bit, JPEGLSLossless,
                 RLELossless, JPEG2000, JPEGExtended12Bit, JPEGLossless, JPEGLSNearLossless,
                 HTJ2KLossless, HTJ2KLosslessRPCL, HTJ2K)
# Video classes (PS3.5 8.2.5 to 8.2.8).
_VIDEO = (MPEG4HP41, MPEG2MPML, MPEG2MPHL, HEVCMP51)
# Every syntax besides the two little endian ones a PACS may hold a file in
# and send only as held, in the order they are kept when contexts run short:
# Big Endian first (any class, and archives migrated from old systems hold
# it), then the encapsulated ones, Deflate (rare) and video last.
STORED_AS = [ExplicitVRBigEndian, *_ENCAPSULATED, DeflatedExplicitVRLittleEndian, *_VIDEO]

# Keyword parts of the storage classes whose IOD has no Pixel Data (PS3.3
# Annex A: SR, presentation states, key objects, encapsulated documents,
# waveforms, RT plans, structure sets, records, radiation sets and
# instructions, registrations, fiducials, spectroscopy, raw data, surface
# and tractography objects, measurements and reports of ophthalmology,
# structured display, annotations, protocols). Checked against pydicom's
# UID dictionary by the tests: every other class may hold pixels.
_WITHOUT_PIXEL_DATA = (
    "SR", "Report", "PresentationState", "KeyObject", "Encapsulated", "Waveform",
    "RTPlan", "RTIonPlan", "RTStructureSet", "Record", "RTPhysicianIntent",
    "RTSegmentAnnotation", "Radiation", "Instruction", "RTTreatmentPreparation",
    "ProcedureProtocol", "ProcedureLog", "Spectroscopy", "RawData", "Registration",
    "Fiducials", "SurfaceSegmentation", "Tractography", "RealWorldValueMapping",
    "SurfaceScan", "StereometricRelationship", "Measurements", "Calculations",
    "BasicStructuredDisplay", "ContentAssessment", "Annotations",
)

# Retired classes that archives still hold (pynetdicom names only current ones).
_US_RETIRED = (UID("1.2.840.10008.5.1.4.1.1.6"), UID("1.2.840.10008.5.1.4.1.1.3"))
_NM_RETIRED = (UID("1.2.840.10008.5.1.4.1.1.5"),)

# The classes each Modality (PS3.3 C.7.3.1.1.1) is usually stored as: the
# guess for servers that do not return SOP Class UIDs (DCMTK's dcmqrscp).
_BY_MODALITY: dict[str, tuple[UID, ...]] = {
    "CT": (sc.CTImageStorage, sc.EnhancedCTImageStorage),
    "MR": (sc.MRImageStorage, sc.EnhancedMRImageStorage, sc.MRSpectroscopyStorage),
    "CR": (sc.ComputedRadiographyImageStorage,),
    "DX": (sc.DigitalXRayImageStorageForPresentation,
           sc.DigitalXRayImageStorageForProcessing),
    "MG": (sc.DigitalMammographyXRayImageStorageForPresentation,
           sc.BreastTomosynthesisImageStorage),
    "IO": (sc.DigitalIntraOralXRayImageStorageForPresentation,),
    "PX": (sc.DigitalXRayImageStorageForPresentation,),
    "US": (sc.UltrasoundImageStorage, sc.UltrasoundMultiFrameImageStorage, *_US_RETIRED),
    "NM": (sc.NuclearMedicineImageStorage, *_NM_RETIRED),
    "PT": (sc.PositronEmissionTomographyImageStorage, sc.EnhancedPETImageStorage),
    "XA": (sc.XRayAngiographicImageStorage, sc.EnhancedXAImageStorage),
    "RF": (sc.XRayRadiofluoroscopicImageStorage, sc.EnhancedXRFImageStorage),
    "OT": (sc.SecondaryCaptureImageStorage,
           sc.MultiFrameTrueColorSecondaryCaptureImageStorage,
           sc.MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
           sc.EncapsulatedPDFStorage),
    "SC": (sc.SecondaryCaptureImageStorage,
           sc.MultiFrameTrueColorSecondaryCaptureImageStorage),
    "SR": (sc.BasicTextSRStorage, sc.EnhancedSRStorage, sc.ComprehensiveSRStorage,
           sc.Comprehensive3DSRStorage, sc.XRayRadiationDoseSRStorage),
    "PR": (sc.GrayscaleSoftcopyPresentationStateStorage,
           sc.ColorSoftcopyPresentationStateStorage),
    "KO": (sc.KeyObjectSelectionDocumentStorage,),
    "DOC": (sc.EncapsulatedPDFStorage, sc.EncapsulatedCDAStorage),
    "SEG": (sc.SegmentationStorage,),
    "REG": (sc.SpatialRegistrationStorage, sc.DeformableSpatialRegistrationStorage),
    "RTPLAN": (sc.RTPlanStorage, sc.RTIonPlanStorage),
    "RTDOSE": (sc.RTDoseStorage,),
    "RTSTRUCT": (sc.RTStructureSetStorage,),
    "RTIMAGE": (sc.RTImageStorage,),
    "RTRECORD": (sc.RTBeamsTreatmentRecordStorage, sc.RTBrachyTreatmentRecordStorage,
                 sc.RTTreatmentSummaryRecordStorage, sc.RTIonBeamsTreatmentRecordStorage),
    "ECG": (sc.TwelveLeadECGWaveformStorage, sc.GeneralECGWaveformStorage,
            sc.AmbulatoryECGWaveformStorage, sc.General32bitECGWaveformStorage),
    "HD": (sc.HemodynamicWaveformStorage,),
    "EPS": (sc.CardiacElectrophysiologyWaveformStorage,),
    "RESP": (sc.RespiratoryWaveformStorage, sc.MultichannelRespiratoryWaveformStorage),
    "AU": (sc.BasicVoiceAudioWaveformStorage, sc.GeneralAudioWaveformStorage),
    "EEG": (sc.RoutineScalpElectroencephalogramWaveformStorage,
            sc.SleepElectroencephalogramWaveformStorage),
    "EMG": (sc.ElectromyogramWaveformStorage,),
    "EOG": (sc.ElectrooculogramWaveformStorage,),
    "XC": (sc.VLPhotographicImageStorage, sc.VideoPhotographicImageStorage),
    "ES": (sc.VLEndoscopicImageStorage, sc.VideoEndoscopicImageStorage),
    "GM": (sc.VLMicroscopicImageStorage, sc.VideoMicroscopicImageStorage),
    "SM": (sc.VLWholeSlideMicroscopyImageStorage, sc.VLSlideCoordinatesMicroscopicImageStorage),
    "OP": (sc.OphthalmicPhotography8BitImageStorage,
           sc.OphthalmicPhotography16BitImageStorage),
    "OPT": (sc.OphthalmicTomographyImageStorage,),
}
KNOWN_MODALITIES = frozenset(_BY_MODALITY)
# With nothing known at all: the classes most studies are made of.
_COMMON = tuple(dict.fromkeys(
    uid for modality in ("CT", "MR", "CR", "DX", "MG", "US", "NM", "PT", "XA", "RF", "OT",
                         "SR", "PR", "KO", "DOC", "SEG", "RTPLAN", "RTDOSE", "RTSTRUCT",
                         "RTIMAGE", "ECG")
    for uid in _BY_MODALITY[modality]))
# Objects that ride along in most studies whatever the modality.
_COMPANIONS = (sc.SecondaryCaptureImageStorage, sc.GrayscaleSoftcopyPresentationStateStorage,
               sc.KeyObjectSelectionDocumentStorage, sc.BasicTextSRStorage,
               sc.EnhancedSRStorage)
def storage_classes_for(sop_classes: Iterable[str] = (),
                        modalities: Iterable[str] = (), exact: bool = False) -> list[UID]:
    """The storage classes to offer, most certain first.

    With *exact* (the PACS listed every instance's SOP Class UID), exactly
    *sop_classes*, private and retired ones included. Otherwise SOP Classes
    in Study come first, the modality table adds good guesses, and with
    neither, the common classes are offered.
    """
    chosen: list[UID] = [UID(s) for s in sop_classes if s]
    if exact:
        return list(dict.fromkeys(chosen))
    for modality in modalities:
        chosen.extend(_BY_MODALITY.get(modality.upper(), ()))
    if not chosen:
        chosen.extend(_COMMON)
    if not sop_classes:
        chosen.extend(_COMPANIONS)
    return list(dict.fromkeys(chosen))


def every_storage_class() -> list[UID]:
    """Every storage class we can name: pynetdicom's, then the retired ones of the table.

    The last offer for an instance whose class the PACS does not say and
    the modality table did not guess (about 170 classes: three C-GET
    associations).
    """
    known = [UID(cx.abstract_syntax) for cx in AllStoragePresentationContexts]
    table = [uid for classes in _BY_MODALITY.values() for uid in classes]
    return list(dict.fromkeys((*known, *table)))


def carries_pixel_data(uid: str) -> bool:
    """Whether instances of the class may hold Pixel Data, so be stored compressed.

    False only for the families of :data:`_WITHOUT_PIXEL_DATA`; a private or
    unknown class (no keyword in pydicom's dictionary) may hold anything.
    """
    keyword = UID(uid).keyword or ""
    return not keyword or not any(part in keyword for part in _WITHOUT_PIXEL_DATA)


def syntaxes_for(uid: str) -> list[UID]:
    """Every transfer syntax an instance of the class may be held in, most common first.

    The two little endian ones first (every request proposes them), then
    :data:`STORED_AS` as far as the class may hold each (see the module
    docstring: native syntaxes for any class, encapsulated ones for classes
    with Pixel Data, video ones for video classes).
    """
    pixels = carries_pixel_data(uid)
    video = (UID(uid).keyword or "").startswith("Video")
    return [*UNCOMPRESSED, *(ts for ts in STORED_AS
                             if ts in _ANY_DATA_SET
                             or (pixels and ts in _ENCAPSULATED)
                             or (video and ts in _VIDEO))]


def may_hold(syntax: str, sop_classes: Iterable[str], modalities: Iterable[str] = ()) -> bool:
    """Whether an instance of these classes, or of a series of these modalities, may be
    held in *syntax*.

    A modality the table does not know may be anything, and so may an
    instance of which neither is known; the companions the table adds to
    every guess do not count.
    """
    classes = [UID(s) for s in sop_classes if s]
    for modality in modalities:
        guessed = _BY_MODALITY.get(modality.upper())
        if guessed is None:
            return True
        classes.extend(guessed)
    return not classes or any(syntax in syntaxes_for(uid) for uid in classes)


def syntax_names(syntaxes: Iterable[str]) -> str:
    """The syntaxes as a user reads them: "RLE Lossless, JPEG 2000 Image Compression"."""
    return ", ".join(UID(ts).name for ts in syntaxes)


def get_storage_contexts(retrieve_model: str, sop_classes: Iterable[str] = (),
                         modalities: Iterable[str] = (), only_syntax: str | None = None,
                         exact: bool = False) -> tuple[list[Any], list[Any]]:
    """Contexts and role-selection items for a C-GET association.

    Returns ``(contexts, roles)``: the retrieve model's context first, then
    storage contexts within :data:`MAX_CONTEXTS`: the first
    :data:`MAX_CLASSES` classes (the caller splits a longer list) in
    Explicit and Implicit VR Little Endian, each its own context so that the
    PACS can send a file in the syntax it was stored in (a shared context
    would be accepted with one of them and force a conversion); then each
    syntax of :data:`STORED_AS` in turn for every class that may hold it
    (:func:`syntaxes_for`), until the contexts run out.

    With *only_syntax*, the classes that may be held in it are offered in
    that one syntax alone, the others uncompressed: some SCPs (DCMTK's) send
    each instance on the first accepted context of its class and fail when
    they cannot convert to it, so a retry must leave them no other choice.
    """
    if only_syntax is not None:
        chosen = storage_classes_for(sop_classes, modalities, exact)[: MAX_CONTEXTS - 1]
        contexts = [build_context(retrieve_model)]
        contexts += [build_context(uid, only_syntax if only_syntax in syntaxes_for(uid)
                                   else UNCOMPRESSED)
                     for uid in chosen]
        return contexts, [build_role(uid, scp_role=True) for uid in chosen]
    classes = storage_classes_for(sop_classes, modalities, exact)[: MAX_CLASSES]
    contexts = [build_context(retrieve_model)]
    for uid in classes:
        contexts.extend(build_context(uid, syntax) for syntax in UNCOMPRESSED)
    held = {uid: syntaxes_for(uid) for uid in classes}
    for syntax in STORED_AS:
        for uid in classes:
            if len(contexts) == MAX_CONTEXTS:
                break
            if syntax in held[uid]:
                contexts.append(build_context(uid, syntax))
    roles = [build_role(uid, scp_role=True) for uid in classes]
    return contexts, roles
