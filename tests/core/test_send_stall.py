"""The send that stalled on stock pynetdicom: a C-STORE response taken by the reactor thread.

On stock pynetdicom 3.0.4 ``send_c_store`` pauses the association's reactor
with a handshake that has a gap (docs/upstream/0001-response-race.patch): a
reactor thread preempted just after its checkpoint goes on to take the
response off the queue and drop it ("Received unexpected C-STORE service
message"), and ``send_c_store`` waits out the response timeout, then aborts.
Against Orthanc on a loaded machine that happened within the first hundred
instances of most sends (docs/PERFORMANCE.md).

Here the preemption is made to happen, every time, without timing: the
reactor's checkpoint holds the reactor thread just after it passed, and the
DIMSE queue lets the reactor look at the response before the sender is
told it is there.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, association, dimse, dul
from pynetdicom.sop_class import CTImageStorage
from tests.core.send_peers import StoreSCP, build_archive

from qrscope.core.archive.index import ArchiveLevel, open_index
from qrscope.core.engine import send_lane
from qrscope.core.engine import setup as pynetdicom_setup
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.send import SendJob, SendSelection, items_to_send
from qrscope.core.send import association as send_association
from qrscope.core.send.types import InstanceState
from qrscope.demo_pacs.clinical import build_clinical_studies


class _Preempted(threading.Event):
    """An association's ``_reactor_checkpoint`` (set) that holds the reactor thread, the
    first time it passes, right after it passed: where losing the interpreter lock
    would leave it."""

    def __init__(self, reactor: threading.Thread) -> None:
        super().__init__()
        self.set()
        self.reactor = reactor
        self.passed = threading.Event()
        self.go = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        flag = super().wait(timeout)
        if flag and threading.current_thread() is self.reactor and not self.passed.is_set():
            self.passed.set()
            self.go.wait()
        return flag


class _ReactorLooksFirst(queue.Queue):  # type: ignore[type-arg]
    """A DIMSE message queue that, for the first message, lets the held reactor go on
    and look at the queue before the waiting sender is told the message is there."""

    def __init__(self, gate: _Preempted, looked: threading.Event) -> None:
        super().__init__()
        self.gate = gate
        self.looked = looked

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        with self.mutex:
            self._put(item)
            self.unfinished_tasks += 1
        if not self.gate.go.is_set():
            self.gate.go.set()
            self.looked.wait()
        with self.not_empty:
            self.not_empty.notify()


def _preempt_reactor(assoc) -> None:
    """Arm the interleaving on *assoc*: returns once its reactor is held past its checkpoint."""
    gate = _Preempted(assoc)
    looked = threading.Event()
    look = assoc.dimse.get_msg

    def get_msg(block: bool = False):
        item = look(block)
        if threading.current_thread() is assoc and gate.go.is_set():
            looked.set()
        return item

    assoc.dimse.get_msg = get_msg
    assoc.dimse.msg_queue = _ReactorLooksFirst(gate, looked)
    assoc._reactor_checkpoint = gate
    assert gate.passed.wait(30), "the reactor loops every millisecond"


@pytest.fixture
def one_ct(tmp_path) -> Path:
    from pydicom import dcmread

    return next(p for p in build_clinical_studies(tmp_path / "clinical")
                if dcmread(p, stop_before_pixels=True).SOPClassUID == CTImageStorage)


def _peer() -> StoreSCP:
    scp = StoreSCP({CTImageStorage: ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]})
    scp.start()
    return scp


def _associate(scp: StoreSCP, path: Path):
    from pydicom import dcmread

    ae = AE(ae_title="SENDER")
    ae.add_requested_context(CTImageStorage, str(dcmread(path).file_meta.TransferSyntaxUID))
    assoc = ae.associate("127.0.0.1", scp.port, ae_title=scp.ae_title)
    assert assoc.is_established
    return assoc


@pytest.fixture
def stock_classes(monkeypatch) -> None:
    """pynetdicom's own providers and sleeps, whichever engine this process runs."""
    monkeypatch.setattr(association, "DULServiceProvider", dul.DULServiceProvider)
    monkeypatch.setattr(association, "DIMSEServiceProvider", dimse.DIMSEServiceProvider)
    monkeypatch.setattr(association, "time", time)
    monkeypatch.setattr(dul, "time", time)


def test_stock_pynetdicoms_reactor_takes_the_c_store_response_and_the_send_stalls(
        one_ct, stock_classes, caplog):
    """The defect, reproduced: the peer stored the instance, but the sender never
    sees its response: it waits out the response timeout and aborts."""
    scp = _peer()
    try:
        assoc = _associate(scp, one_ct)
        assoc.dimse_timeout = 1  # stands for the 60 s the send waited; the defect, not its length
        _preempt_reactor(assoc)
        with caplog.at_level(logging.WARNING, logger="pynetdicom"):
            status = assoc.send_c_store(one_ct)
    finally:
        scp.stop()
    assert status == Dataset()  # no response ...
    assert sum(scp.counts.values()) == 1  # ... to a C-STORE the peer stored
    assert "Received unexpected C-STORE service message" in caplog.text
    assert assoc.is_aborted


@pytest.mark.tuned_engine
@pytest.mark.parametrize("off", ["", "send_lane"])
def test_on_the_tuned_engine_the_response_reaches_the_sender(one_ct, monkeypatch, off):
    """The same interleaving: the prompt reactor's DIMSE keeps the response for the
    sender, through the send lane and through pynetdicom's send_c_store alike."""
    from qrscope.core.engine import choice

    monkeypatch.setattr(send_lane, "current",
                        lambda: choice.choose(choice.TESTED_PYNETDICOM[0], None, off))
    pynetdicom_setup.prepare()
    scp = _peer()
    try:
        assoc = _associate(scp, one_ct)
        _preempt_reactor(assoc)
        status = send_lane.send_c_store(assoc, one_ct, 1)
        assoc.release()
    finally:
        scp.stop()
    assert status.Status == 0x0000


# -- qrscope copes: the send goes on on a new association ---------------------------
@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    storage = tmp_path_factory.mktemp("archive")
    build_archive(storage, tmp_path_factory.mktemp("sources"))
    return storage


def _lose_responses(monkeypatch, at: set[int]) -> None:
    """The C-STOREs numbered *at* (from 1) are stored by the peer but their response is
    lost, as the stall loses it: no status, and the association aborted."""
    calls = {"n": 0}
    send = send_lane.send_c_store

    def losing(assoc, path, msg_id, while_waiting=None, prepared=None):
        calls["n"] += 1
        status = send(assoc, path, msg_id, while_waiting, prepared)
        if calls["n"] in at:
            assoc.abort()
            return Dataset()
        return status

    monkeypatch.setattr(send_association.send_lane, "send_c_store", losing)


def _ct_items(archive: Path):
    rows = open_index(archive).select(ArchiveLevel.STUDY)
    items = items_to_send(open_index(archive),
                          SendSelection(study_uids=tuple(r["study_uid"] for r in rows)))
    return [i for i in items if i.sop_class_uid == CTImageStorage]


def _send(archive: Path, scp: StoreSCP, log: AssociationLog):
    node = RemoteNode(name="peer", ae_title=scp.ae_title, host="127.0.0.1",
                      port=scp.port).validated()
    items = _ct_items(archive)
    return items, SendJob(node, LocalAE(ae_title="QRSCOPE"), log, items, job_id="j9").run()


def test_a_send_whose_association_is_lost_goes_on_on_a_new_one_and_says_so(
        archive, monkeypatch):
    _lose_responses(monkeypatch, {3, 5})
    scp = StoreSCP({CTImageStorage: ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]})
    scp.start()
    log = AssociationLog()
    try:
        items, outcome = _send(archive, scp, log)
    finally:
        scp.stop()
    assert len(items) >= 4, "the clinical set and samples hold enough CT instances"
    assert outcome.status == "success" and outcome.failure is None
    assert [r.sop_instance_uid for r in outcome.results] == [i.sop_instance_uid for i in items]
    assert all(r.state is InstanceState.STORED for r in outcome.results)
    assert set(scp.counts) == {i.sop_instance_uid for i in items}
    # Their responses lost: each sent again, on the next association.
    assert scp.counts[items[2].sop_instance_uid] == scp.counts[items[3].sop_instance_uid] == 2
    assert "lost 2 time(s), the last after 1 instance(s) were answered" in outcome.resumed
    assert outcome.to_dict()["resumed"] == outcome.resumed
    assert len([e for e in log.events() if e.kind == "accepted" and e.job_id == "j9"]) == 3


def test_an_association_lost_before_any_answer_ends_the_send_as_before(archive, monkeypatch):
    _lose_responses(monkeypatch, {2, 3})
    scp = StoreSCP({CTImageStorage: ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]})
    scp.start()
    try:
        items, outcome = _send(archive, scp, AssociationLog())
    finally:
        scp.stop()
    assert "lost 1 time(s)" in outcome.resumed
    assert outcome.status == "partial"
    assert outcome.failure is not None and outcome.failure.reason.value == "association-aborted"
    # The first stored; the second's response lost, it is sent again on a new
    # association and lost again before any answer there: failed, nothing after it sent.
    states = [r.state for r in outcome.results]
    assert states == [InstanceState.STORED, InstanceState.FAILED]
    assert len(items) > 2
