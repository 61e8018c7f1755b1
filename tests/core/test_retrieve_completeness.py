"""A retrieve brings the whole scope or names what is missing, and each instance finds its job.

Against the demo PACS (pynetdicom, which fills the Move Originator fields of
its sub-operations); the real servers are in tests/interop.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from tests.core.test_job_matching import _instance

from qrscope.core.net.association_log import Direction
from qrscope.core.profiles import RetrieveMethod
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import (
    MissingInstance,
    MissingReason,
    RetrieveOutcome,
    RetrieveScope,
)
from qrscope.demo_pacs import query as demo_query


def _largest_study(demo) -> str:
    return max({i.text("StudyInstanceUID") for i in demo.pacs.instances},
               key=lambda uid: sum(i.text("StudyInstanceUID") == uid
                                   for i in demo.pacs.instances))


def _instances_of(demo, study_uid: str) -> set[str]:
    return {i.text("SOPInstanceUID") for i in demo.pacs.instances
            if i.text("StudyInstanceUID") == study_uid}


def test_two_retrieves_of_one_study_on_one_listener_each_get_their_own(demo):
    study = _largest_study(demo)
    outcomes: dict[str, RetrieveOutcome] = {}
    with StorageListener(demo.local, demo.log) as listener:
        jobs = [RetrieveJob(demo.node, demo.local, demo.log, RetrieveScope.study(study),
                            listener=listener) for _ in range(2)]
        threads = [threading.Thread(target=lambda j=j: outcomes.__setitem__(j.job_id, j.run()))
                   for j in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert listener.unexpected == []
    expected = _instances_of(demo, study)
    for job in jobs:
        outcome = outcomes[job.job_id]
        assert outcome.status == "success", outcome.to_dict()
        assert {r.sop_instance_uid for r in outcome.stored} == expected
        # Each instance was credited by the Message ID of the request that caused it.
        assert {r.originator_message_id for r in outcome.stored} <= job._message_ids
        assert all(r.job_id == job.job_id for r in outcome.received)


def test_an_instance_naming_another_request_is_not_claimed_by_scope(demo):
    study = _largest_study(demo)
    job = RetrieveJob(demo.node, demo.local, demo.log, RetrieveScope.study(study))
    request = job._request(job.scope)  # made, not yet sent
    instance = next(i for i in demo.pacs.instances if i.text("StudyInstanceUID") == study)
    ours = replace(_instance(sop=instance.text("SOPInstanceUID"), study=study,
                             series=instance.text("SeriesInstanceUID"),
                             originator="QRSCOPE", msg=request.message_id),
                   calling_ae=demo.node.ae_title)
    theirs = replace(ours, originator_message_id=request.message_id + 1)
    elsewhere = replace(ours, originator_ae="OTHERWS")
    assert job.claim_score(ours, "QRSCOPE") == 100  # known before the request left
    # Same study, another request: the job that made it claims it surely and wins;
    # this one only by UIDs, as from a PACS that fills the fields wrongly.
    other = RetrieveJob(demo.node, demo.local, demo.log, RetrieveScope.study(study))
    other._message_ids.add(request.message_id + 1)
    assert other.claim_score(theirs, "QRSCOPE") == 100 > job.claim_score(theirs, "QRSCOPE")
    assert job.claim_score(elsewhere, "QRSCOPE") == 0  # another workstation's move
    anonymous = replace(ours, originator_ae="", originator_message_id=None)
    assert job.claim_score(anonymous, "QRSCOPE") > 0  # only then do the UIDs decide
    stranger = replace(anonymous, calling_ae="FORGER")
    assert job.claim_score(stranger, "QRSCOPE") == 0  # and only from our node


def test_full_disk_during_c_get_is_not_asked_for_again(demo, tiny_disk):
    local = replace(demo.local, storage_folder=tiny_disk)
    study = _largest_study(demo)
    job = RetrieveJob(demo.node, local, demo.log, RetrieveScope.study(study),
                      method=RetrieveMethod.GET)
    outcome = job.run()
    gets = [e for e in demo.log.events(job_id=job.job_id)
            if e.direction is Direction.OUTGOING and e.kind == "dimse-sent"
            and "C-GET" in e.summary]
    assert len(gets) == 1, [e.summary for e in gets]
    assert not [e for e in demo.log.events(job_id=job.job_id) if e.kind == "get-retry"]
    reasons = {m.reason for m in outcome.missing}
    assert MissingReason.NOT_STORED in reasons
    assert {m.sop_instance_uid for m in outcome.missing} == \
        _instances_of(demo, study) - {r.sop_instance_uid for r in outcome.stored}


def _finds(demo) -> list[str]:
    return [e.summary for e in demo.log.events()
            if e.kind == "dimse-sent" and "C-FIND" in e.summary]


def test_c_get_learns_the_instances_level_by_level_and_names_none_missing(demo, monkeypatch):
    # A PACS that does not answer SOP Classes in Study (DCMTK's dcmqrscp).
    monkeypatch.delitem(demo_query._COMPUTED, "SOPClassesInStudy")
    study = _largest_study(demo)
    job = RetrieveJob(demo.node, demo.local, demo.log, RetrieveScope.study(study),
                      method=RetrieveMethod.GET)
    outcome = job.run()
    assert outcome.status == "success", outcome.to_dict()
    assert job.plan is not None and job.plan.classes_exact and not job.plan.classes_named
    assert outcome.expected == len(_instances_of(demo, study)) == len(outcome.stored)
    assert outcome.missing == []
    assert len(_finds(demo)) >= 3, "study, series and instances were looked up first"


def test_c_get_asks_with_the_classes_the_study_names_and_lists_nothing_more(demo):
    study = _largest_study(demo)
    job = RetrieveJob(demo.node, demo.local, demo.log, RetrieveScope.study(study),
                      method=RetrieveMethod.GET)
    outcome = job.run()
    assert outcome.status == "success", outcome.to_dict()
    assert job.plan is not None and job.plan.classes_named
    assert set(job.plan.sop_classes) == {i.text("SOPClassUID") for i in demo.pacs.instances
                                         if i.text("StudyInstanceUID") == study}
    assert outcome.expected == len(_instances_of(demo, study)) == len(outcome.stored)
    assert outcome.missing == []
    assert len(_finds(demo)) == 1, "one study-level look-up, no series or instances"
    proposed = job._proposed()
    assert proposed == set(job.plan.sop_classes), "exactly the classes the PACS named"


def test_a_c_get_short_of_the_studys_count_lists_the_instances_and_asks_again(
        demo, monkeypatch):
    # A PACS whose SOP Classes in Study leaves one class out: its instances
    # cannot come on the first association, so the study is listed and they
    # are asked for again with their own class.
    study = _largest_study(demo)
    classes = sorted({i.text("SOPClassUID") for i in demo.pacs.instances
                      if i.text("StudyInstanceUID") == study})
    assert len(classes) > 1
    left_out = classes[-1]
    named = demo_query._COMPUTED["SOPClassesInStudy"]

    def short_list(index, record):
        attribute = named(index, record)
        values = tuple(v for v in attribute.strings if v != left_out)
        return attribute._replace(value=values, strings=values)

    monkeypatch.setitem(demo_query._COMPUTED, "SOPClassesInStudy", short_list)
    job = RetrieveJob(demo.node, demo.local, demo.log, RetrieveScope.study(study),
                      method=RetrieveMethod.GET)
    outcome = job.run()
    assert outcome.status == "success", outcome.to_dict()
    assert {r.sop_instance_uid for r in outcome.stored} == _instances_of(demo, study)
    assert outcome.missing == []
    assert job.plan is not None and not job.plan.classes_named, "listed after the short round"
    assert len(_finds(demo)) >= 3
    assert [e for e in demo.log.events(job_id=job.job_id) if e.kind == "get-retry"]


def test_a_retry_asks_for_exactly_what_is_missing():
    scope = RetrieveScope.study("1.2.3", patient_id="P1", modalities=("CT",))
    outcome = RetrieveOutcome(job_id="job-x", method=RetrieveMethod.GET, missing=[
        MissingInstance("1.2.3.1.1", MissingReason.FAILED_AT_PACS, "", "1.2.840.10008.5.1.4.1.1.2",
                        "1.2.3.1"),
        MissingInstance("1.2.3.1.2", MissingReason.NOT_SENT, "", "1.2.840.10008.5.1.4.1.1.2",
                        "1.2.3.1"),
        MissingInstance("1.2.3.2.1", MissingReason.NOT_STORED, "", "1.2.840.10008.5.1.4.1.1.4",
                        "1.2.3.2"),
    ])
    scopes = outcome.retry_scopes(scope)
    assert [(s.series_uids, s.instance_uids) for s in scopes] == [
        (("1.2.3.1",), ("1.2.3.1.1", "1.2.3.1.2")), (("1.2.3.2",), ("1.2.3.2.1",))]
    assert all(s.patient_id == "P1" for s in scopes)
    assert scopes[1].sop_classes == ("1.2.840.10008.5.1.4.1.1.4",)
    # Gaps that cannot be placed in a series: the whole scope again.
    unplaced = replace(outcome, missing=[MissingInstance("1.2.3.9", MissingReason.FAILED_AT_PACS)])
    assert unplaced.retry_scopes(scope) == [scope]


def test_a_c_get_the_pacs_refuses_outright_is_not_asked_for_again(sample_folder, tmp_path):
    from tests.demo_site import start_demo_site

    from qrscope.demo_pacs import DemoPacsBehaviour

    site = start_demo_site(sample_folder, tmp_path, DemoPacsBehaviour(refuse_retrieves_with=0xA701))
    try:
        study = _largest_study(site)
        job = RetrieveJob(site.node, site.local, site.log, RetrieveScope.study(study),
                          method=RetrieveMethod.GET)
        outcome = job.run()
    finally:
        site.pacs.stop()
    assert outcome.status == "failed" and outcome.final_status.code == 0xA701
    gets = [e for e in site.log.events(job_id=job.job_id)
            if e.kind == "dimse-sent" and "C-GET" in e.summary]
    assert len(gets) == 1


def test_a_long_uid_from_the_pacs_does_not_stop_a_c_get(demo):
    # A look-up the planner cannot make leaves the plan incomplete; the C-GET still runs.
    from qrscope.core.retrieve.plan import RetrievePlanner

    study = _largest_study(demo)
    planner = RetrievePlanner(demo.node, demo.local, demo.log)
    scope = RetrieveScope.series(study, "1." + "2" * 70)
    plan = planner.learn(scope)
    assert not plan.complete and plan.instances == ()


def test_cancel_after_the_end_changes_nothing(demo):
    job = RetrieveJob(demo.node, demo.local, demo.log,
                      RetrieveScope.study(_largest_study(demo)), method=RetrieveMethod.GET)
    outcome = job.run()
    job.cancel()
    assert job.state.value == outcome.status == "success"


def test_the_planners_study_look_up_finds_the_study_and_learns_its_patient(demo):
    # The look-up asks for one study: reaching that limit is finding it, not a refusal.
    from qrscope.core.net.association_log import AssociationLog
    from qrscope.core.profiles import QueryModel
    from qrscope.core.retrieve.plan import RetrievePlanner

    study = _largest_study(demo)
    patient_id = next(i.text("PatientID") for i in demo.pacs.instances
                      if i.text("StudyInstanceUID") == study)
    for model in (QueryModel.STUDY_ROOT, QueryModel.PATIENT_ROOT):
        node = replace(demo.node, query_model=model)
        planner = RetrievePlanner(node, demo.local, demo.log)
        found = planner._study(RetrieveScope.study(study))
        assert found is not None and found.study_uid == study, model
        plan = planner.learn(RetrieveScope.study(study))
        assert plan.scope.patient_id == patient_id, model
        assert plan.request_scope().patient_id == patient_id, model
        assert plan.study_instances == len(_instances_of(demo, study)) == plan.expected
    # With the Patient ID known, no request lists the patients: every one is
    # that patient's (the study look-up asks for its name and sex by its ID).
    node = replace(demo.node, query_model=QueryModel.PATIENT_ROOT)
    log = AssociationLog()
    RetrievePlanner(node, demo.local, log).learn(
        RetrieveScope.study(study, patient_id=patient_id))
    asked = [e.detail.get("identifier", {}) for e in log.events()
             if e.kind == "dimse-sent" and "C-FIND" in e.summary]
    assert asked and all(i.get("PatientID") == patient_id for i in asked)
    # The walk over the patients (Patient Root, a PACS without Study Root)
    # stops at the limit: reaching it is finding, not a refusal.
    from qrscope.core.dicom.records import QueryLevel
    from qrscope.core.query.find import QueryFilter

    found = RetrievePlanner(demo.node, demo.local, demo.log)._find(
        QueryLevel.STUDY, QueryFilter(), 1)
    assert found is not None and len(found) == 1


def test_classes_a_series_cannot_fit_in_one_association_come_on_another(tmp_path):
    # One series of 65 classes: one C-GET association carries 63 of them. The
    # two left out are asked for on a second association with their classes;
    # if that fails they are "not proposed", not "the PACS accepted no
    # context for them".
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    from tests.demo_site import start_demo_site

    from qrscope.core.retrieve.contexts import MAX_CLASSES, every_storage_class

    folder = tmp_path / "series"
    folder.mkdir()
    study, series = generate_uid(), generate_uid()
    classes = [str(c) for c in every_storage_class()[:MAX_CLASSES + 2]]
    for number, sop_class in enumerate(classes, start=1):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
        ds.PatientName, ds.PatientID = "Many^Classes", "QRS-2902"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality, ds.InstanceNumber = "OT", number
        ds.save_as(folder / f"{number}.dcm", enforce_file_format=True)
    site = start_demo_site(folder, tmp_path / "received")
    try:
        job = RetrieveJob(site.node, site.local, site.log,
                          RetrieveScope.series(study, series), method=RetrieveMethod.GET)
        outcome = job.run()
    finally:
        site.pacs.stop()
    assert len(outcome.stored) == MAX_CLASSES + 2, outcome.to_dict()
    assert outcome.status == "success" and outcome.missing == []
    retries = [e for e in site.log.events(job_id=job.job_id) if e.kind == "get-retry"]
    assert len(retries) == 1 and "2 instance(s)" in retries[0].summary


class _PatientRootOnlyScp:
    """An archive that offers Patient Root C-FIND only: two patients, the study under
    the second. Records the level and Patient ID of every C-FIND it answers."""

    STUDY = "1.2.826.0.1.3680043.9.7.1"

    def __init__(self) -> None:
        from pynetdicom import AE, evt
        from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelFind
        from tests.demo_site import free_port

        self.requests: list[tuple[str, str]] = []
        self.ae = AE("PRONLY")
        self.ae.add_supported_context(PatientRootQueryRetrieveInformationModelFind)
        self.port = free_port()
        self.server = self.ae.start_server(("127.0.0.1", self.port), block=False,
                                           evt_handlers=[(evt.EVT_C_FIND, self._find)])

    def _find(self, event):
        from pydicom.dataset import Dataset

        asked = event.identifier
        level, patient = str(asked.QueryRetrieveLevel), str(asked.get("PatientID", ""))
        self.requests.append((level, patient))
        if level == "PATIENT":
            for patient_id in ("P1", "P2"):
                answer = Dataset()
                answer.QueryRetrieveLevel, answer.PatientID = "PATIENT", patient_id
                yield 0xFF00, answer
        elif level == "STUDY" and patient == "P2":
            answer = Dataset()
            answer.QueryRetrieveLevel, answer.PatientID = "STUDY", "P2"
            answer.StudyInstanceUID = self.STUDY
            yield 0xFF00, answer


def test_a_patient_root_only_archive_is_walked_for_the_patient_id(tmp_path):
    # Study Root is refused; the walk over its patients finds the study
    # under the second and stops there.
    from qrscope.core.net.association_log import AssociationLog
    from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode
    from qrscope.core.retrieve.plan import RetrievePlanner

    scp = _PatientRootOnlyScp()
    node = RemoteNode(name="Archive", ae_title="PRONLY", host="127.0.0.1", port=scp.port,
                      query_model=QueryModel.PATIENT_ROOT)
    try:
        planner = RetrievePlanner(node, LocalAE(storage_folder=tmp_path), AssociationLog())
        patient_id = planner.patient_id(RetrieveScope.study(scp.STUDY))
    finally:
        scp.server.shutdown()
    assert patient_id == "P2"
    assert scp.requests[:3] == [("PATIENT", ""), ("STUDY", "P1"), ("STUDY", "P2")]


def test_an_instance_of_a_class_never_proposed_is_named_so():
    from qrscope.core.retrieve.plan import PlannedInstance, RetrievePlan
    from qrscope.core.retrieve.recovery import missing_instances

    ct, sr = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.88.11"
    plan = RetrievePlan(RetrieveScope.study("1.2.3"), (
        PlannedInstance("1.2.3.1.1", ct, "1.2.3.1"),
        PlannedInstance("1.2.3.1.2", sr, "1.2.3.1")), complete=True)
    missing = missing_instances(plan, [], [], {ct: {"1.2.840.10008.1.2.1"}}, False,
                                proposed={ct})
    reasons = {m.sop_instance_uid: m.reason for m in missing}
    assert reasons == {"1.2.3.1.1": MissingReason.NOT_SENT,
                       "1.2.3.1.2": MissingReason.NOT_PROPOSED}


def test_an_instance_of_a_class_the_pacs_gave_us_no_scp_role_for_is_named_so():
    """Orthanc 1.10 accepts a private class for C-GET but leaves our SCP role
    unanswered; stock pynetdicom then refuses its C-STOREs before any handler
    sees them. The PACS counts them as failed, but the cause is on our side of
    the role negotiation, and the user is told so, not "failed at the PACS"."""
    from qrscope.core.retrieve.plan import PlannedInstance, RetrievePlan
    from qrscope.core.retrieve.recovery import missing_instances

    ct, private = "1.2.840.10008.5.1.4.1.1.2", "1.2.826.0.1.3680043.8.498.1"
    plan = RetrievePlan(RetrieveScope.study("1.2.3"), (
        PlannedInstance("1.2.3.1.1", ct, "1.2.3.1"),
        PlannedInstance("1.2.3.1.2", private, "1.2.3.1")), complete=True)
    missing = missing_instances(plan, [], [], {ct: {"1.2.840.10008.1.2.1"}}, False,
                                unnamed_failures=1, proposed={ct, private},
                                roleless={private})
    by_uid = {m.sop_instance_uid: m for m in missing}
    assert by_uid["1.2.3.1.2"].reason is MissingReason.NO_CONTEXT
    assert "SCP role" in by_uid["1.2.3.1.2"].detail and "C-MOVE" in by_uid["1.2.3.1.2"].detail
    # The PACS's one unnamed failure is not pinned on the CT, which it may still send.
    assert by_uid["1.2.3.1.1"].reason is MissingReason.NOT_SENT
