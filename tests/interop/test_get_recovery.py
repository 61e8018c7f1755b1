"""C-GET's second round against dcmqrscp: asked for exactly what is missing, and cancellable.

dcmqrscp sends each instance on the first accepted context of its SOP class
and cannot decompress, so a compressed instance fails the first C-GET (we
offer uncompressed first) and arrives when asked again in its own syntax.
It returns no SOP Class UID in its C-FIND answers either, so an instance of
a class the modality table does not guess is offered no context at first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import MissingReason, RetrieveScope

from . import peers
from .peers import PeerServer

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"  # guessed for Modality SR
MAMMOGRAPHY_CAD_SR = "1.2.840.10008.5.1.4.1.1.88.50"  # a standard class not guessed for SR
# Retired (PS3.6), known to DCMTK but not to pynetdicom: no proposal of ours names it.
STANDALONE_OVERLAY = "1.2.840.10008.5.1.4.1.1.8"


def _compressed_study(server: PeerServer) -> str:
    return next(i.study_instance_uid for i in server.instances
                if i.transfer_syntax_uid not in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
                                                 "1.2.840.10008.1.2.2"))


def _job(server: PeerServer, folder: Path, log: AssociationLog, study: str) -> RetrieveJob:
    node = RemoteNode(name=server.kind, ae_title=server.ae_title, host=server.host,
                      port=server.port)
    local = LocalAE(ae_title="QRSCOPE", storage_folder=folder)
    return RetrieveJob(node, local, log, RetrieveScope.study(study), method=RetrieveMethod.GET)


def _get_requests(log: AssociationLog, job: RetrieveJob) -> list:
    return [e for e in log.events(job_id=job.job_id)
            if e.kind == "dimse-sent" and e.summary.startswith("C-GET-RQ")]


def test_second_round_asks_only_for_what_did_not_arrive(dcmqrscp, tmp_path):
    study = _compressed_study(dcmqrscp)
    log = AssociationLog()
    job = _job(dcmqrscp, tmp_path, log, study)
    outcome = job.run()
    assert outcome.status == "success", outcome.to_dict()
    assert outcome.recovered, "the compressed instances came in the second round"
    retries = [e for e in log.events(job_id=job.job_id) if e.kind == "get-retry"]
    asked_again = {uid for e in retries for uid in e.detail["instances"]}
    assert asked_again and set(outcome.recovered) <= asked_again
    first_round = {r.sop_instance_uid for r in outcome.stored} - set(outcome.recovered)
    assert not asked_again & first_round, "an instance that had arrived was asked for again"


def test_cancel_during_the_second_round_stops_it(dcmqrscp, tmp_path):
    study = _compressed_study(dcmqrscp)
    log = AssociationLog()
    job = _job(dcmqrscp, tmp_path, log, study)
    sent_after_cancel: list[str] = []

    def on_event(event) -> None:
        if event.job_id != job.job_id:
            return
        if event.kind == "get-retry" and not job.cancelled:
            job.cancel()  # the user presses Cancel as the second round begins
        elif job.cancelled and event.kind == "dimse-sent" and "C-GET-RQ" in event.summary:
            sent_after_cancel.append(event.summary)

    unsubscribe = log.subscribe(on_event)
    try:
        outcome = job.run()
    finally:
        unsubscribe()
    assert outcome.status == "cancelled"
    assert sent_after_cancel == []
    assert len(_get_requests(log, job)) == 1
    assert outcome.missing
    assert {m.reason for m in outcome.missing} == {MissingReason.CANCELLED}


def _sr_series(folder: Path) -> tuple[str, list[Path]]:
    """One study, one series of Modality SR, one instance of each class above."""
    study, series = generate_uid(), generate_uid()
    files = []
    for number, sop_class in enumerate((BASIC_TEXT_SR, MAMMOGRAPHY_CAD_SR, STANDALONE_OVERLAY),
                                       start=1):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = generate_uid()
        ds.PatientName, ds.PatientID = "Unguessed^Class", "QRS-2901"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.StudyDate, ds.StudyID, ds.AccessionNumber = "20240102", "1", "QRS-A2901"
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "SR", 1, number
        path = folder / f"{number}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return study, files


@pytest.fixture(scope="module")
def unguessed(tmp_path_factory, move_destinations) -> Iterator[tuple[PeerServer, str]]:
    """A strict dcmqrscp holding the SR series of :func:`_sr_series`."""
    peers.find_dcmtk_tool("dcmqrscp") or pytest.skip("DCMTK not installed")
    folder = tmp_path_factory.mktemp("unguessed")
    study, files = _sr_series(folder)
    (folder / "server").mkdir()
    with peers.running_dcmqrscp(folder / "server", files, move_destinations) as server:
        yield server, study


def test_an_instance_of_a_class_nobody_names_is_offered_every_class_then_named_no_context(
        unguessed, tmp_path):
    server, study = unguessed
    by_class = {i.sop_class_uid: i.sop_instance_uid for i in server.instances}
    log = AssociationLog()
    job = _job(server, tmp_path, log, study)
    outcome = job.run()
    report = outcome.to_dict()
    # The SR table guesses Basic Text SR; Mammography CAD SR comes when every
    # storage class we know is offered; the retired class never can.
    assert {r.sop_instance_uid for r in outcome.stored} == \
        {by_class[BASIC_TEXT_SR], by_class[MAMMOGRAPHY_CAD_SR]}, report
    assert [(m.sop_instance_uid, m.reason) for m in outcome.missing] == \
        [(by_class[STANDALONE_OVERLAY], MissingReason.NO_CONTEXT)], report
    # Not asked for again in compressed syntaxes: the classes its series may
    # be are never compressed, so each such round would propose the same.
    retries = [e for e in log.events(job_id=job.job_id) if e.kind == "get-retry"]
    assert retries and all(not e.detail["syntax"] for e in retries), \
        [e.summary for e in retries]
    # The first C-GET, then the classes we know in associations of at most 63.
    assert len(_get_requests(log, job)) <= 1 + 3
