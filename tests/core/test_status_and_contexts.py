"""The status table, association rejection words, C-GET context budget, the watchdog."""

import threading
import time

from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
)
from pynetdicom.sop_class import (
    CTImageStorage,
    RTPlanStorage,
    StudyRootQueryRetrieveInformationModelGet,
)

from qrscope.core.dicom.status import (
    Service,
    StatusCategory,
    decode_abort,
    decode_reject,
    decode_status,
)
from qrscope.core.net.watchdog import Watchdog
from qrscope.core.retrieve.contexts import MAX_CONTEXTS, get_storage_contexts, storage_classes_for


def test_move_statuses_are_decoded_to_their_meaning():
    assert decode_status(Service.MOVE, 0xA801).meaning == "refused: move destination unknown"
    assert decode_status(Service.MOVE, 0xA702).category is StatusCategory.FAILURE
    assert decode_status(Service.MOVE, 0xB000).category is StatusCategory.WARNING
    assert decode_status(Service.MOVE, 0xFF00).category is StatusCategory.PENDING
    assert decode_status(Service.MOVE, 0xFE00).category is StatusCategory.CANCEL
    generic = decode_status(Service.MOVE, 0xC000)
    assert generic.category is StatusCategory.FAILURE and "unable to process" in generic.meaning
    assert str(decode_status(Service.FIND, 0x0000)) == "0x0000 success: success"


def test_unknown_status_is_a_failure_that_keeps_its_code():
    info = decode_status(Service.FIND, 0x1234)
    assert info.category is StatusCategory.FAILURE and info.code == 0x1234


def test_rejections_and_aborts_in_words():
    assert "called AE title not recognised" in decode_reject(1, 1, 7)
    assert "calling AE title not recognised" in decode_reject(1, 1, 3)
    assert "transient" in decode_reject(2, 3, 1)
    assert "peer application" in decode_abort(0, None)
    assert "unexpected PDU" in decode_abort(2, 2)


def test_get_contexts_stay_within_128_and_propose_compressed_for_images():
    model = str(StudyRootQueryRetrieveInformationModelGet)
    contexts, roles = get_storage_contexts(model, [str(CTImageStorage), str(RTPlanStorage)])
    assert len(contexts) <= MAX_CONTEXTS
    ct = [c for c in contexts if c.abstract_syntax == CTImageStorage]
    assert any(c.transfer_syntax == [JPEG2000Lossless] for c in ct)
    # An RT Plan holds no Pixel Data: the native syntaxes only, each its own context.
    rt = [c for c in contexts if c.abstract_syntax == RTPlanStorage]
    assert [c.transfer_syntax for c in rt] == [
        [ExplicitVRLittleEndian], [ImplicitVRLittleEndian], [ExplicitVRBigEndian],
        [DeflatedExplicitVRLittleEndian]]
    assert {r.sop_class_uid for r in roles} == {CTImageStorage, RTPlanStorage}
    assert all(r.scp_role for r in roles)


def test_get_contexts_with_nothing_known_still_fit():
    model = str(StudyRootQueryRetrieveInformationModelGet)
    contexts, _ = get_storage_contexts(model)
    assert len(contexts) <= MAX_CONTEXTS
    assert CTImageStorage in storage_classes_for(modalities=["CT"])


def test_watchdog_is_pushed_back_by_activity_and_fires_when_idle():
    fired = []
    done = threading.Event()
    dog = Watchdog(idle=0.3, total=None, on_expire=lambda r: (fired.append(r), done.set()))
    dog.start()
    for _ in range(4):
        time.sleep(0.1)
        dog.touch()
    assert not fired
    assert done.wait(2)
    assert fired == ["idle"]


def test_watchdog_grace_deadline_ignores_activity():
    done = threading.Event()
    reasons = []
    dog = Watchdog(idle=10, total=None, on_expire=lambda r: (reasons.append(r), done.set()))
    dog.start()
    dog.expire_in(0.2, "cancel-grace")
    dog.touch()
    assert done.wait(2)
    assert reasons == ["cancel-grace"]


def test_stopped_watchdog_never_fires():
    fired = []
    dog = Watchdog(idle=0.1, total=None, on_expire=fired.append).start()
    dog.stop()
    time.sleep(0.2)
    assert fired == []
