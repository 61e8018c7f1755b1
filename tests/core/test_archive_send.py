"""Sending on from the archive (issue 22, point 3), against a small pynetdicom Storage SCP."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)
from pynetdicom import sop_class as sc
from tests.core.send_peers import StoreSCP, build_archive, data_set_bytes

from qrscope.core.archive.index import ArchiveLevel, open_index
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.send import SendJob, SendSelection, items_to_send
from qrscope.core.send.contexts import plan_associations
from qrscope.core.send.selection import SendItem
from qrscope.core.send.types import InstanceState
from qrscope.diagnosis.send_hints import hints_for_send

LOCAL = LocalAE(ae_title="QRSCOPE")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    storage = tmp_path_factory.mktemp("archive")
    build_archive(storage, tmp_path_factory.mktemp("sources"))
    return storage


def _node(scp: StoreSCP, ae_title: str | None = None) -> RemoteNode:
    return RemoteNode(name="peer", ae_title=ae_title or scp.ae_title, host="127.0.0.1",
                      port=scp.port).validated()


def _all_studies(archive: Path) -> SendSelection:
    rows = open_index(archive).select(ArchiveLevel.STUDY)
    return SendSelection(study_uids=tuple(r["study_uid"] for r in rows))


def _uncompressed(*classes: str) -> dict[str, list[str]]:
    return {c: [ExplicitVRLittleEndian, ImplicitVRLittleEndian] for c in classes}


def test_contexts_past_128_go_on_several_associations_a_class_whole_on_one():
    items = [SendItem(f"1.2.3.{n}", f"1.2.840.99.{n}", ExplicitVRLittleEndian,
                      Path("x"), 1) for n in range(70)]
    items.append(SendItem("1.2.3.999", "1.2.840.99.0", RLELossless, Path("x"), 1))
    plans = plan_associations(items)
    assert len(plans) == 2
    assert all(len(p.contexts) <= 128 for p in plans)
    for plan in plans:
        classes = {cx.abstract_syntax for cx in plan.contexts}
        assert {i.sop_class_uid for i in plan.items} == classes
    first = [cx for cx in plans[0].contexts if cx.abstract_syntax == "1.2.840.99.0"]
    # Each syntax its own context: the held RLE one and the two uncompressed ones.
    assert [cx.transfer_syntax for cx in first] == [
        [ExplicitVRLittleEndian], [RLELossless], [ImplicitVRLittleEndian]]


def test_a_peer_of_some_classes_stores_those_byte_for_byte_and_the_rest_fail_with_why(
        archive: Path):
    index = open_index(archive)
    selection = _all_studies(archive)
    items = items_to_send(index, selection)
    ct_mr = [sc.CTImageStorage, sc.MRImageStorage]
    scp = StoreSCP({**_uncompressed(*ct_mr),
                    **{c: [ExplicitVRLittleEndian] for c in (sc.RTDoseStorage,
                                                              sc.SegmentationStorage)}})
    scp.start()
    log = AssociationLog()
    try:
        outcome = SendJob(_node(scp), LOCAL, log, items, job_id="j1").run()
    finally:
        scp.stop()
    by_uid = {r.sop_instance_uid: r for r in outcome.results}
    assert len(by_uid) == len(items) == outcome.total
    for item in items:
        result = by_uid[item.sop_instance_uid]
        if item.sop_class_uid in ct_mr and item.transfer_syntax in (ExplicitVRLittleEndian,
                                                                    ImplicitVRLittleEndian):
            assert result.state is InstanceState.STORED and not result.note
            assert scp.received[item.sop_instance_uid] == data_set_bytes(item.path)
        elif item.sop_class_uid not in scp.accepts:
            assert result.state is InstanceState.FAILED
            assert "accepted no context" in result.reason
            assert item.sop_class_uid in outcome.refused_classes
    rle = [i for i in items if i.transfer_syntax == RLELossless and i.sop_class_uid in scp.accepts]
    assert rle, "the clinical set holds RLE instances of an accepted class"
    for item in rle:
        result = by_uid[item.sop_instance_uid]
        assert result.state is InstanceState.STORED
        assert result.note == ("sent as Explicit VR Little Endian: the peer accepted no RLE "
                               "Lossless context")
        sent = pydicom.dcmread(pydicom.filebase.DicomBytesIO(
            scp.received[item.sop_instance_uid]), force=True)
        sent.file_meta = pydicom.dataset.FileMetaDataset()
        sent.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        assert np.array_equal(sent.pixel_array, pydicom.dcmread(item.path).pixel_array)
    # The log names the accepted contexts under the job's id.
    accepted = [e for e in log.events() if e.kind == "accepted" and e.job_id == "j1"]
    assert accepted and accepted[0].detail["accepted"] >= 2
    hints = hints_for_send(outcome, _node(scp), LOCAL)
    refused = next(h for h in hints if h.id == "send-class-not-accepted")
    assert "127.0.0.1" in refused.summary and "STORESCP" in refused.summary
    assert UID(sc.RTPlanStorage).name in refused.summary


def test_an_instance_no_installed_decoder_can_convert_fails_with_that_reason(archive: Path,
                                                                            monkeypatch):
    index = open_index(archive)
    j2k = [i for i in items_to_send(index, _all_studies(archive))
           if i.transfer_syntax == JPEG2000Lossless][:1]
    assert j2k
    from pydicom.pixels import get_decoder
    decoder = get_decoder(JPEG2000Lossless)  # as on a machine without the plugins
    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setattr(decoder, "_unavailable", {"pylibjpeg": ("pylibjpeg-openjpeg",)})
    scp = StoreSCP(_uncompressed(j2k[0].sop_class_uid))
    scp.start()
    try:
        outcome = SendJob(_node(scp), LOCAL, AssociationLog(), j2k).run()
    finally:
        scp.stop()
    (result,) = outcome.results
    assert result.state is InstanceState.FAILED
    assert "no installed pixel data decoder reads JPEG 2000" in result.reason
    assert scp.counts == {}


def test_cancel_mid_send_stops_before_the_next_instance(archive: Path):
    items = [i for i in items_to_send(open_index(archive), _all_studies(archive))
             if i.transfer_syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)]
    scp = StoreSCP(_uncompressed(*{i.sop_class_uid for i in items}), hold_after=3)
    scp.start()
    job = SendJob(_node(scp), LOCAL, AssociationLog(), items)
    done: list = []
    thread = threading.Thread(target=lambda: done.append(job.run()))
    thread.start()
    try:
        for _ in range(3):
            assert scp.arrived.acquire(timeout=30)
        job.cancel()
        scp.hold.set()
        thread.join(30)
    finally:
        scp.stop()
    (outcome,) = done
    assert outcome.status == "cancelled"
    assert len(outcome.results) == 3 < len(items)
    assert sum(scp.counts.values()) == 3


def test_a_wrong_called_ae_title_is_refused_with_the_hint_naming_it(archive: Path):
    items = items_to_send(open_index(archive), _all_studies(archive))[:2]
    scp = StoreSCP(_uncompressed(*{i.sop_class_uid for i in items}))
    scp.start()
    node = _node(scp, ae_title="WRONGAE")
    try:
        outcome = SendJob(node, LOCAL, AssociationLog(), items).run()
    finally:
        scp.stop()
    assert outcome.status == "failed" and outcome.results == []
    (hint,) = hints_for_send(outcome, node, LOCAL)
    assert hint.id == "association-rejected-called-aet"
    assert "WRONGAE" in hint.title and f"127.0.0.1:{scp.port}" in hint.summary


def test_a_failure_status_is_reported_per_instance_with_its_meaning_and_a_hint(archive: Path):
    items = [i for i in items_to_send(open_index(archive), _all_studies(archive))
             if i.transfer_syntax == ExplicitVRLittleEndian][:3]
    scp = StoreSCP(_uncompressed(*{i.sop_class_uid for i in items}), status=0xA700)
    scp.start()
    try:
        outcome = SendJob(_node(scp), LOCAL, AssociationLog(), items).run()
    finally:
        scp.stop()
    assert outcome.status == "failed"
    assert {(r.state, r.status.code if r.status else None) for r in outcome.results} == {
        (InstanceState.FAILED, 0xA700)}
    assert "out of resources" in outcome.results[0].reason
    (hint,) = hints_for_send(outcome, _node(scp), LOCAL)
    assert hint.id == "send-instances-failed"
    assert "3 × 0xA700" in hint.summary and f"127.0.0.1:{scp.port}" in hint.summary
