"""The entries a PACS administrator is asked to add name an address the PACS can reach."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification
from tests.ports import free_port

from qrscope.core.dicom.records import QueryLevel
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.query.find import FindOperation, QueryFilter
from qrscope.core.retrieve.types import RetrieveOutcome
from qrscope.diagnosis.move_hints import our_address
from qrscope.diagnosis.pacs_entries import is_wildcard, reachable_address
from qrscope.diagnosis.retrieve_hints import hint_for_find_result


@pytest.fixture
def aborting_pacs() -> Iterator[int]:
    """What Orthanc does to a caller it does not know: accept, then abort the C-FIND."""
    ae = AE("ORTHANC")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_supported_context(Verification)

    def abort(event: evt.Event):
        event.assoc.abort()
        yield 0xC000, None

    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_FIND, abort)])
    try:
        yield port
    finally:
        server.shutdown()


def test_a_search_orthanc_ends_unanswered_asks_for_the_address_it_can_reach(aborting_pacs,
                                                                            tmp_path):
    node = RemoteNode(name="Orthanc", ae_title="ORTHANC", host="127.0.0.1", port=aborting_pacs)
    # The listener listens on every interface: its bind address names none.
    local = LocalAE(ae_title="QRSCOPE", bind_address="0.0.0.0", listener_port=11112,
                    storage_folder=tmp_path)
    result = FindOperation(node, local, AssociationLog(), QueryLevel.STUDY,
                           QueryFilter()).run()
    assert result.unanswered
    hint = hint_for_find_result(result, node, local)
    assert hint is not None and hint.id == "calling-aet-not-allowed"
    copies = {a.label: a.value for a in hint.actions if a.kind == "copy"}
    assert "IP address: 127.0.0.1" in copies["Copy the request for the PACS administrator"]
    assert ('"QRSCOPE", "127.0.0.1", 11112' in
            copies["Copy the Orthanc (orthanc.json) entry"])
    assert not any("0.0.0.0" in text for text in copies.values())


@pytest.mark.parametrize("seen", ["", "0.0.0.0", "::"])
def test_without_an_association_the_route_to_the_pacs_names_the_address(seen):
    address = reachable_address(seen, "127.0.0.1", 4242, "0.0.0.0")
    assert address == "127.0.0.1"
    outcome = RetrieveOutcome(job_id="j", method=RetrieveMethod.MOVE, local_address=seen)
    node = RemoteNode(name="PACS", ae_title="PACS", host="127.0.0.1", port=4242)
    assert our_address(outcome, node, LocalAE(bind_address="0.0.0.0")) == "127.0.0.1"


def test_the_address_our_association_came_from_wins():
    assert reachable_address("10.20.30.40", "127.0.0.1", 4242, "0.0.0.0") == "10.20.30.40"


def test_no_route_and_a_wildcard_bind_never_give_a_wildcard():
    # A host name that cannot resolve: no route to ask about.
    address = reachable_address("", "no-such-host.invalid", 104, "0.0.0.0")
    assert address and not is_wildcard(address)
