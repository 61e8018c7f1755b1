"""Presentation contexts for C-GET: which storage classes to offer, in which syntaxes.

With C-GET the images come back on our own association, so every SOP class
the PACS may send must be proposed up front, with SCP role selection
(PS3.4 C.4.3.1.2 / PS3.7 D.3.3.4), and one association holds at most 128
presentation contexts (the context ID is an odd byte, PS3.8 9.3.2.2).
An accepted context carries exactly one transfer syntax, so to receive a
JPEG 2000 file as stored (not transcoded, not refused) we need a context
for that syntax: we propose an uncompressed context plus one per compressed
syntax for each image class, and trim the compressed ones first when the
classes do not fit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
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

__all__ = ["MAX_CLASSES", "MAX_CONTEXTS", "STORED_AS", "every_storage_class",
           "get_storage_contexts", "is_image_class", "may_be_compressed", "storage_classes_for"]

MAX_CONTEXTS = 128
# Every class gets an explicit and an implicit little endian context, and the
# retrieve model takes one: this many classes fit in one C-GET association.
MAX_CLASSES = (MAX_CONTEXTS - 1) // 2
UNCOMPRESSED = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
# Ordered by how often PACS store them; the tail is dropped first.
COMPRESSED = [JPEG2000Lossless, JPEGLosslessSV1, JPEGBaseline8Bit, JPEGLSLossless, RLELossless,
              JPEG2000, JPEGExtended12Bit, JPEGLossless, JPEGLSNearLossless,
              DeflatedExplicitVRLittleEndian]
# Every syntax besides the uncompressed ones that a PACS may hold a file in
# and send only as held (an archive that does not convert): the compressed
# ones, then Explicit VR Big Endian, retired in 2004 but still in archives.
STORED_AS = [*COMPRESSED, ExplicitVRBigEndian]

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
_NON_IMAGE_KEYWORD_PARTS = ("SR", "PresentationState", "KeyObject", "RTPlan", "RTStructure",
                            "EncapsulatedPDF", "Waveform", "ECG")


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


def may_be_compressed(sop_classes: Iterable[str], modalities: Iterable[str]) -> bool:
    """Whether an instance of these classes, or of a series of these modalities, may be.

    Only image classes are compressed. A modality the table does not know
    may be anything; the companions the table adds to every guess do not count.
    """
    classes = [UID(s) for s in sop_classes if s]
    for modality in modalities:
        guessed = _BY_MODALITY.get(modality.upper())
        if guessed is None:
            return True
        classes.extend(guessed)
    return not classes or any(is_image_class(uid) for uid in classes)


def is_image_class(uid: str) -> bool:
    """False for classes that are never compressed (SR, RT objects, waveforms, PDF...)."""
    keyword = UID(uid).keyword or ""
    return not any(part in keyword for part in _NON_IMAGE_KEYWORD_PARTS)


def get_storage_contexts(retrieve_model: str, sop_classes: Iterable[str] = (),
                         modalities: Iterable[str] = (), only_syntax: str | None = None,
                         exact: bool = False) -> tuple[list[Any], list[Any]]:
    """Contexts and role-selection items for a C-GET association.

    Returns ``(contexts, roles)``: the retrieve model's context first, then
    storage contexts within :data:`MAX_CONTEXTS` (the first
    :data:`MAX_CLASSES` classes; the caller splits a longer list). With
    *only_syntax*, image
    classes are offered in that one syntax alone: some SCPs (DCMTK's) send
    each instance on the first accepted context of its class and fail when
    they cannot convert to it, so a retry must leave them no other choice.
    """
    if only_syntax is not None:
        chosen = storage_classes_for(sop_classes, modalities, exact)[: MAX_CONTEXTS - 1]
        contexts = [build_context(retrieve_model)]
        contexts += [build_context(uid, only_syntax if is_image_class(uid) else UNCOMPRESSED)
                     for uid in chosen]
        return contexts, [build_role(uid, scp_role=True) for uid in chosen]
    # Explicit and implicit little endian get a context each, so that the
    # PACS can send a file in the syntax it was stored in (a shared context
    # would be accepted with one of them and force a conversion).
    classes = storage_classes_for(sop_classes, modalities, exact)[: MAX_CLASSES]
    budget = MAX_CONTEXTS - 1 - 2 * len(classes)
    images = [uid for uid in classes if is_image_class(uid)]
    per_image = min(len(STORED_AS), budget // len(images)) if images else 0
    contexts = [build_context(retrieve_model)]
    for uid in classes:
        contexts.extend(build_context(uid, syntax) for syntax in UNCOMPRESSED)
    for uid in images:
        for syntax in STORED_AS[:per_image]:
            contexts.append(build_context(uid, syntax))
    roles = [build_role(uid, scp_role=True) for uid in classes]
    return contexts, roles
