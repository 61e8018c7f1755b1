"""What the listener files: a C-STORE on a storage context of its own class, from a
caller the accept policy admits, carrying the data set its command names.

Each case is one a stranger used to get files into the storage folder with
(issue: the listener's remaining holes): Verification-only associations are
open to anyone, so a C-STORE sent on that context was filed; a command
naming one instance over a data set of another was filed under the data
set's name; a C-STORE without a data set left a file holding only its meta
header.
"""

from __future__ import annotations

import time
from io import BytesIO
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode
from pynetdicom.sop_class import SecondaryCaptureImageStorage, Verification
from tests.core.listener_peers import LISTENER_HOST, SENDER, require_loopback_sources
from tests.demo_site import free_port

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.receive.listener import StorageListener
from qrscope.core.security import AcceptPolicy

STRANGER = "127.0.0.5"
KNOWN = RemoteNode(name="modality", ae_title="SENDER", host=SENDER, port=104)
VERIFICATION = str(Verification)
SECONDARY_CAPTURE = str(SecondaryCaptureImageStorage)


@pytest.fixture(params=["data lane", "pynetdicom"])
def listener(request, tmp_path: Path):
    """A listener that stores from known nodes only, on either receive path."""
    require_loopback_sources(SENDER, STRANGER)
    local = LocalAE(ae_title="QRSCOPE", listener_port=free_port(), bind_address=LISTENER_HOST,
                    storage_folder=tmp_path / "received", accept=AcceptPolicy.KNOWN)
    with StorageListener(local, AssociationLog(), known_nodes=lambda: [KNOWN]) as running:
        # Recording PDUs makes the data lane step aside: pynetdicom's own path.
        running.set_debug(request.param == "pynetdicom")
        yield running


def _data_set(sop_class: str = SECONDARY_CAPTURE, sop_instance: str | None = None) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance or generate_uid()
    ds.PatientID = "FORGED"
    ds.PatientName = "Forged^Patient"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def _encoded(ds: Dataset) -> bytes:
    return encode(ds, False, True)  # explicit VR little endian, as proposed


def _raw_store(port: int, proposed: str, command_class: str, command_instance: str,
               data: bytes | None, source: str = SENDER, calling: str = "SENDER") -> int:
    """Send one C-STORE-RQ on the first context proposed, whatever its class; its status.

    pynetdicom's ``send_c_store`` refuses to send a class on a context of
    another class, so the request is put together here and sent as its own
    ``send_c_store`` sends it (the reactor paused while we wait for the answer).
    Returns -2 when the association was not accepted, -1 when no answer came.
    """
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    ae.add_requested_context(proposed, [ExplicitVRLittleEndian])
    assoc = ae.associate(LISTENER_HOST, port, ae_title="QRSCOPE", bind_address=(source, 0))
    if not assoc.is_established:
        return -2
    try:
        request = C_STORE()
        request.MessageID = 7
        request.AffectedSOPClassUID = command_class
        request.AffectedSOPInstanceUID = command_instance
        request.Priority = 2
        if data is not None:
            request.DataSet = BytesIO(data)
        context_id = assoc.accepted_contexts[0].context_id
        assoc._reactor_checkpoint.clear()
        while not assoc._is_paused:
            time.sleep(0.0001)
        try:
            assoc.dimse.send_msg(request, context_id)
            _, response = assoc.dimse.get_msg(block=True)
        finally:
            assoc._reactor_checkpoint.set()
        return int(response.Status) if response is not None else -1
    finally:
        assoc.release()


def _files(listener: StorageListener) -> list[Path]:
    root = listener.store.root
    # The received files: not the transfers under way, not the archive index's own.
    return [p for p in root.rglob("*") if p.is_file() and ".incoming" not in p.parts
            and not any(part.startswith(".qrscope-index") for part in p.parts)]


def _log_text(listener: StorageListener) -> str:
    return "\n".join(event.summary for event in listener.log.events())


@pytest.mark.parametrize("command_class", [VERIFICATION, SECONDARY_CAPTURE],
                         ids=["naming-verification", "naming-secondary-capture"])
@pytest.mark.parametrize("caller", ["stranger", "known node"])
def test_a_store_on_a_verification_context_is_refused_and_filed_nowhere(
        listener, command_class, caller):
    source, calling = (STRANGER, "FORGER") if caller == "stranger" else (SENDER, "SENDER")
    ds = _data_set(command_class)
    status = _raw_store(listener.port, VERIFICATION, command_class, ds.SOPInstanceUID,
                        _encoded(ds), source=source, calling=calling)
    assert status == 0x0122  # Refused: SOP Class not supported (on that context)
    assert _files(listener) == []
    assert "NOT stored" in _log_text(listener)
    assert listener.received == 0


def test_a_store_on_a_context_of_another_class_is_refused(listener):
    ds = _data_set(SECONDARY_CAPTURE)
    ct = "1.2.840.10008.5.1.4.1.1.2"
    status = _raw_store(listener.port, ct, SECONDARY_CAPTURE, ds.SOPInstanceUID, _encoded(ds))
    assert status == 0x0122
    assert _files(listener) == []


@pytest.mark.parametrize("differs", ["instance", "class"])
def test_a_data_set_that_is_not_the_one_its_command_names_is_refused(listener, differs):
    ds = _data_set(SECONDARY_CAPTURE)
    named_instance = generate_uid() if differs == "instance" else ds.SOPInstanceUID
    if differs == "class":
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # the data set says CT
    status = _raw_store(listener.port, SECONDARY_CAPTURE, SECONDARY_CAPTURE, named_instance,
                        _encoded(ds))
    assert status == (0xA900 if differs == "class" else 0xC000)
    assert _files(listener) == []
    text = _log_text(listener)
    assert "NOT stored" in text and "command" in text


def test_a_store_without_a_data_set_is_refused_and_leaves_no_file(listener):
    status = _raw_store(listener.port, SECONDARY_CAPTURE, SECONDARY_CAPTURE, generate_uid(),
                        None)
    assert status == 0xC000
    assert _files(listener) == []
    assert "no data set" in _log_text(listener)


def test_a_known_node_still_stores_on_its_own_context(listener):
    ds = _data_set(SECONDARY_CAPTURE)
    status = _raw_store(listener.port, SECONDARY_CAPTURE, SECONDARY_CAPTURE, ds.SOPInstanceUID,
                        _encoded(ds))
    assert status == 0x0000
    assert len(_files(listener)) == 1
