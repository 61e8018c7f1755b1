"""Every instance in every syntax by C-GET (issue 21): which transfer syntaxes each
class is offered in, how a proposal is trimmed, what a retry offers, and how the
outcome names what was tried."""

from __future__ import annotations

from pydicom.uid import (
    MPEG4HP41,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    RLELossless,
)
from pynetdicom import sop_class as sc
from pynetdicom.presentation import AllStoragePresentationContexts

from qrscope.core.retrieve.contexts import (
    MAX_CLASSES,
    MAX_CONTEXTS,
    STORED_AS,
    carries_pixel_data,
    every_storage_class,
    get_storage_contexts,
    syntaxes_for,
)
from qrscope.core.retrieve.plan import PlannedInstance, RetrievePlan
from qrscope.core.retrieve.recovery import missing_instances, recovery_steps
from qrscope.core.retrieve.types import MissingReason, RetrieveScope

GET_MODEL = str(sc.StudyRootQueryRetrieveInformationModelGet)
NATIVE = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian,
          DeflatedExplicitVRLittleEndian]
PRIVATE = "1.2.826.0.1.3680043.8.498.1"
US_RETIRED = "1.2.840.10008.5.1.4.1.1.6"
WITH_PIXELS = [sc.RTDoseStorage, sc.SegmentationStorage, sc.UltrasoundImageStorage,
               sc.UltrasoundMultiFrameImageStorage, US_RETIRED, "1.2.840.10008.5.1.4.1.1.3",
               sc.SecondaryCaptureImageStorage,
               sc.MultiFrameTrueColorSecondaryCaptureImageStorage, sc.EnhancedCTImageStorage,
               sc.EnhancedMRImageStorage, sc.EnhancedUSVolumeStorage, sc.ParametricMapStorage,
               sc.RTImageStorage, sc.VLWholeSlideMicroscopyImageStorage, PRIVATE]
WITHOUT_PIXELS = [sc.RTPlanStorage, sc.RTIonPlanStorage, sc.RTStructureSetStorage,
                  sc.BasicTextSRStorage, sc.EnhancedSRStorage,
                  sc.KeyObjectSelectionDocumentStorage, sc.EncapsulatedPDFStorage,
                  sc.GrayscaleSoftcopyPresentationStateStorage,
                  sc.TwelveLeadECGWaveformStorage, sc.GeneralAudioWaveformStorage,
                  sc.SpatialRegistrationStorage, sc.RawDataStorage]


def _pairs(contexts) -> list[tuple[str, str]]:
    return [(str(cx.abstract_syntax), str(ts)) for cx in contexts[1:]
            for ts in cx.transfer_syntax]


def test_every_class_with_pixel_data_may_be_held_in_every_encapsulated_syntax():
    for uid in WITH_PIXELS:
        syntaxes = syntaxes_for(uid)
        assert carries_pixel_data(uid), uid
        assert {RLELossless, JPEGBaseline8Bit, JPEG2000Lossless} <= set(syntaxes), uid
        assert syntaxes[:2] == [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
        assert ExplicitVRBigEndian in syntaxes


def test_classes_without_pixel_data_are_held_in_the_native_syntaxes_only():
    for uid in WITHOUT_PIXELS:
        assert not carries_pixel_data(uid), uid
        assert syntaxes_for(uid) == NATIVE, uid


def test_video_classes_may_also_be_held_in_video_syntaxes():
    assert MPEG4HP41 in syntaxes_for(sc.VideoEndoscopicImageStorage)
    assert MPEG4HP41 not in syntaxes_for(sc.CTImageStorage)


def test_no_class_named_an_image_is_taken_for_one_without_pixel_data():
    """The list of families without Pixel Data must never swallow an image class."""
    for cx in AllStoragePresentationContexts:
        keyword = UID(cx.abstract_syntax).keyword
        if "Image" in keyword or ("Dose" in keyword and "SR" not in keyword):
            assert carries_pixel_data(cx.abstract_syntax), keyword


def test_a_c_get_proposes_each_syntax_of_each_class_as_a_context_of_its_own():
    contexts, roles = get_storage_contexts(GET_MODEL, [sc.RTPlanStorage, sc.RTDoseStorage],
                                           exact=True)
    assert all(len(cx.transfer_syntax) == 1 for cx in contexts[1:])
    pairs = _pairs(contexts)
    for uid in (sc.RTPlanStorage, sc.RTDoseStorage):
        assert [ts for cls, ts in pairs if cls == uid] == [
            ExplicitVRLittleEndian, ImplicitVRLittleEndian,
            *[ts for ts in STORED_AS if ts in syntaxes_for(uid)]], uid
    assert {r.sop_class_uid for r in roles} == {sc.RTPlanStorage, sc.RTDoseStorage}


def test_a_full_proposal_keeps_every_class_and_trims_the_syntaxes_last_first():
    classes = [str(c) for c in every_storage_class()[:40]]
    contexts, roles = get_storage_contexts(GET_MODEL, classes, exact=True)
    assert len(contexts) == MAX_CONTEXTS
    pairs = _pairs(contexts)
    assert {r.sop_class_uid for r in roles} == set(classes)
    assert pairs[:2 * len(classes)] == [(c, ts) for c in classes
                                        for ts in (ExplicitVRLittleEndian,
                                                   ImplicitVRLittleEndian)]
    # The rest follows STORED_AS, each syntax for every class that may hold it:
    # what is left out is the tail.
    expected = [(c, str(ts)) for ts in STORED_AS for c in classes if ts in syntaxes_for(c)]
    assert pairs[2 * len(classes):] == expected[:MAX_CONTEXTS - 1 - 2 * len(classes)]


def test_more_classes_than_fit_keep_their_little_endian_contexts():
    classes = [str(c) for c in every_storage_class()[:MAX_CLASSES + 5]]
    contexts, _ = get_storage_contexts(GET_MODEL, classes, exact=True)
    assert len(contexts) <= MAX_CONTEXTS
    assert {cls for cls, _ in _pairs(contexts)} == set(classes[:MAX_CLASSES])


def test_a_retry_offers_one_syntax_alone_to_the_classes_that_may_hold_it():
    contexts, _ = get_storage_contexts(GET_MODEL, [sc.RTPlanStorage, sc.RTDoseStorage],
                                       only_syntax=RLELossless, exact=True)
    assert _pairs(contexts) == [
        (sc.RTPlanStorage, ExplicitVRLittleEndian), (sc.RTPlanStorage, ImplicitVRLittleEndian),
        (sc.RTDoseStorage, RLELossless)]


def _plan(*instances: tuple[str, str]) -> RetrievePlan:
    return RetrievePlan(RetrieveScope.study("1.2.3"), tuple(
        PlannedInstance(uid, cls, "1.2.3.1") for uid, cls in instances), complete=True,
        series_modalities={"1.2.3.1": "RTPLAN"})


def test_a_missing_rt_plan_is_asked_for_again_in_the_syntaxes_an_rt_plan_may_be_held_in():
    plan = _plan(("1.2.3.1.1", sc.RTPlanStorage), ("1.2.3.1.2", sc.RTDoseStorage))
    rounds = {syntax: [set(step.scope.instance_uids) for step in steps]
              for syntax, steps in recovery_steps(plan, list(plan.instances))}
    assert rounds[ExplicitVRBigEndian] == [{"1.2.3.1.1", "1.2.3.1.2"}]
    assert rounds[DeflatedExplicitVRLittleEndian] == [{"1.2.3.1.1", "1.2.3.1.2"}]
    assert rounds[RLELossless] == [{"1.2.3.1.2"}]  # the dose alone: a plan has no pixels
    assert list(rounds) == [str(ts) for ts in STORED_AS if ts in syntaxes_for(sc.RTDoseStorage)]


def test_a_syntax_the_pacs_refused_for_a_class_is_not_offered_again():
    plan = _plan(("1.2.3.1.2", sc.RTDoseStorage))
    refused = {sc.RTDoseStorage: {str(RLELossless)}}
    syntaxes = [syntax for syntax, _ in recovery_steps(plan, list(plan.instances), refused)]
    assert str(RLELossless) not in syntaxes and str(ExplicitVRBigEndian) in syntaxes


def test_the_missing_entry_names_the_syntaxes_offered_again():
    plan = _plan(("1.2.3.1.2", sc.RTDoseStorage))
    missing = missing_instances(
        plan, [], ["1.2.3.1.2"], {sc.RTDoseStorage: {str(ExplicitVRLittleEndian)}}, False,
        asked_again={"1.2.3.1.2"}, proposed={sc.RTDoseStorage},
        syntaxes_offered={"1.2.3.1.2": (str(ExplicitVRBigEndian), str(RLELossless))})
    (entry,) = missing
    assert entry.reason is MissingReason.FAILED_AT_PACS
    assert "asked again offering Explicit VR Big Endian, RLE Lossless" in entry.detail


def test_a_native_syntax_the_pacs_accepted_already_is_not_offered_again():
    """A server that takes a class's first context converts between native syntaxes,
    and one that sends as stored had it on offer: only encapsulated syntaxes, which
    need a codec, are worth offering alone again once accepted."""
    plan = _plan(("1.2.3.1.1", sc.RTPlanStorage), ("1.2.3.1.2", sc.RTDoseStorage))
    accepted = {uid: {str(ExplicitVRLittleEndian), str(ExplicitVRBigEndian),
                      str(RLELossless)} for uid in (sc.RTPlanStorage, sc.RTDoseStorage)}
    rounds = {syntax: [set(step.scope.instance_uids) for step in steps]
              for syntax, steps in recovery_steps(plan, list(plan.instances), {}, accepted)}
    assert str(ExplicitVRBigEndian) not in rounds
    assert rounds[str(RLELossless)] == [{"1.2.3.1.2"}]
    assert rounds[str(DeflatedExplicitVRLittleEndian)] == [{"1.2.3.1.1", "1.2.3.1.2"}]
