"""Queries against DCMTK dcmqrscp in strict mode (``--check-find``).

dcmqrscp --check-find answers 0xA900 to any identifier that breaks
hierarchical search (PS3.4 C.4.1.2.2): a key of another level, or a missing
or empty unique key of a level above. Study, series and image level finds
in both models, the window's drill-down, and the instance look-ups of
retrieve planning must all succeed against it.

The server is the shared dcmqrscp fixture, which runs in that mode.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from qrscope.core.dicom.records import InstanceRecord, QueryLevel, SeriesRecord, StudyRecord
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode, RetrieveMethod
from qrscope.core.query.find import FindOperation, QueryFilter
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.ui.widgets.search_panel import SearchPanel

from . import peers


@pytest.fixture(scope="module")
def strict(dcmqrscp: peers.PeerServer) -> tuple[int, list]:
    """The shared dcmqrscp fixture, which runs with --check-find and --check-move."""
    return dcmqrscp.port, list(dcmqrscp.instances)


def _site(strict, model: QueryModel, tmp_path: Path):
    port, instances = strict
    node = RemoteNode(name="strict", ae_title=peers.DCMQRSCP_AE_TITLE, host=peers.HOST,
                      port=port, query_model=model)
    local = LocalAE(ae_title="QRSCOPE", storage_folder=tmp_path)
    return node, local, AssociationLog(), instances


def _find(node, local, log, level, **keys):
    result = FindOperation(node, local, log, level, QueryFilter(**keys)).run()
    assert result.status is not None and result.status.code == 0, result.status
    return result.records


MODELS = [QueryModel.STUDY_ROOT, QueryModel.PATIENT_ROOT]


@pytest.mark.parametrize("model", MODELS)
def test_study_series_and_image_finds_succeed(strict, tmp_path, model):
    node, local, log, instances = _site(strict, model, tmp_path)
    studies = _find(node, local, log, QueryLevel.STUDY)
    assert {s.study_uid for s in studies} == {i.study_instance_uid for i in instances}
    assert all(isinstance(s, StudyRecord) and s.patient_name for s in studies)
    study = studies[0]
    series = _find(node, local, log, QueryLevel.SERIES, study_uid=study.study_uid,
                   patient_id=study.patient_id)
    assert series and all(isinstance(s, SeriesRecord) and s.modality for s in series)
    images = _find(node, local, log, QueryLevel.IMAGE, study_uid=study.study_uid,
                   series_uid=series[0].series_uid, patient_id=study.patient_id)
    # dcmqrscp returns no SOP Class UID: the key is not in its table of supported keys.
    assert images and all(isinstance(i, InstanceRecord) and i.sop_instance_uid and
                          i.series_uid == series[0].series_uid for i in images)


@pytest.mark.parametrize("model", MODELS)
def test_the_windows_drill_down_succeeds(strict, tmp_path, model):
    node, local, log, _ = _site(strict, model, tmp_path)
    study = _find(node, local, log, QueryLevel.STUDY)[0]
    below = SearchPanel._below(node, study)
    series = FindOperation(node, local, log, QueryLevel.SERIES, below).run()
    assert series.status.code == 0 and series.records
    images = FindOperation(node, local, log, QueryLevel.IMAGE, replace(
        below, series_uid=series.records[0].series_uid)).run()
    assert images.status.code == 0 and images.records


@pytest.mark.parametrize("model", MODELS)
def test_instances_of_several_series_or_of_a_whole_study_are_found(strict, tmp_path, model):
    # What retrieve planning asks before a C-GET, and the doctor before its test move.
    node, local, log, instances = _site(strict, model, tmp_path)
    by_study: dict[str, set[str]] = {}
    for instance in instances:
        by_study.setdefault(instance.study_instance_uid, set()).add(instance.sop_instance_uid)
    study = _find(node, local, log, QueryLevel.STUDY)[0]
    whole = _find(node, local, log, QueryLevel.IMAGE, study_uid=study.study_uid,
                  patient_id=study.patient_id)
    assert {i.sop_instance_uid for i in whole} == by_study[study.study_uid]
    series = sorted({i.series_uid for i in whole if isinstance(i, InstanceRecord)})
    two = _find(node, local, log, QueryLevel.IMAGE, study_uid=study.study_uid,
                patient_id=study.patient_id, series_uid="\\".join(series[:2]))
    assert {i.series_uid for i in two} == set(series[:2])


@pytest.mark.parametrize("method", [RetrieveMethod.MOVE, RetrieveMethod.GET])
def test_a_patient_root_study_retrieve_without_patient_id_brings_every_instance(
        dcmqrscp, tmp_path, method):
    # --check-move refuses (0xA900) a Patient Root identifier whose Patient ID
    # is empty (PS3.4 C.4.1.2.2 asks for the unique key of each level above):
    # qrscope must learn the study's Patient ID before it asks.
    study_uid = dcmqrscp.study_uids[0]
    expected = {i.sop_instance_uid for i in dcmqrscp.study(study_uid)}
    node = RemoteNode(name="strict", ae_title=dcmqrscp.ae_title, host=dcmqrscp.host,
                      port=dcmqrscp.port, query_model=QueryModel.PATIENT_ROOT)
    local = LocalAE(ae_title="QRSCOPE", listener_port=dcmqrscp.peer_listener_port,
                    bind_address="127.0.0.1", storage_folder=tmp_path)
    log = AssociationLog()
    scope = RetrieveScope.study(study_uid)
    if method is RetrieveMethod.GET:
        outcome = RetrieveJob(node, local, log, scope, method=method).run()
    else:
        with StorageListener(local, log) as listener:
            outcome = RetrieveJob(node, local, log, scope, method=method,
                                  listener=listener).run()
    assert outcome.status == "success", (outcome.to_dict(), dcmqrscp.log_path)
    assert {r.sop_instance_uid for r in outcome.stored} == expected
    # The Patient ID was learnt from the study, not by listing every patient.
    patient_finds = [e for e in log.events() if e.kind == "dimse-sent" and "C-FIND" in
                     e.summary and e.detail.get("identifier", {}).get(
                         "QueryRetrieveLevel") == "PATIENT"]
    assert patient_finds == []
