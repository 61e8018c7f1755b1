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

__all__ = ["MAX_CLASSES", "MAX_CONTEXTS", "get_storage_contexts", "is_image_class",
           "storage_classes_for"]

MAX_CONTEXTS = 128
# Every class gets an explicit and an implicit little endian context, and the
# retrieve model takes one: this many classes fit in one C-GET association.
MAX_CLASSES = (MAX_CONTEXTS - 1) // 2
UNCOMPRESSED = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
# Ordered by how often PACS store them; the tail is dropped first.
COMPRESSED = [JPEG2000Lossless, JPEGLosslessSV1, JPEGBaseline8Bit, JPEGLSLossless, RLELossless,
              JPEG2000, JPEGExtended12Bit, JPEGLossless, JPEGLSNearLossless,
              DeflatedExplicitVRLittleEndian]

_BY_MODALITY: dict[str, tuple[UID, ...]] = {
    "CT": (sc.CTImageStorage, sc.EnhancedCTImageStorage),
    "MR": (sc.MRImageStorage, sc.EnhancedMRImageStorage),
    "CR": (sc.ComputedRadiographyImageStorage,),
    "DX": (sc.DigitalXRayImageStorageForPresentation,
           sc.DigitalXRayImageStorageForProcessing),
    "MG": (sc.DigitalMammographyXRayImageStorageForPresentation,
           sc.BreastTomosynthesisImageStorage),
    "US": (sc.UltrasoundImageStorage, sc.UltrasoundMultiFrameImageStorage),
    "NM": (sc.NuclearMedicineImageStorage,),
    "PT": (sc.PositronEmissionTomographyImageStorage, sc.EnhancedPETImageStorage),
    "XA": (sc.XRayAngiographicImageStorage,),
    "RF": (sc.XRayRadiofluoroscopicImageStorage,),
    "OT": (sc.SecondaryCaptureImageStorage,),
    "SC": (sc.SecondaryCaptureImageStorage,
           sc.MultiFrameTrueColorSecondaryCaptureImageStorage),
    "SR": (sc.BasicTextSRStorage, sc.EnhancedSRStorage, sc.ComprehensiveSRStorage),
    "PR": (sc.GrayscaleSoftcopyPresentationStateStorage,),
    "KO": (sc.KeyObjectSelectionDocumentStorage,),
    "DOC": (sc.EncapsulatedPDFStorage,),
    "SEG": (sc.SegmentationStorage,),
    "RTPLAN": (sc.RTPlanStorage,),
    "RTDOSE": (sc.RTDoseStorage,),
    "RTSTRUCT": (sc.RTStructureSetStorage,),
    "RTIMAGE": (sc.RTImageStorage,),
}
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
        for classes in _BY_MODALITY.values():
            chosen.extend(classes)
    if not sop_classes:
        chosen.extend(_COMPANIONS)
    return list(dict.fromkeys(chosen))


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
    per_image = min(len(COMPRESSED), budget // len(images)) if images else 0
    contexts = [build_context(retrieve_model)]
    for uid in classes:
        contexts.extend(build_context(uid, syntax) for syntax in UNCOMPRESSED)
    for uid in images:
        for syntax in COMPRESSED[:per_image]:
            contexts.append(build_context(uid, syntax))
    roles = [build_role(uid, scp_role=True) for uid in classes]
    return contexts, roles
