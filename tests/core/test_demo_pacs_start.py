"""The demo PACS listens first and writes its samples behind (issue 21: launch time).

The window lists the demo PACS as soon as its port is known; writing and
indexing the bundled samples (most of a second) goes on in a thread, and
an association that asks for data meanwhile waits for it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

from qrscope.core.profile_store import ProfileStore
from qrscope.demo_pacs import DemoPacs, server
from qrscope.session import Session

WAIT = 30.0  # a bound for a hang, not a measurement


@pytest.fixture
def gate(monkeypatch) -> threading.Event:
    """The bundled samples are written only once the gate is opened."""
    opened = threading.Event()
    build = server.build_sample_studies

    def gated(folder):
        assert opened.wait(WAIT)
        return build(folder)

    monkeypatch.setattr(server, "build_sample_studies", gated)
    return opened


def _studies(port: int) -> list[Dataset]:
    ae = AE(ae_title="TESTSCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = WAIT
    ae.add_requested_context(FIND)
    assoc = ae.associate("127.0.0.1", port, ae_title="DEMOPACS")
    assert assoc.is_established
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = ""
    try:
        return [ds for status, ds in assoc.send_c_find(identifier, FIND)
                if status and status.Status in (0xFF00, 0xFF01)]
    finally:
        assoc.release()


def test_the_session_lists_the_demo_pacs_before_its_samples_are_written(tmp_path, gate):
    session = Session(ProfileStore(tmp_path / "profiles.json"))
    with ThreadPoolExecutor(2) as pool:
        try:
            started = pool.submit(session.start_demo_pacs)
            node = started.result(WAIT)  # the samples are still held at the gate
            assert session.demo_pacs is not None and session.demo_pacs.is_running
            assert node.port == session.demo_pacs.port > 0
            assert session.profiles.nodes[0] == node
            # A search made now waits for the samples, then finds every study.
            found = pool.submit(_studies, node.port)
            gate.set()
            assert len(found.result(WAIT)) == 7
        finally:
            gate.set()
            session.close()


def test_stop_while_the_samples_are_written_leaves_no_folder(gate):
    pacs = DemoPacs()
    pacs.start_listening()
    folder = pacs._own_folder
    assert folder is not None and folder.exists()
    gate.set()
    pacs.stop()
    assert not folder.exists() and not pacs.is_running


def test_start_raises_what_writing_the_samples_raised_and_stops(monkeypatch):
    def full_disk(folder):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(server, "build_sample_studies", full_disk)
    pacs = DemoPacs()
    with pytest.raises(OSError, match="No space left"):
        pacs.start()
    assert not pacs.is_running and pacs._own_folder is None


def test_the_bundled_samples_hold_only_classes_offered_before_they_exist():
    """Listening before the samples exist, the AE offers no class of theirs
    specially: each must be among pynetdicom's storage classes it offers anyway."""
    offered = {str(context.abstract_syntax) for context in StoragePresentationContexts}
    with DemoPacs() as pacs:
        held = {str(record.sop_class_uid) for record in pacs.instances}
    assert held and held <= offered
