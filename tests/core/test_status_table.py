"""The status table is pynetdicom's, with qrscope's words only where they say more."""

import pytest
from pynetdicom import status as upstream

from qrscope.core.dicom.status import (
    CANCEL,
    CANNOT_UNDERSTAND,
    MOVE_DESTINATION_UNKNOWN,
    REFUSED_SOP_CLASS_NOT_SUPPORTED,
    UNABLE_TO_PROCESS,
    Service,
    StatusCategory,
    decode_status,
)

_TABLES = {
    Service.ECHO: upstream.VERIFICATION_SERVICE_CLASS_STATUS,
    Service.FIND: upstream.QR_FIND_SERVICE_CLASS_STATUS,
    Service.MOVE: upstream.QR_MOVE_SERVICE_CLASS_STATUS,
    Service.GET: upstream.QR_GET_SERVICE_CLASS_STATUS,
    Service.STORE: upstream.STORAGE_SERVICE_CLASS_STATUS,
}


@pytest.mark.parametrize("service", list(Service))
def test_every_code_in_pynetdicoms_table_keeps_its_category(service: Service):
    for code, (category, _words) in _TABLES[service].items():
        assert decode_status(service, code).category.value == category.lower(), hex(code)


def test_acronyms_survive_the_running_text():
    info = decode_status(Service.STORE, REFUSED_SOP_CLASS_NOT_SUPPORTED)
    assert info.meaning == "refused: SOP class not supported"


def test_own_words_say_who_and_what_the_code_does_not_tell():
    assert decode_status(Service.FIND, CANCEL).meaning == "cancelled at our request"
    assert decode_status(Service.MOVE, MOVE_DESTINATION_UNKNOWN).meaning == (
        "refused: move destination unknown")
    assert "no specific reason" in decode_status(Service.GET, UNABLE_TO_PROCESS + 0x12).meaning
    assert "could not parse" in decode_status(Service.STORE, CANNOT_UNDERSTAND + 0x12).meaning


def test_a_family_the_service_table_leaves_out_is_still_named():
    assert decode_status(Service.MOVE, 0xA7FF).meaning == "refused: out of resources"
    assert decode_status(Service.FIND, 0xA9FF).meaning == "identifier does not match SOP class"
    assert decode_status(Service.FIND, 0xB0FF).category is StatusCategory.WARNING


def test_pending_where_the_service_has_no_pending_is_a_failure():
    assert decode_status(Service.ECHO, 0xFF00).category is StatusCategory.FAILURE
    assert decode_status(Service.MOVE, 0xFF01).category is StatusCategory.FAILURE
    assert decode_status(Service.FIND, 0xFF01).category is StatusCategory.PENDING


def test_a_code_outside_the_standard_is_an_unrecognised_failure():
    info = decode_status(Service.STORE, 0x0002)
    assert (info.category, info.meaning) == (StatusCategory.FAILURE, "unrecognised status code")
