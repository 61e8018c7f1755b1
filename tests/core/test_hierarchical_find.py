"""Hierarchical search (PS3.4 C.4.1.2.2): the identifiers qrscope sends, and the
demo PACS refusing the ones a strict SCP (dcmqrscp --check-find) refuses."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)

from qrscope.core.dicom.records import InstanceRecord, QueryLevel, SeriesRecord, StudyRecord
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode
from qrscope.core.query.find import FindOperation, QueryFilter, build_identifier

STUDY_ROOT = StudyRootQueryRetrieveInformationModelFind
PATIENT_ROOT = PatientRootQueryRetrieveInformationModelFind


def _raw_find(demo, model: str, **keys) -> int:
    ae = AE("TESTSCU")
    ae.add_requested_context(model)
    assoc = ae.associate("127.0.0.1", demo.pacs.port, ae_title=demo.pacs.ae_title)
    assert assoc.is_established
    ds = Dataset()
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    try:
        responses = list(assoc.send_c_find(ds, model))
    finally:
        assoc.release()
    return int(responses[-1][0].Status)


def _one(demo, **where):
    return next(i for i in demo.pacs.instances
                if all(i.text(k) == v for k, v in where.items()))


def _sent(demo) -> list[dict]:
    return [e.detail["identifier"] for e in demo.log.events()
            if e.detail.get("message") == "C-FIND-RQ"]


@pytest.mark.parametrize(("model", "keys"), [
    (STUDY_ROOT, dict(QueryRetrieveLevel="SERIES", StudyInstanceUID="{study}",
                      SeriesInstanceUID="", PatientID="{patient}")),
    (STUDY_ROOT, dict(QueryRetrieveLevel="SERIES", StudyInstanceUID="{study}",
                      SeriesInstanceUID="", PatientName="")),
    (STUDY_ROOT, dict(QueryRetrieveLevel="SERIES", SeriesInstanceUID="")),
    (STUDY_ROOT, dict(QueryRetrieveLevel="IMAGE", StudyInstanceUID="{study}",
                      SeriesInstanceUID="{series}\\{other}", SOPInstanceUID="")),
    (STUDY_ROOT, dict(QueryRetrieveLevel="IMAGE", StudyInstanceUID="{study}",
                      SOPInstanceUID="")),
    (STUDY_ROOT, dict(QueryRetrieveLevel="IMAGE", StudyInstanceUID="{study}",
                      SeriesInstanceUID="{series}", SOPInstanceUID="", Modality="")),
    (STUDY_ROOT, dict(QueryRetrieveLevel="STUDY", StudyInstanceUID="", SOPClassUID="")),
    (PATIENT_ROOT, dict(QueryRetrieveLevel="STUDY", StudyInstanceUID="")),
    (PATIENT_ROOT, dict(QueryRetrieveLevel="STUDY", PatientID="QRS*",
                        StudyInstanceUID="")),
    (PATIENT_ROOT, dict(QueryRetrieveLevel="STUDY", PatientID="{patient}",
                        PatientName="", StudyInstanceUID="")),
])
def test_demo_pacs_refuses_what_hierarchical_search_forbids(demo, caplog, model, keys):
    first = _one(demo, AccessionNumber="ACC1002", SeriesNumber="3")
    other = _one(demo, AccessionNumber="ACC1002", SeriesNumber="1")
    values = {"study": first.text("StudyInstanceUID"), "patient": first.text("PatientID"),
              "series": first.text("SeriesInstanceUID"),
              "other": other.text("SeriesInstanceUID")}
    filled = {k: v.format(**values) for k, v in keys.items()}
    filled = {k: v.split("\\") if "\\" in v else v for k, v in filled.items()}
    assert _raw_find(demo, model, **filled) == 0xA900
    assert "refused" in caplog.text


def test_demo_pacs_answers_a_conformant_image_query_in_either_model(demo):
    first = _one(demo, AccessionNumber="ACC1002", SeriesNumber="3")
    keys = dict(QueryRetrieveLevel="IMAGE", StudyInstanceUID=first.text("StudyInstanceUID"),
                SeriesInstanceUID=first.text("SeriesInstanceUID"), SOPInstanceUID="",
                SOPClassUID="", Rows=None)
    assert _raw_find(demo, STUDY_ROOT, **keys) == 0
    assert _raw_find(demo, PATIENT_ROOT, PatientID=first.text("PatientID"), **keys) == 0


@pytest.mark.parametrize("model", [QueryModel.STUDY_ROOT, QueryModel.PATIENT_ROOT])
def test_identifiers_carry_only_the_level_keys_and_the_unique_keys_above(model):
    query = QueryFilter(patient_id="P1", study_uid="1.2", series_uid="1.2.3")
    series = build_identifier(QueryLevel.SERIES, query, model)
    image = build_identifier(QueryLevel.IMAGE, query, model)
    top = ["PatientID"] if model is QueryModel.PATIENT_ROOT else []
    assert {e.keyword for e in series} == {
        "QueryRetrieveLevel", "SpecificCharacterSet", *top, "StudyInstanceUID",
        "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription", "SeriesDate",
        "BodyPartExamined", "NumberOfSeriesRelatedInstances"}
    assert {e.keyword for e in image} == {
        "QueryRetrieveLevel", "SpecificCharacterSet", *top, "StudyInstanceUID",
        "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "InstanceNumber"}
    assert image.SeriesInstanceUID == "1.2.3" and image.StudyInstanceUID == "1.2"


def test_image_find_over_two_series_runs_one_request_per_series_on_one_association(demo):
    first = _one(demo, AccessionNumber="ACC1002", SeriesNumber="3")
    other = _one(demo, AccessionNumber="ACC1002", SeriesNumber="1")
    series = [first.text("SeriesInstanceUID"), other.text("SeriesInstanceUID")]
    result = FindOperation(demo.node, demo.local, demo.log, QueryLevel.IMAGE, QueryFilter(
        study_uid=first.text("StudyInstanceUID"), series_uid="\\".join(series))).run()
    assert result.status.code == 0
    expected = {i.text("SOPInstanceUID") for i in demo.pacs.instances
                if i.text("SeriesInstanceUID") in series}
    assert {r.sop_instance_uid for r in result.records} == expected
    assert [s["SeriesInstanceUID"] for s in _sent(demo)] == series
    assert [e.kind for e in demo.log.events()].count("established") == 1


def test_image_find_without_a_series_walks_the_series_of_the_study(demo):
    # What retrieve planning and the doctor ask: instances of a study.
    study = _one(demo, AccessionNumber="ACC1001")
    result = FindOperation(demo.node, demo.local, demo.log, QueryLevel.IMAGE, QueryFilter(
        study_uid=study.text("StudyInstanceUID"), patient_id=study.text("PatientID"))).run()
    assert result.status.code == 0
    members = [i for i in demo.pacs.instances
               if i.text("StudyInstanceUID") == study.text("StudyInstanceUID")]
    assert len(result.records) == len(members)
    assert all(isinstance(r, InstanceRecord) and r.sop_class_uid and r.series_uid
               for r in result.records)
    levels = [s["QueryRetrieveLevel"] for s in _sent(demo)]
    assert levels[:2] == ["STUDY", "SERIES"] and set(levels[2:]) == {"IMAGE"}


def test_patient_root_study_rows_keep_the_patient_name(demo):
    node = replace(demo.node, query_model=QueryModel.PATIENT_ROOT)
    result = FindOperation(node, demo.local, demo.log, QueryLevel.STUDY,
                           QueryFilter(patient_id="QRS-1001")).run()
    assert result.status.code == 0 and result.records
    assert all(isinstance(s, StudyRecord) and s.patient_name == "Doe^Jane"
               for s in result.records)
    study_rq = [s for s in _sent(demo) if s["QueryRetrieveLevel"] == "STUDY"]
    assert study_rq and all("PatientName" not in s for s in study_rq)


def test_series_find_filtered_by_a_study_key_asks_the_studies_first(demo):
    result = FindOperation(demo.node, demo.local, demo.log, QueryLevel.SERIES,
                           QueryFilter(patient_name="Doe^Jane", modalities=("MR",))).run()
    assert result.status.code == 0
    expected = {i.text("SeriesInstanceUID") for i in demo.pacs.instances
                if i.text("PatientName") == "Doe^Jane" and i.text("Modality") == "MR"}
    assert expected and {r.series_uid for r in result.records} == expected
    assert all(isinstance(r, SeriesRecord) and r.modality == "MR" for r in result.records)


def test_a_walk_whose_later_request_goes_unanswered_is_not_a_complete_success():
    # Patient Root, study level, no Patient ID: patients first, then each one's
    # studies. The PACS answers the first patient's studies and aborts on the
    # second: a list with one patient's studies must not end as success.
    calls = []

    def on_find(event):
        calls.append(event.identifier.QueryRetrieveLevel)
        if event.identifier.QueryRetrieveLevel == "PATIENT":
            for pid in ("P1", "P2"):
                ds = Dataset()
                ds.QueryRetrieveLevel, ds.PatientID, ds.PatientName = "PATIENT", pid, pid
                yield 0xFF00, ds
            return
        if len(calls) > 2:
            event.assoc.abort()
            return
        ds = Dataset()
        ds.QueryRetrieveLevel, ds.PatientID = "STUDY", event.identifier.PatientID
        ds.StudyInstanceUID = "1.2.3.4"
        yield 0xFF00, ds

    ae = AE("WALKER")
    ae.add_supported_context(PATIENT_ROOT)
    server = ae.start_server(("127.0.0.1", 0), block=False,
                             evt_handlers=[(evt.EVT_C_FIND, on_find)])
    try:
        node = RemoteNode(name="walker", ae_title="WALKER", host="127.0.0.1",
                          port=server.server_address[1], query_model=QueryModel.PATIENT_ROOT)
        result = FindOperation(node, LocalAE(ae_title="QRSCOPE"), AssociationLog(),
                               QueryLevel.STUDY, QueryFilter()).run()
    finally:
        server.shutdown()
    assert calls == ["PATIENT", "STUDY", "STUDY"]
    assert len(result.records) == 1
    assert result.unanswered and result.failed
