"""The demo PACS's own promises: its sample set, its lifecycle, its read-only store."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom import uid
from pydicom.dataset import Dataset
from pynetdicom import (
    AE,
    ALL_TRANSFER_SYNTAXES,
    AllStoragePresentationContexts,
    build_role,
    evt,
)
from pynetdicom.sop_class import (
    BasicTextSRStorage,
    CTImageStorage,
    MRImageStorage,
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from qrscope.demo_pacs import DemoPacs, DemoPacsBehaviour, build_sample_studies


def test_samples_are_deterministic_and_cover_the_transfer_syntaxes(tmp_path):
    first = build_sample_studies(tmp_path / "a")
    second = build_sample_studies(tmp_path / "b")
    uids_a = sorted(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in first)
    uids_b = sorted(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in second)
    assert uids_a == uids_b and len(set(uids_a)) == len(uids_a) >= 40
    datasets = [pydicom.dcmread(p, stop_before_pixels=True) for p in first]
    syntaxes = {ds.file_meta.TransferSyntaxUID for ds in datasets}
    assert {uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian, uid.JPEGBaseline8Bit,
            uid.JPEG2000Lossless, uid.JPEGLSLossless, uid.RLELossless} <= syntaxes
    assert len({ds.PatientID for ds in datasets}) >= 4
    assert len({ds.StudyInstanceUID for ds in datasets}) >= 6
    assert {"CT", "MR", "SR"} <= {ds.Modality for ds in datasets}
    assert any(ds.SpecificCharacterSet == "ISO_IR 192" and not str(ds.PatientName).isascii()
               for ds in datasets)


def test_bundled_samples_live_in_a_private_folder_removed_on_stop():
    pacs = DemoPacs(port=0)
    pacs.start()
    try:
        assert pacs.is_running and pacs.port > 0 and pacs.instances
        folder = pacs.instances[0].path.parents[3]
        assert folder.exists()
    finally:
        pacs.stop()
    assert not pacs.is_running and not folder.exists()


def test_demo_pacs_refuses_to_store(demo):
    sender = AE(ae_title="PUSHER")
    sender.add_requested_context(CTImageStorage, uid.ExplicitVRLittleEndian)
    ct = next(i for i in demo.pacs.instances if i.sop_class_uid == CTImageStorage
              and i.transfer_syntax == uid.ExplicitVRLittleEndian)
    assoc = sender.associate("127.0.0.1", demo.pacs.port, ae_title=demo.pacs.ae_title)
    assert assoc.is_established
    status = assoc.send_c_store(pydicom.dcmread(ct.path))
    assoc.release()
    assert status.Status == 0x0124  # refused: not authorised (the demo is read-only)


# -- The protocol, seen from a plain pynetdicom SCU ---------------------------
#
# One demo PACS and one move destination serve the whole module: starting
# and stopping pynetdicom servers costs half a second each (socketserver's
# poll interval), and none of these tests changes either server.

SCU_AE = "TESTSCU"
DEST_AE = "MOVEDEST"
FIND_MODELS = {"PATIENT_ROOT": PatientRootQueryRetrieveInformationModelFind,
               "STUDY_ROOT": StudyRootQueryRetrieveInformationModelFind}


class StoreRecorder:
    """A pynetdicom Storage SCP that keeps what each C-STORE request carried."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.ae = AE(ae_title=DEST_AE)
        for context in AllStoragePresentationContexts:
            self.ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        self.server = self.ae.start_server(("127.0.0.1", 0), block=False,
                                           evt_handlers=[(evt.EVT_C_STORE, self.on_store)])
        self.port = int(self.server.server_address[1])

    def on_store(self, event) -> int:
        self.received.append(_stored(event))
        return 0x0000

    def stop(self) -> None:
        self.ae.shutdown()


def _stored(event) -> dict:
    request = event.request
    return {"sop_instance_uid": request.AffectedSOPInstanceUID,
            "transfer_syntax": event.context.transfer_syntax,
            "pixel_data": event.dataset.get("PixelData"),
            "originator_ae": request.MoveOriginatorApplicationEntityTitle,
            "originator_message_id": request.MoveOriginatorMessageID}


@pytest.fixture(scope="module")
def destination() -> Iterator[StoreRecorder]:
    recorder = StoreRecorder()
    yield recorder
    recorder.stop()


@pytest.fixture(scope="module")
def pacs(sample_folder: Path, destination: StoreRecorder) -> Iterator[DemoPacs]:
    server = DemoPacs(data_folder=sample_folder, port=0,
                      destinations={DEST_AE: ("127.0.0.1", destination.port)})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def received(destination: StoreRecorder) -> list[dict]:
    destination.received.clear()
    return destination.received


def _scu(contexts: list) -> AE:
    """An SCU proposing `contexts`: SOP class UIDs or (SOP class, syntaxes) pairs."""
    ae = AE(ae_title=SCU_AE)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    for context in contexts:
        sop_class, syntaxes = context if isinstance(context, tuple) else (context, None)
        if syntaxes:
            ae.add_requested_context(sop_class, syntaxes)
        else:
            ae.add_requested_context(sop_class)
    return ae


def _associate(pacs: DemoPacs, *contexts):
    assoc = _scu(list(contexts)).associate("127.0.0.1", pacs.port, ae_title=pacs.ae_title)
    assert assoc.is_established
    return assoc


def _identifier(level: str, **keys) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def _find(pacs: DemoPacs, identifier: Dataset, model: str = "STUDY_ROOT"
          ) -> tuple[list[Dataset], int]:
    """Return the pending identifiers and the final status of one C-FIND."""
    uid_model = FIND_MODELS[model]
    assoc = _associate(pacs, uid_model)
    try:
        responses = list(assoc.send_c_find(identifier, uid_model))
    finally:
        assoc.release()
    matches = [ds for status, ds in responses if status.Status in (0xFF00, 0xFF01)]
    return matches, responses[-1][0].Status


def _instances(pacs: DemoPacs, **where: str) -> list:
    return [i for i in pacs.instances if all(i.text(k) == v for k, v in where.items())]


def _study_uid(pacs: DemoPacs, accession: str) -> str:
    return _instances(pacs, AccessionNumber=accession)[0].text("StudyInstanceUID")


def test_echo_succeeds_for_any_calling_ae(pacs):
    assoc = _associate(pacs, Verification)
    status = assoc.send_c_echo()
    assoc.release()
    assert status.Status == 0x0000


def test_patient_level_find_counts_studies_series_and_instances(pacs):
    matches, status = _find(pacs, _identifier(
        "PATIENT", PatientName="", PatientID="", NumberOfPatientRelatedStudies=None,
        NumberOfPatientRelatedSeries=None, NumberOfPatientRelatedInstances=None),
        model="PATIENT_ROOT")
    assert status == 0x0000
    by_id = {str(ds.PatientID): ds for ds in matches}
    assert len(by_id) == 4
    doe = by_id["QRS-1001"]
    assert str(doe.PatientName) == "Doe^Jane"
    doe_instances = _instances(pacs, PatientID="QRS-1001")
    assert int(doe.NumberOfPatientRelatedStudies) == 2
    assert int(doe.NumberOfPatientRelatedSeries) == 6
    assert int(doe.NumberOfPatientRelatedInstances) == len(doe_instances) == 33
    assert all(ds.RetrieveAETitle == pacs.ae_title for ds in matches)


def test_find_returns_only_the_requested_keys(pacs):
    matches, _ = _find(pacs, _identifier("STUDY", StudyInstanceUID="", StudyDate="",
                                         PatientID="QRS-1003"))
    assert len(matches) == 2
    assert {elem.keyword for ds in matches for elem in ds} == {
        "QueryRetrieveLevel", "RetrieveAETitle", "StudyInstanceUID", "StudyDate", "PatientID"}


def test_study_wildcard_find_fills_modalities_and_counts(pacs):
    matches, status = _find(pacs, _identifier(
        "STUDY", PatientName="doe*", StudyInstanceUID="", AccessionNumber="",
        ModalitiesInStudy="", SOPClassesInStudy="", NumberOfStudyRelatedSeries=None,
        NumberOfStudyRelatedInstances=None))
    assert status == 0x0000
    studies = {ds.AccessionNumber: ds for ds in matches}
    assert set(studies) == {"ACC1001", "ACC1002"}
    ct = studies["ACC1001"]
    assert list(ct.ModalitiesInStudy) == ["CT", "SR"]
    assert int(ct.NumberOfStudyRelatedSeries) == 3
    assert int(ct.NumberOfStudyRelatedInstances) == 17
    assert set(ct.SOPClassesInStudy) == {CTImageStorage, BasicTextSRStorage}


def test_modalities_in_study_matches_any_listed_modality(pacs):
    matches, _ = _find(pacs, _identifier("STUDY", ModalitiesInStudy=["DX", "CR"],
                                         AccessionNumber=""))
    assert {ds.AccessionNumber for ds in matches} == {"ACC1004", "ACC1007"}


@pytest.mark.parametrize(("date_range", "accessions"), [
    ("20190101-20211231", {"ACC1002", "ACC1004"}),
    ("-20180101", {"ACC1006"}),
    ("20210101-", {"ACC1001", "ACC1003", "ACC1004", "ACC1005", "ACC1007"}),
    ("20190314", {"ACC1002"}),
])
def test_study_date_range_matching(pacs, date_range, accessions):
    matches, _ = _find(pacs, _identifier("STUDY", StudyDate=date_range, AccessionNumber=""))
    assert {ds.AccessionNumber for ds in matches} == accessions


def test_recent_studies_are_found_by_a_last_30_days_search(pacs):
    today = dt.date.today()
    since = (today - dt.timedelta(days=30)).strftime("%Y%m%d")
    matches, _ = _find(pacs, _identifier("STUDY", StudyDate=f"{since}-{today:%Y%m%d}",
                                         AccessionNumber=""))
    assert {ds.AccessionNumber for ds in matches} == {"ACC1001", "ACC1003", "ACC1005"}


def test_series_find_matches_a_list_of_uids(pacs):
    study_uid = _study_uid(pacs, "ACC1002")
    series = sorted({i.text("SeriesInstanceUID")
                     for i in _instances(pacs, StudyInstanceUID=study_uid)})
    wanted = series[:2]
    # Patient Root: the Patient ID is the unique key above the study (PS3.4 C.4.1.2.2).
    patient_id = _instances(pacs, StudyInstanceUID=study_uid)[0].text("PatientID")
    matches, status = _find(pacs, _identifier(
        "SERIES", PatientID=patient_id, StudyInstanceUID=study_uid, SeriesInstanceUID=wanted,
        Modality="",
        SeriesNumber=None, NumberOfSeriesRelatedInstances=None), model="PATIENT_ROOT")
    assert status == 0x0000
    assert sorted(ds.SeriesInstanceUID for ds in matches) == wanted
    assert all(ds.Modality == "MR" for ds in matches)
    for ds in matches:
        expected = len(_instances(pacs, SeriesInstanceUID=ds.SeriesInstanceUID))
        assert int(ds.NumberOfSeriesRelatedInstances) == expected


@pytest.mark.parametrize("model", ["PATIENT_ROOT", "STUDY_ROOT"])
def test_image_find_reports_each_instance_and_its_transfer_syntax(pacs, model):
    study_uid = _study_uid(pacs, "ACC1002")
    series = _instances(pacs, StudyInstanceUID=study_uid, SeriesNumber="3")
    keys = {"StudyInstanceUID": study_uid,
            "SeriesInstanceUID": series[0].text("SeriesInstanceUID"),
            "SOPInstanceUID": "", "InstanceNumber": None, "AvailableTransferSyntaxUID": ""}
    if model == "PATIENT_ROOT":
        keys["PatientID"] = "QRS-1001"
    matches, status = _find(pacs, _identifier("IMAGE", **keys), model=model)
    assert status == 0x0000
    assert sorted(int(ds.InstanceNumber) for ds in matches) == [1, 2, 3, 4]
    assert {ds.AvailableTransferSyntaxUID for ds in matches} == {uid.RLELossless}


def test_non_ascii_patient_name_round_trips_in_utf8(pacs):
    query = _identifier("PATIENT", PatientName="müller^jürgen", PatientID="")
    query.SpecificCharacterSet = "ISO_IR 192"
    matches, _ = _find(pacs, query, model="PATIENT_ROOT")
    assert len(matches) == 1
    assert matches[0].SpecificCharacterSet == "ISO_IR 192"
    assert str(matches[0].PatientName) == "Müller^Jürgen"
    wildcard = _identifier("STUDY", PatientName="M?ller*", StudyDescription="")
    wildcard.SpecificCharacterSet = "ISO_IR 192"
    matches, _ = _find(pacs, wildcard)
    assert {str(ds.PatientName) for ds in matches} == {"Müller^Jürgen"}
    assert all(ds.SpecificCharacterSet == "ISO_IR 192" for ds in matches)


def test_patient_level_under_study_root_is_refused(pacs):
    matches, status = _find(pacs, _identifier("PATIENT", PatientID=""))
    assert not matches and status == 0xA900


def test_find_stops_on_c_cancel(sample_folder):
    # A slow database makes the outcome certain: without the cancel the find
    # would take three seconds.
    slow = DemoPacs(data_folder=sample_folder, port=0,
                    behaviour=DemoPacsBehaviour(match_delay=0.05))
    model = StudyRootQueryRetrieveInformationModelFind
    with slow:
        # A conformant IMAGE-level search names its study and series.
        first_ct = _instances(slow, AccessionNumber="ACC1001", SeriesNumber="1")
        total = len(first_ct)
        where = {"StudyInstanceUID": first_ct[0].text("StudyInstanceUID"),
                 "SeriesInstanceUID": first_ct[0].text("SeriesInstanceUID")}
        assoc = _associate(slow, model)
        try:
            responses = assoc.send_c_find(_identifier("IMAGE", SOPInstanceUID="", **where),
                                          model, msg_id=7)
            # Cancel only once the PACS is answering: pynetdicom's SCP drops a
            # C-CANCEL that arrives before it starts handling the request.
            first, _ = next(responses)
            assoc.send_c_cancel(7, query_model=model)
            statuses = [first.Status] + [status.Status for status, _ in responses]
        finally:
            assoc.release()
    assert statuses[-1] == 0xFE00
    assert len(statuses) - 1 < total // 2


def _move(pacs: DemoPacs, identifier: Dataset, move_aet: str, msg_id: int = 1
          ) -> list[Dataset]:
    model = StudyRootQueryRetrieveInformationModelMove
    assoc = _associate(pacs, model)
    try:
        return [status for status, _ in assoc.send_c_move(identifier, move_aet, model,
                                                          msg_id=msg_id)]
    finally:
        assoc.release()


def test_move_sends_the_study_untouched_with_the_move_originator(pacs, received):
    study_uid = _study_uid(pacs, "ACC1003")  # JPEG 2000 lossless and JPEG-LS series
    members = _instances(pacs, StudyInstanceUID=study_uid)
    statuses = _move(pacs, _identifier("STUDY", StudyInstanceUID=study_uid), DEST_AE,
                     msg_id=42)
    final = statuses[-1]
    assert final.Status == 0x0000
    assert final.NumberOfCompletedSuboperations == len(members) == 12
    assert final.NumberOfFailedSuboperations == 0
    pending = [s for s in statuses if s.Status == 0xFF00]
    assert [s.NumberOfRemainingSuboperations for s in pending] == list(range(11, -1, -1))
    assert {r["sop_instance_uid"] for r in received} == {m.sop_instance_uid for m in members}
    assert all(r["originator_ae"] == SCU_AE and r["originator_message_id"] == 42
               for r in received)
    for record in received:
        source = next(m for m in members if m.sop_instance_uid == record["sop_instance_uid"])
        assert record["transfer_syntax"] == source.transfer_syntax
        assert record["pixel_data"] == pydicom.dcmread(source.path).PixelData
    assert {r["transfer_syntax"] for r in received} == {uid.JPEG2000Lossless,
                                                        uid.JPEGLSLossless}


def test_move_to_an_unknown_destination_fails_without_sub_operations(pacs, received):
    study_uid = _study_uid(pacs, "ACC1001")
    statuses = _move(pacs, _identifier("STUDY", StudyInstanceUID=study_uid), "NOBODY")
    assert [s.Status for s in statuses] == [0xA801]
    assert "NumberOfCompletedSuboperations" not in statuses[0]
    assert not received


def _get(pacs: DemoPacs, identifier: Dataset, storage: list[tuple]) -> tuple[list, list]:
    """C-GET with `storage` contexts, taking the SCP role for their SOP classes."""
    model = StudyRootQueryRetrieveInformationModelGet
    got: list[dict] = []

    def on_store(event) -> int:
        got.append(_stored(event))
        return 0x0000

    roles = [build_role(sop_class, scp_role=True) for sop_class in {c[0] for c in storage}]
    ae = _scu([model, *storage])
    assoc = ae.associate("127.0.0.1", pacs.port, ae_title=pacs.ae_title, ext_neg=roles,
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    assert assoc.is_established
    try:
        statuses = [status for status, _ in assoc.send_c_get(identifier, model)]
    finally:
        assoc.release()
    return statuses, got


def test_get_of_a_series_keeps_its_compressed_transfer_syntax(pacs):
    study_uid = _study_uid(pacs, "ACC1003")
    series = _instances(pacs, StudyInstanceUID=study_uid, SeriesNumber="2")  # JPEG-LS
    identifier = _identifier("SERIES", StudyInstanceUID=study_uid,
                             SeriesInstanceUID=series[0].text("SeriesInstanceUID"))
    statuses, got = _get(pacs, identifier, [(MRImageStorage, [uid.JPEGLSLossless]),
                                            (MRImageStorage, [uid.ExplicitVRLittleEndian])])
    assert statuses[-1].Status == 0x0000
    assert statuses[-1].NumberOfCompletedSuboperations == len(series) == 6
    assert {r["transfer_syntax"] for r in got} == {uid.JPEGLSLossless}
    by_uid = {r["sop_instance_uid"]: r for r in got}
    for source in series:
        assert by_uid[source.sop_instance_uid]["pixel_data"] == \
            pydicom.dcmread(source.path).PixelData


def test_get_fails_sub_operations_the_peer_cannot_receive_and_says_why(pacs, caplog):
    study_uid = _study_uid(pacs, "ACC1003")
    series = _instances(pacs, StudyInstanceUID=study_uid, SeriesNumber="2")  # JPEG-LS
    identifier = _identifier("SERIES", StudyInstanceUID=study_uid,
                             SeriesInstanceUID=series[0].text("SeriesInstanceUID"))
    with caplog.at_level(logging.WARNING, logger="qrscope.demo_pacs"):
        statuses, got = _get(pacs, identifier, [(MRImageStorage, [uid.ExplicitVRLittleEndian])])
    final = statuses[-1]
    assert not got
    assert final.Status == 0xA702  # unable to perform sub-operations
    assert final.NumberOfFailedSuboperations == 6
    assert "does not transcode" in caplog.text
