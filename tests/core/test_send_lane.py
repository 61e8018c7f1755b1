"""The send lane: a file's C-STORE written by the sending thread, as pynetdicom would send it.

Every test compares with what pynetdicom's own ``send_c_store`` delivers to
the same peer, or checks what the peer received; none times anything (a
thread join bounds a wait that would otherwise last the response timeout).
"""

from __future__ import annotations

import threading
from io import BytesIO
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE, _config, build_context, evt
from tests.core.listener_peers import LISTENER_HOST
from tests.core.send_peers import received_bytes
from tests.demo_site import free_port

from qrscope.core.dicom.encoding import file_meta, store_request_bytes
from qrscope.core.engine import choice, send_lane
from qrscope.core.engine import setup as pynetdicom_setup
from qrscope.demo_pacs.clinical import build_clinical_studies

# What this file tests is a piece of the tuned engine: on stock pynetdicom it is not there.
pytestmark = pytest.mark.tuned_engine


@pytest.fixture
def lane_writes(monkeypatch) -> list[Path]:
    """The files the lane wrote to the wire (filled as it does)."""
    written: list[Path] = []
    write = send_lane.Prepared.write

    def counting(self):
        written.append(self.path)
        return write(self)

    monkeypatch.setattr(send_lane.Prepared, "write", counting)
    return written


def _contexts(files: list[Path]) -> list:
    """One context per class and syntax of *files*."""
    pairs = {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
             for ds in (dcmread(p, stop_before_pixels=True) for p in files)}
    return [build_context(*pair) for pair in sorted(pairs)]


def _scp(handler, max_pdu: int, files: list[Path]) -> tuple[AE, int]:
    """A pynetdicom storage SCP of *files*' classes, with *handler* and Maximum Length
    *max_pdu*."""
    pynetdicom_setup.prepare()
    ae = AE(ae_title="PEER")
    ae.maximum_pdu_size = max_pdu
    for cx in _contexts(files):
        ae.add_supported_context(cx.abstract_syntax, cx.transfer_syntax)
    port = free_port()
    ae.start_server((LISTENER_HOST, port), block=False, evt_handlers=[(evt.EVT_C_STORE, handler)])
    return ae, port


def _sender(files: list[Path]) -> AE:
    sender = AE(ae_title="SENDER")
    for cx in _contexts(files):
        sender.add_requested_context(cx.abstract_syntax, cx.transfer_syntax)
    return sender


def _send_all(files: list[Path], max_pdu: int) -> tuple[list[int], dict[str, bytes]]:
    """C-STORE each of *files* through :func:`send_lane.send_c_store`: the statuses, and
    the data set bytes the peer received by SOP Instance UID."""
    received: dict[str, bytes] = {}

    def keep(event):
        # As it came, wherever pynetdicom put it (a file, once a listener earlier in
        # the process switched chunked receiving on).
        received[str(event.request.AffectedSOPInstanceUID)] = received_bytes(event)
        return 0x0000

    scp, port = _scp(keep, max_pdu, files)
    sender = _sender(files)
    try:
        assoc = sender.associate(LISTENER_HOST, port, ae_title="PEER")
        assert assoc.is_established
        statuses = [int(send_lane.send_c_store(assoc, path, number).Status)
                    for number, path in enumerate(files, 1)]
        assoc.release()
    finally:
        scp.shutdown()
    return statuses, received


@pytest.fixture
def clinical(tmp_path, monkeypatch) -> list[Path]:
    """The clinical set's files; the peer stores its private class too."""
    monkeypatch.setattr(_config, "UNRESTRICTED_STORAGE_SERVICE", True)
    return build_clinical_studies(tmp_path / "clinical")


@pytest.mark.parametrize("max_pdu", [16384, 4096, 0])
def test_the_lane_delivers_every_clinical_file_byte_for_byte(clinical, lane_writes, max_pdu):
    """RT, SR, PDF, ECG, private, Big Endian, compressed: each data set arrives as it lies
    in the file, fragmented to the peer's maximum (Orthanc's 16 KiB, a small one, none)."""
    statuses, received = _send_all(clinical, max_pdu)
    assert lane_writes == clinical  # every one went by the lane
    assert statuses == [0x0000] * len(clinical)
    for path in clinical:
        ds = dcmread(path, stop_before_pixels=True)
        data = path.read_bytes()
        # The meta group's length (0002,0000) says where the data set starts.
        start = 144 + int.from_bytes(data[140:144], "little")
        assert received[str(ds.SOPInstanceUID)] == data[start:]


def test_left_out_by_name_pynetdicom_sends_and_the_peer_gets_the_same(clinical, lane_writes,
                                                                      monkeypatch):
    by_lane = _send_all(clinical, 16384)
    monkeypatch.setattr(choice, "current",
                        lambda: choice.choose(choice.TESTED_PYNETDICOM[0], None, "send_lane"))
    monkeypatch.setattr(send_lane, "current", choice.current)
    lane_writes.clear()
    by_pynetdicom = _send_all(clinical, 16384)
    assert lane_writes == []
    assert by_lane == by_pynetdicom


def test_a_peer_that_aborts_gets_no_status_and_ends_the_wait_as_pynetdicom(clinical,
                                                                           lane_writes):
    """As pynetdicom's: the abort wakes the wait (not the response timeout), and the
    answer is an empty data set."""

    def abort(event):
        event.assoc.abort()
        return 0x0000

    scp, port = _scp(abort, 16384, clinical)
    sender = _sender(clinical)
    results: list[Dataset] = []
    try:
        assoc = sender.associate(LISTENER_HOST, port, ae_title="PEER")
        assoc.dimse_timeout = 3600
        thread = threading.Thread(
            target=lambda: results.append(send_lane.send_c_store(assoc, clinical[0], 1)),
            daemon=True)
        thread.start()
        thread.join(60)
        assert not thread.is_alive()
    finally:
        scp.shutdown()
    assert lane_writes == [clinical[0]]
    assert results == [Dataset()]
    assert not assoc.is_established


# -- the request's bytes, as pynetdicom writes them ----------------------------------
@pytest.mark.parametrize(("message_id", "instance"), [(1, "1.2.3.4"), (65535, "1.2.3.45")])
def test_the_request_command_set_is_pynetdicoms_byte_for_byte(message_id, instance):
    from pynetdicom.dimse_messages import C_STORE_RQ
    from pynetdicom.dimse_primitives import C_STORE
    from pynetdicom.dsutils import encode

    primitive = C_STORE()
    primitive.MessageID = message_id
    primitive.Priority = 2
    primitive.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    primitive.AffectedSOPInstanceUID = instance
    primitive.DataSet = BytesIO(b"\0")
    message = C_STORE_RQ()
    message.primitive_to_message(primitive)
    assert store_request_bytes("1.2.840.10008.5.1.4.1.1.2", message_id, instance) == \
        encode(message.command_set, True, True)


def test_a_request_with_a_uid_that_is_not_plain_is_left_to_pynetdicom():
    assert store_request_bytes("1.2.840.10008.5.1.4.1.1.2", 1, "1.2.é") is None
    assert store_request_bytes("1.2.840.10008.5.1.4.1.1.2", 70000, "1.2.3") is None


def test_the_meta_group_is_read_as_pydicom_reads_it(clinical):
    for path in clinical:
        data = path.read_bytes()
        meta = file_meta(data[:4096])
        ds = dcmread(path, stop_before_pixels=True)
        assert meta is not None
        assert (meta.sop_class_uid, meta.sop_instance_uid, meta.transfer_syntax) == (
            ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID,
            ds.file_meta.TransferSyntaxUID)
        assert meta.data_set_offset == 144 + int.from_bytes(data[140:144], "little")
        assert file_meta(data[:meta.data_set_offset - 1]) is None  # cut short: pydicom's
    assert file_meta(b"\0" * 200) is None  # no DICM: pydicom's


def test_a_request_made_ready_early_goes_out_as_one_made_at_once(clinical, lane_writes):
    """:func:`send_lane.prepare` while another response is awaited: the same bytes; one
    made ready for another file is let go and the file sent is read afresh."""
    received: dict[str, bytes] = {}

    def keep(event):
        # As it came, wherever pynetdicom put it (a file, once a listener earlier in
        # the process switched chunked receiving on).
        received[str(event.request.AffectedSOPInstanceUID)] = received_bytes(event)
        return 0x0000

    first, second = clinical[0], clinical[1]
    scp, port = _scp(keep, 4096, clinical)
    try:
        assoc = _sender(clinical).associate(LISTENER_HOST, port, ae_title="PEER")
        ready = send_lane.prepare(assoc, second, 2)
        assert ready is not None
        statuses = [send_lane.send_c_store(assoc, first, 1, prepared=ready).Status]
        ready = send_lane.prepare(assoc, second, 3)
        statuses.append(send_lane.send_c_store(assoc, second, 3, prepared=ready).Status)
        assoc.release()
    finally:
        scp.shutdown()
    assert statuses == [0x0000, 0x0000]
    assert lane_writes == [first, second]
    for path in (first, second):
        data = path.read_bytes()
        uid = str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        assert received[uid] == data[144 + int.from_bytes(data[140:144], "little"):]
