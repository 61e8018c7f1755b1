"""C-MOVE and C-GET through qrscope.core against the demo PACS.

Progress, matching of incoming instances to their job, unexpected instances,
duplicates, cancel (honoured or ignored by the PACS) and the idle timeout.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage
from tests.demo_site import start_demo_site

from qrscope.core.profiles import RetrieveMethod, Timeouts
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveScope, RetrieveState
from qrscope.core.security import AcceptPolicy
from qrscope.demo_pacs import DemoPacsBehaviour, configure
from qrscope.diagnosis.retrieve_hints import hints_for_retrieve


def _studies(demo) -> dict[str, list]:
    studies: dict[str, list] = {}
    for instance in demo.pacs.instances:
        studies.setdefault(instance.text("StudyInstanceUID"), []).append(instance)
    return studies


def _largest_study(demo) -> tuple[str, list]:
    return max(_studies(demo).items(), key=lambda item: len(item[1]))


def _small_study(demo) -> tuple[str, list]:
    """The smallest study with a few instances: enough to cancel in the middle."""
    return min((item for item in _studies(demo).items() if len(item[1]) >= 3),
               key=lambda item: len(item[1]))


def test_move_delivers_every_instance_matched_by_originator(demo):
    study_uid, members = _largest_study(demo)
    progress = []
    with StorageListener(demo.local, demo.log) as listener:
        job = RetrieveJob(demo.node, demo.local, demo.log, RetrieveScope.study(study_uid),
                          listener=listener, on_progress=progress.append)
        outcome = job.run()
    assert outcome.status == "success"
    assert {r.sop_instance_uid for r in outcome.stored} == {m.text("SOPInstanceUID")
                                                            for m in members}
    assert all(r.originator_ae == "QRSCOPE" and r.job_id == job.job_id
               for r in outcome.received)
    assert outcome.completed == len(members) and outcome.failed == 0
    assert progress[-1].state is RetrieveState.SUCCESS
    assert progress[-1].received == len(members)
    assert [c.calling_ae for c in outcome.incoming_associations] == ["DEMOPACS"]
    for record in outcome.stored:
        source = next(m for m in members if m.text("SOPInstanceUID") == record.sop_instance_uid)
        original = pydicom.dcmread(source.path)
        received = pydicom.dcmread(record.stored.path)
        assert received.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        if "PixelData" in original:
            assert received.PixelData == original.PixelData


def test_get_delivers_a_series_with_compressed_syntaxes_preserved(demo):
    compressed = [i for i in demo.pacs.instances if i.transfer_syntax.is_compressed]
    target = compressed[0]
    scope = RetrieveScope.series(target.text("StudyInstanceUID"),
                                 target.text("SeriesInstanceUID"),
                                 sop_classes=(str(target.sop_class_uid),))
    outcome = RetrieveJob(demo.node, demo.local, demo.log, scope,
                          method=RetrieveMethod.GET).run()
    assert outcome.status == "success", outcome.to_dict()
    received = {r.sop_instance_uid: r for r in outcome.stored}
    assert target.text("SOPInstanceUID") in received
    ds = pydicom.dcmread(received[target.text("SOPInstanceUID")].stored.path)
    assert ds.file_meta.TransferSyntaxUID == target.transfer_syntax


def test_retrieving_twice_stores_no_second_copy(demo):
    study_uid, members = _largest_study(demo)
    scope = RetrieveScope.study(study_uid)
    first = RetrieveJob(demo.node, demo.local, demo.log, scope, method=RetrieveMethod.GET,
                        ).run()
    again = RetrieveJob(demo.node, demo.local, demo.log, scope, method=RetrieveMethod.GET,
                        ).run()
    assert first.status == again.status == "success"
    assert all(r.stored.duplicate for r in again.stored)
    files = list(Path(demo.local.storage_folder).rglob("*.dcm"))
    assert len(files) == len(members)


def _send_as(listener, ae_title: str, path, source: str = "127.0.0.1"):
    sender = AE(ae_title=ae_title)
    sender.add_requested_context(CTImageStorage, [str(t) for t in (
        pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ImplicitVRLittleEndian)])
    assoc = sender.associate("127.0.0.1", listener.port, ae_title="QRSCOPE",
                             bind_address=(source, 0))
    if not assoc.is_established:
        return assoc, None
    status = assoc.send_c_store(pydicom.dcmread(path))
    assoc.release()
    return assoc, status


def _plain_ct(demo):
    return next(i for i in demo.pacs.instances if i.sop_class_uid == CTImageStorage
                and not i.transfer_syntax.is_compressed)


def test_a_stranger_is_refused_by_default_and_named(demo):
    with StorageListener(demo.local, demo.log) as listener:
        assoc, status = _send_as(listener, "STRANGER", _plain_ct(demo).path)
    assert status is None and assoc.is_rejected
    assert not list(Path(demo.local.storage_folder).rglob("*.dcm"))
    (refused,) = listener.refused
    assert refused.calling_ae == "STRANGER" and "not a known node" in refused.reason
    assert any(e.kind == "caller-refused" for e in demo.log.events())


def test_a_configured_node_may_store_from_its_host_only(demo):
    node = replace(demo.node, name="Modality", ae_title="CT01", host="127.0.0.1")
    with StorageListener(demo.local, demo.log, known_nodes=lambda: [node]) as listener:
        _, status = _send_as(listener, "CT01", _plain_ct(demo).path)
        elsewhere, refused = _send_as(listener, "CT01", _plain_ct(demo).path, "127.0.0.2")
    assert status.Status == 0x0000 and refused is None and elsewhere.is_rejected
    assert "not 127.0.0.2" in listener.refused[0].reason


def test_instance_nobody_asked_for_is_stored_and_reported(demo):
    local = replace(demo.local, accept=AcceptPolicy.ANY)
    with StorageListener(local, demo.log) as listener:
        _, status = _send_as(listener, "STRANGER", _plain_ct(demo).path)
    assert status.Status == 0x0000
    assert len(listener.unexpected) == 1
    stray = listener.unexpected[0]
    assert stray.calling_ae == "STRANGER" and stray.job_id is None and stray.ok
    assert any(e.kind == "instance-stored" and e.detail.get("unexpected")
               for e in demo.log.events())


@pytest.mark.parametrize("accept", [AcceptPolicy.KNOWN, AcceptPolicy.ANY])
def test_a_forged_instance_sent_during_a_retrieve_is_never_counted(
        sample_folder, tmp_path, accept):
    """A fourth program stores a copy of the study being retrieved, under the
    PACS's own AE title but from another address, while the C-MOVE runs."""
    site = start_demo_site(sample_folder, tmp_path / "r",
                           DemoPacsBehaviour(sub_operation_delay=0.1))
    local = replace(site.local, accept=accept)
    study_uid, members = _largest_study(site)
    forged = pydicom.dcmread(next(m.path for m in members
                                  if m.sop_class_uid == CTImageStorage
                                  and not m.transfer_syntax.is_compressed))
    forged.SOPInstanceUID = pydicom.uid.generate_uid()
    forged_path = tmp_path / "forged.dcm"
    forged.save_as(forged_path)
    try:
        with StorageListener(local, site.log) as listener:
            job = RetrieveJob(site.node, local, site.log, RetrieveScope.study(study_uid),
                              listener=listener)
            result: list = []
            worker = threading.Thread(target=lambda: result.append(job.run()))
            worker.start()
            while job.progress().received == 0 and worker.is_alive():
                threading.Event().wait(0.02)
            _send_as(listener, site.pacs.ae_title, forged_path, "127.0.0.2")
            worker.join(timeout=60)
    finally:
        site.pacs.stop()
    outcome = result[0]
    assert outcome.status == "success", outcome.to_dict()
    assert len(outcome.stored) == outcome.completed == len(members)
    assert str(forged.SOPInstanceUID) not in {r.sop_instance_uid for r in outcome.received}
    assert not any(str(forged.SOPInstanceUID) in f for f in outcome.files)


def test_a_pacs_that_fills_the_move_originator_wrongly_loses_no_instance(
        sample_folder, tmp_path):
    """Its own AE title and Message ID 1 in every sub-operation: every instance
    used to be stored as 'no retrieve job asked for it' and the retrieve ended
    failed with 0 received."""
    behaviour, _destinations = configure("wrong-originator", {})
    site = start_demo_site(sample_folder, tmp_path / "r", behaviour)
    try:
        study_uid, members = _largest_study(site)
        with StorageListener(site.local, site.log) as listener:
            outcome = RetrieveJob(site.node, site.local, site.log,
                                  RetrieveScope.study(study_uid), listener=listener).run()
            unexpected = listener.unexpected
    finally:
        site.pacs.stop()
    assert outcome.status == "success", outcome.to_dict()
    assert len(outcome.stored) == len(members) and unexpected == []
    assert {r.originator_ae for r in outcome.stored} == {site.pacs.ae_title}
    hints = [h.id for h in hints_for_retrieve(outcome, site.node, site.local)]
    assert hints == ["move-originator-wrong"]


def test_a_forged_copy_stored_first_keeps_its_name_and_the_retrieve_says_so(demo):
    """A caller the user let in (accept any) stores a modified copy of an instance
    under its real UIDs before the study is retrieved: the PACS's instance is
    kept beside it, never over it, the Local count is not doubled, and the
    retrieve names the conflict instead of reporting a plain success."""
    local = replace(demo.local, accept=AcceptPolicy.ANY)
    ct = _plain_ct(demo)
    study_uid = ct.text("StudyInstanceUID")
    members = [i for i in demo.pacs.instances if i.text("StudyInstanceUID") == study_uid]
    forged = pydicom.dcmread(ct.path)
    forged.PatientName = "Forged^Copy"
    forged_path = demo.local.storage_folder.parent / "forged.dcm"
    forged.save_as(forged_path)
    with StorageListener(local, demo.log) as listener:
        _, status = _send_as(listener, "FORGER", forged_path, "127.0.0.5")
        assert status is not None and status.Status == 0x0000
        outcome = RetrieveJob(demo.node, local, demo.log, RetrieveScope.study(study_uid),
                              listener=listener).run()
    real = next(r for r in outcome.stored if r.sop_instance_uid == ct.text("SOPInstanceUID"))
    assert real.stored.conflict and "~" in real.stored.path.name
    own_name = real.stored.path.with_name(f"{real.sop_instance_uid}.dcm")
    assert str(pydicom.dcmread(own_name).PatientName) == "Forged^Copy"  # not overwritten
    assert str(pydicom.dcmread(real.stored.path).PatientName) != "Forged^Copy"
    assert listener.store.count_local([study_uid]) == {study_uid: len(members)}
    hints = {h.id: h for h in hints_for_retrieve(outcome, demo.node, local)}
    assert "conflicting-copy" in hints
    assert real.stored.path.name in hints["conflicting-copy"].summary
    assert any("beside a different object" in e.summary for e in demo.log.events())


@pytest.fixture
def slow_demo(sample_folder, tmp_path):
    site = start_demo_site(sample_folder, tmp_path / "slow",
                           DemoPacsBehaviour(sub_operation_delay=0.3))
    yield site
    site.pacs.stop()


def _cancel_after_first(job: RetrieveJob) -> None:
    started = threading.Event()

    def on_progress(progress):
        if progress.received >= 1:
            started.set()

    job.on_progress = on_progress
    threading.Thread(target=lambda: started.wait(10) and job.cancel(), daemon=True).start()


def test_cancel_ends_a_move_with_c_cancel(slow_demo):
    study_uid, members = _small_study(slow_demo)
    with StorageListener(slow_demo.local, slow_demo.log) as listener:
        job = RetrieveJob(slow_demo.node, slow_demo.local, slow_demo.log,
                          RetrieveScope.study(study_uid), listener=listener)
        _cancel_after_first(job)
        outcome = job.run()
    assert outcome.status == "cancelled"
    assert 1 <= len(outcome.stored) < len(members)
    assert outcome.final_status is not None and outcome.final_status.code == 0xFE00
    sent = [e.detail.get("message") for e in slow_demo.log.events() if e.kind == "dimse-sent"]
    assert "C-CANCEL-RQ" in sent


def test_cancel_ends_even_when_the_pacs_ignores_it(sample_folder, tmp_path):
    site = start_demo_site(sample_folder, tmp_path / "stubborn",
                           DemoPacsBehaviour(sub_operation_delay=0.3, honour_cancel=False))
    try:
        node = site.node.__class__(**{**site.node.__dict__,
                                      "timeouts": Timeouts(cancel_grace=0.5)})
        study_uid, members = _small_study(site)
        job = RetrieveJob(node, site.local, site.log, RetrieveScope.study(study_uid),
                          method=RetrieveMethod.GET)
        _cancel_after_first(job)
        outcome = job.run()
    finally:
        site.pacs.stop()
    assert outcome.status == "cancelled"
    steps = [e.kind for e in site.log.events(job_id=job.job_id)]
    assert "cancel-sent" in steps and "cancel-timeout" in steps
    assert len(outcome.stored) < len(members)


def test_idle_limit_ends_a_retrieve_that_stopped_progressing(sample_folder, tmp_path):
    site = start_demo_site(sample_folder, tmp_path / "idle",
                           DemoPacsBehaviour(sub_operation_delay=1.0))
    try:
        node = site.node.__class__(**{**site.node.__dict__,
                                      "timeouts": Timeouts(retrieve_idle=0.3)})
        study_uid, _ = _small_study(site)
        outcome = RetrieveJob(node, site.local, site.log, RetrieveScope.study(study_uid),
                              method=RetrieveMethod.GET).run()
    finally:
        site.pacs.stop()
    assert outcome.timed_out == "idle"
    assert outcome.status == "failed"
    assert any(e.kind == "retrieve-timeout" for e in site.log.events())
    # A PACS too slow for the idle limit is as slow with another syntax on
    # offer: asking again would only wait out the limit once per syntax.
    assert [e.summary for e in site.log.events() if e.kind == "get-retry"] == []
