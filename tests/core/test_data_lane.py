"""The data lane: C-STOREs and responses read from the P-DATA PDUs, as pynetdicom would serve them.

Every test compares with pynetdicom's own path or checks what a peer
sees on the wire; none times anything.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydicom import dcmread
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage
from tests.core.listener_peers import LISTENER_HOST, SENDER, association_request, echo, store
from tests.demo_site import free_port

from qrscope.core.dicom.encoding import command_set_bytes
from qrscope.core.dicom.records import QueryLevel
from qrscope.core.engine import setup as pynetdicom_setup
from qrscope.core.engine.data_lane import DataLane
from qrscope.core.engine.pynetdicom_private import reads_held_data
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RetrieveMethod
from qrscope.core.query.find import FindOperation, QueryFilter
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.core.security import AcceptPolicy
from qrscope.demo_pacs.clinical import build_clinical_studies

# What this file tests is a piece of the tuned engine: on stock pynetdicom it is not there.
pytestmark = pytest.mark.tuned_engine


@pytest.fixture
def served(monkeypatch) -> list[str]:
    """The SOP Instance UIDs the lane served (filled as they are)."""
    seen: list[str] = []
    complete = DataLane._complete

    def counting(self, request, context):
        seen.append(request.AffectedSOPInstanceUID)
        return complete(self, request, context)

    monkeypatch.setattr(DataLane, "_complete", counting)
    return seen


def _listener(folder: Path, log: AssociationLog) -> StorageListener:
    local = LocalAE(ae_title="QRSCOPE", listener_port=free_port(), bind_address=LISTENER_HOST,
                    storage_folder=folder, accept=AcceptPolicy.ANY)
    return StorageListener(local, log)


def _receive(folder: Path, datasets: list) -> tuple[list[int], dict[str, bytes], list[tuple]]:
    """Store *datasets* to a listener: statuses, the files by SOP Instance UID, DIMSE log lines."""
    log = AssociationLog()
    with _listener(folder, log) as listener:
        statuses = store(listener.local.listener_port, datasets)
    files = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID): p.read_bytes()
             for p in folder.rglob("*.dcm")}
    dimse = [(e.kind, e.summary, dict(e.detail))
             for e in log.events() if e.kind.startswith("dimse-")]
    return statuses, files, dimse


def test_the_lane_files_and_logs_every_clinical_object_as_pynetdicom_does(tmp_path, served,
                                                                          monkeypatch):
    sources = build_clinical_studies(tmp_path / "source")
    datasets = [dcmread(path) for path in sources]
    uids = [str(ds.SOPInstanceUID) for ds in datasets]

    lane = _receive(tmp_path / "lane", datasets)
    assert sorted(served) == sorted(uids)  # every one, RT, SR, PDF, ECG, private, Big Endian

    served.clear()
    monkeypatch.setattr(DataLane, "wants", lambda self: False)
    plain = _receive(tmp_path / "pynetdicom", datasets)
    assert served == []

    assert lane[0] == plain[0] == [0x0000] * len(datasets)
    assert lane[1].keys() == set(uids)
    assert lane[1] == plain[1]  # byte for byte
    assert lane[2] == plain[2]  # the association log's C-STORE lines and their facts


def _big_ct(path: Path) -> Path:
    """A CT instance over the size an association holds in memory (1 MiB)."""
    ds = dcmread(build_clinical_studies(path.parent / "clinical")[0])
    ds.PixelData = bytes(range(256)) * (3 << 12)  # 3 MiB
    ds.Rows, ds.Columns = 1024, 1536
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.7"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_a_large_data_set_goes_through_the_lane_to_a_file(tmp_path, served):
    source = _big_ct(tmp_path / "big.dcm")
    statuses, files, _ = _receive(tmp_path / "received", [dcmread(source)])
    assert statuses == [0x0000]
    assert served == ["1.2.826.0.1.3680043.8.498.7"]
    (received,) = files.values()
    assert received[received.index(b"\x08\x00\x05\x00"):] == \
        source.read_bytes()[source.read_bytes().index(b"\x08\x00\x05\x00"):]
    assert not list((tmp_path / "received" / ".incoming").iterdir())


# -- a server of our own, to see what a handler's outcome becomes ---------------------
def _scp(handler, *others: tuple) -> tuple[AE, int]:
    pynetdicom_setup.prepare()
    ae = AE(ae_title="LANE")
    ae.add_supported_context(CTImageStorage)
    port = free_port()
    ae.start_server((LISTENER_HOST, port), block=False,
                    evt_handlers=[(evt.EVT_C_STORE, handler), *others])
    return ae, port


def _one_ct(tmp_path: Path):
    return next(ds for ds in map(dcmread, build_clinical_studies(tmp_path / "source"))
                if ds.SOPClassUID == CTImageStorage)


def _send_one_ct(tmp_path: Path, ae: AE, port: int):
    """C-STORE one CT to our own server *ae*, then shut it down: the response."""
    sender = AE(ae_title="SENDER")
    ct = _one_ct(tmp_path)
    sender.add_requested_context(CTImageStorage, [str(ct.file_meta.TransferSyntaxUID)])
    try:
        assoc = sender.associate(LISTENER_HOST, port, ae_title="LANE")
        response = assoc.send_c_store(ct)
        assoc.release()
    finally:
        ae.shutdown()
    return response


def test_a_handler_that_raises_is_answered_0xc211_and_its_file_removed(tmp_path, served):
    incoming: list[str] = []

    @reads_held_data
    def broken(event):
        incoming.append(event.dataset_path)
        raise RuntimeError("the handler failed")

    ae, port = _scp(broken)
    try:
        statuses = store(port, [_one_ct(tmp_path)])
    finally:
        ae.shutdown()
    assert served and statuses == [0xC211]
    assert incoming and not Path(incoming[0]).exists()


def test_a_handler_status_data_set_reaches_the_peer_with_its_comment(tmp_path, served):
    from pydicom.dataset import Dataset

    @reads_held_data
    def refusing(event):
        status = Dataset()
        status.Status = 0xA700
        status.ErrorComment = "the disk is full"
        return status

    response = _send_one_ct(tmp_path, *_scp(refusing))
    assert served
    assert response.Status == 0xA700 and response.ErrorComment == "the disk is full"


def test_an_unmarked_handler_gets_pynetdicom_messages(tmp_path, served):
    """A DIMSE handler that does not know the lane keeps pynetdicom's own path."""
    kinds: list[str] = []

    @reads_held_data
    def stored(event):
        return 0x0000

    status = _send_one_ct(tmp_path, *_scp(stored, (
        evt.EVT_DIMSE_RECV, lambda event: kinds.append(type(event.message).__module__))))
    assert status.Status == 0x0000
    assert served == []
    assert kinds == ["pynetdicom.dimse_messages"]


# -- peers that break the PDV sequence -------------------------------------------------
def _storage_request(port: int) -> bytes:
    return association_request(port, calling="BROKEN", abstract_syntax=CTImageStorage,
                               transfer_syntax="1.2.840.10008.1.2", source=SENDER)


def _store_command() -> bytes:
    from pynetdicom.dimse_messages import C_STORE_RQ
    from pynetdicom.dimse_primitives import C_STORE

    request = C_STORE()
    request.MessageID = 1
    request.AffectedSOPClassUID = CTImageStorage
    request.AffectedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.99"
    request.Priority = 2
    message = C_STORE_RQ()
    message.primitive_to_message(request)
    message.command_set.CommandDataSetType = 0x0001
    return command_set_bytes(message.command_set)  # type: ignore[return-value]


def _p_data(*values: tuple[int, bytes], context_id: int = 1) -> bytes:
    items = b"".join(struct.pack(">LBB", len(data) + 2, context_id, control) + data
                     for control, data in values)
    return struct.pack(">BBL", 4, 0, len(items)) + items


def _longer_than_its_pdu(command: bytes) -> bytes:
    item = struct.pack(">LBB", len(command) + 100, 1, 0x03) + command
    return struct.pack(">BBL", 4, 0, len(item)) + item


def _answer_to(port: int, *pdus: bytes) -> int:
    """Associate, send *pdus*, and return the type of the PDU that comes back."""
    with socket.create_connection((LISTENER_HOST, port), timeout=5) as sock:
        sock.sendall(_storage_request(port))
        header = sock.recv(6)
        assert header[0] == 0x02, "association not accepted"
        sock.recv(struct.unpack(">L", header[2:])[0], socket.MSG_WAITALL)
        for pdu in pdus:
            sock.sendall(pdu)
        return sock.recv(6)[0]


@pytest.mark.parametrize("broken", [
    pytest.param(lambda command: [_p_data((0x03, command), (0x00, b"\x08\x00" * 8)),
                                  _p_data((0x03, command))], id="command-inside-a-data-set"),
    pytest.param(lambda command: [_longer_than_its_pdu(command)], id="value-longer-than-its-pdu"),
])
def test_a_peer_that_breaks_the_value_sequence_is_aborted_and_nothing_is_left(tmp_path, broken):
    folder = tmp_path / "received"
    with _listener(folder, AssociationLog()) as listener:
        port = listener.local.listener_port
        pdus = broken(_store_command())
        assert _answer_to(port, *pdus) == 0x07  # A-ABORT
        assert echo(port)  # the listener still serves
    assert not list(folder.rglob("*.dcm"))
    assert not list(folder.rglob(".incoming-*"))


# -- peers past the limits, on an association no listener guard wraps ----------------
def _find_response_command() -> bytes:
    from pynetdicom.dimse_messages import C_FIND_RSP
    from pynetdicom.dimse_primitives import C_FIND

    response = C_FIND()
    response.MessageIDBeingRespondedTo = 1
    response.AffectedSOPClassUID = CTImageStorage
    response.Status = 0xFF00
    message = C_FIND_RSP()
    message.primitive_to_message(response)
    message.command_set.CommandDataSetType = 0x0001
    return command_set_bytes(message.command_set)  # type: ignore[return-value]


_FRAGMENT = bytes(16000)


@pytest.mark.parametrize("hostile", [
    pytest.param(lambda: [_p_data((0x01, _FRAGMENT))] * 5, id="command-never-last"),
    pytest.param(lambda: [_p_data((0x03, _store_command())), _p_data((0x00, _FRAGMENT)),
                          _p_data((0x02, _FRAGMENT), context_id=3)],
                 id="data-on-another-context"),
    pytest.param(lambda: [_p_data((0x03, _find_response_command()))]
                 + [_p_data((0x00, _FRAGMENT))] * 70, id="response-identifier-past-1-MiB"),
])
def test_the_lane_ends_an_association_past_the_listeners_limits(tmp_path, hostile, caplog):
    # pynetdicom's own server, without the listener's guard: the lane's limits hold alone.
    stored: list[str] = []

    @reads_held_data
    def keep(event):
        stored.append(event.request.AffectedSOPInstanceUID)
        return 0x0000

    ae, port = _scp(keep)
    try:
        with caplog.at_level("WARNING", logger="qrscope.core.engine.data_lane"):
            assert _answer_to(port, *hostile()) == 0x07  # A-ABORT
        # Shut down once the aborted association is gone: pynetdicom's shutdown
        # would abort it again, which its state machine refuses in Sta13.
        gone = time.monotonic() + 5
        while ae.active_associations and time.monotonic() < gone:
            time.sleep(0.01)
    finally:
        ae.shutdown()
    assert stored == []
    assert any(r.getMessage().startswith("ending the association: the peer")
               for r in caplog.records), caplog.text


# -- responses to our requests -----------------------------------------------------------
@pytest.fixture
def delivered(monkeypatch) -> list[str]:
    """The names of the responses the lane delivered (filled as they are)."""
    seen: list[str] = []
    deliver = DataLane._deliver

    def counting(self, response):
        seen.append(response.name)
        return deliver(self, response)

    monkeypatch.setattr(DataLane, "_deliver", counting)
    return seen


def _search_and_get(demo) -> tuple[list, list, list[tuple]]:
    """Every study, then a C-GET of the largest: records, stored files and counts, DIMSE log."""
    first = len(demo.log.events())
    found = FindOperation(demo.node, demo.local, demo.log, QueryLevel.STUDY, QueryFilter()).run()
    study = max(found.records, key=lambda r: r.number_of_instances)
    node = replace(demo.node, retrieve_method=RetrieveMethod.GET)
    outcome = RetrieveJob(node, demo.local, demo.log, RetrieveScope.study(study.study_uid)).run()
    assert outcome.status == "success"
    records = sorted((r.study_uid, r.patient_name, r.number_of_instances, r.identifier.to_json())
                     for r in found.records)
    files = sorted(r.stored.path.read_bytes() for r in outcome.stored)
    files.append((outcome.completed, outcome.failed, outcome.warning, outcome.remaining))
    ids: dict[int, int] = {}  # message IDs run on from one search to the next: by order
    dimse = []
    for event in demo.log.events()[first:]:
        if event.kind.startswith("dimse-"):
            detail = dict(event.detail)
            for key in ("MessageID", "MessageIDBeingRespondedTo", "MoveOriginatorMessageID"):
                if key in detail:
                    detail[key] = ids.setdefault(detail[key], len(ids))
            dimse.append((event.kind, event.summary, detail))
    return records, files, dimse


def test_responses_the_lane_delivers_search_retrieve_and_log_as_pynetdicoms(
        demo, delivered, monkeypatch):
    lane = _search_and_get(demo)
    assert {"C_FIND_RSP", "C_GET_RSP"} <= set(delivered)
    delivered.clear()
    for path in demo.local.storage_folder.rglob("*.dcm"):
        path.unlink()
    monkeypatch.setattr(DataLane, "wants", lambda self: False)
    plain = _search_and_get(demo)
    assert delivered == []
    assert lane[0] == plain[0]  # the same studies, typed the same, identifiers the same
    assert lane[1] == plain[1]  # the same files
    assert [line[:2] for line in lane[2]] == [line[:2] for line in plain[2]]
    assert [line[2] for line in lane[2]] == [line[2] for line in plain[2]]


@pytest.mark.parametrize("requestor", [True, False], ids=["ours", "a-peer's"])
def test_a_large_response_identifier_passes_on_our_own_associations_only(requestor):
    # A C-GET or C-MOVE response may list every failed instance of a large study
    # (65 bytes each): 2 MiB is 32,000 of them. On an association a peer opened,
    # nothing of ours is outstanding and 1 MiB is the limit.
    events: list[str] = []

    class _Dul:  # the DUL as the lane sees it: its association and its event queue
        assoc = SimpleNamespace(is_requestor=requestor)
        event_queue = SimpleNamespace(put=events.append)

    lane = DataLane(_Dul())
    pdus = [_p_data((0x03, _find_response_command()))] + [_p_data((0x00, _FRAGMENT))] * 131
    admitted = all(lane.admits(bytearray(pdu[6:])) for pdu in pdus)
    assert admitted is requestor
    assert events == ([] if requestor else ["Evt19"])
