"""C-FIND through qrscope.core against the demo PACS: levels, models, keys, limits."""

from __future__ import annotations

from dataclasses import replace

from qrscope.core.dicom.records import (
    InstanceRecord,
    PatientRecord,
    QueryLevel,
    SeriesRecord,
    StudyRecord,
)
from qrscope.core.profiles import QueryModel
from qrscope.core.query.find import FindOperation, QueryFilter


def _find(demo, level, node=None, **keys):
    return FindOperation(node or demo.node, demo.local, demo.log, level,
                         QueryFilter(**keys)).run()


def test_all_studies_arrive_typed_with_counts(demo):
    result = _find(demo, QueryLevel.STUDY)
    assert result.status.code == 0
    studies = result.records
    expected = {i.text("StudyInstanceUID") for i in demo.pacs.instances}
    assert {s.study_uid for s in studies} == expected
    for study in studies:
        assert isinstance(study, StudyRecord)
        members = [i for i in demo.pacs.instances
                   if i.text("StudyInstanceUID") == study.study_uid]
        assert study.number_of_instances == len(members)
        assert study.modalities and study.sop_classes and study.patient_name


def test_wildcard_name_and_non_ascii_names_are_decoded(demo):
    result = _find(demo, QueryLevel.STUDY, patient_name="Mü*")
    assert result.records and all(r.patient_name.startswith("Müller") for r in result.records)


def test_date_range_and_modality(demo):
    everything = _find(demo, QueryLevel.STUDY).records
    dates = sorted(s.study_date for s in everything)
    ranged = _find(demo, QueryLevel.STUDY, study_date=f"{dates[1]}-{dates[-2]}").records
    assert {s.study_date for s in ranged} == set(dates[1:-1])
    ct = _find(demo, QueryLevel.STUDY, modalities=("CT",)).records
    assert ct and all("CT" in s.modalities for s in ct)
    either = _find(demo, QueryLevel.STUDY, modalities=("CT", "MR")).records
    assert {s.study_uid for s in either} >= {s.study_uid for s in ct}
    assert all({"CT", "MR"} & set(s.modalities) for s in either)


def test_drill_down_series_then_instances(demo):
    study = _find(demo, QueryLevel.STUDY, modalities=("CT",)).records[0]
    series = _find(demo, QueryLevel.SERIES, study_uid=study.study_uid).records
    assert series and all(isinstance(s, SeriesRecord) for s in series)
    assert all(s.study_uid == study.study_uid for s in series)
    first = series[0]
    images = _find(demo, QueryLevel.IMAGE, study_uid=study.study_uid,
                   series_uid=first.series_uid).records
    assert len(images) == first.number_of_instances
    assert all(isinstance(i, InstanceRecord) and i.sop_class_uid for i in images)


def test_patient_root_two_step_search_finds_the_same_studies(demo):
    patient_root = replace(demo.node, query_model=QueryModel.PATIENT_ROOT)
    patients = _find(demo, QueryLevel.PATIENT, node=patient_root).records
    assert patients and all(isinstance(p, PatientRecord) for p in patients)
    via_patients = _find(demo, QueryLevel.STUDY, node=patient_root, patient_name="*").records
    direct = _find(demo, QueryLevel.STUDY).records
    assert {s.study_uid for s in via_patients} == {s.study_uid for s in direct}


def test_limit_stops_the_query_with_c_cancel(demo):
    result = FindOperation(demo.node, demo.local, demo.log, QueryLevel.IMAGE,
                           QueryFilter(), limit=3).run()
    assert result.truncated and result.count == 3 and len(result.records) == 3
    sent = [e for e in demo.log.events() if e.kind == "dimse-sent"]
    assert any(e.detail.get("message") == "C-CANCEL-RQ" for e in sent)


def test_results_stream_to_the_callback_as_they_arrive(demo):
    seen = []
    result = FindOperation(demo.node, demo.local, demo.log, QueryLevel.STUDY,
                           QueryFilter()).run(on_record=seen.append)
    assert len(seen) == result.count and result.records == []


def test_find_is_recorded_in_the_association_log(demo):
    _find(demo, QueryLevel.STUDY, patient_name="Doe*")
    kinds = [e.kind for e in demo.log.events()]
    for kind in ("requested", "accepted", "established", "dimse-sent", "dimse-received",
                 "release-requested", "released"):
        assert kind in kinds
    request = next(e for e in demo.log.events() if e.detail.get("message") == "C-FIND-RQ")
    assert request.detail["identifier"]["PatientName"] == "Doe*"
