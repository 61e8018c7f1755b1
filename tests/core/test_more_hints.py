"""Hint ids provoked for real: a busy PACS, a full disk during C-GET, a listener
that cannot bind, and images sent on behalf of someone else."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove, Verification
from tests.demo_site import start_demo_site

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import AssociationFailure
from qrscope.core.net.verify import verify
from qrscope.core.profiles import LocalAE, RetrieveMethod
from qrscope.core.receive.listener import ListenerError, StorageListener
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.demo_pacs import DemoPacsBehaviour
from qrscope.diagnosis.hints import hint_for_failure, hint_for_listener_error
from qrscope.diagnosis.retrieve_hints import hint_for_unexpected, hints_for_retrieve


def test_busy_pacs_rejects_with_local_limit_exceeded(sample_folder, tmp_path):
    site = start_demo_site(sample_folder, tmp_path, DemoPacsBehaviour(max_associations=1))
    holder = AE(ae_title="HOLDER")
    holder.add_requested_context(Verification)
    held = holder.associate("127.0.0.1", site.pacs.port, ae_title=site.pacs.ae_title)
    try:
        assert held.is_established
        with pytest.raises(AssociationFailure) as info:
            verify(site.node, site.local, site.log)
    finally:
        held.release()
        site.pacs.stop()
    hint = hint_for_failure(info.value, site.node, site.local)
    assert hint.id == "association-rejected"
    assert "local limit exceeded" in hint.summary and "busy" in hint.causes[0]


def test_full_disk_during_c_get_is_get_store_rejected(demo, tiny_disk):
    local = replace(demo.local, storage_folder=tiny_disk)
    study = max({i.text("StudyInstanceUID") for i in demo.pacs.instances},
                key=lambda uid: sum(i.text("StudyInstanceUID") == uid
                                    for i in demo.pacs.instances))
    outcome = RetrieveJob(demo.node, local, demo.log, RetrieveScope.study(study),
                          method=RetrieveMethod.GET).run()
    hints = hints_for_retrieve(outcome, demo.node, local)
    assert any(not r.ok and "disk is full" in r.error for r in outcome.received)
    assert "get-store-rejected" in [h.id for h in hints]


def test_listener_on_an_address_of_no_interface_is_not_running(tmp_path):
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine.
    local = LocalAE(listener_port=11999, bind_address="192.0.2.1", storage_folder=tmp_path)
    with pytest.raises(ListenerError) as info:
        StorageListener(local, AssociationLog()).start()
    hint = hint_for_listener_error(info.value, local)
    assert hint.id == "listener-not-running" and "0.0.0.0" in hint.summary


def test_images_moved_to_us_by_someone_else_are_kept_and_explained(demo):
    # The PACS is a configured node, so it may store to us; no job of ours asked.
    with StorageListener(demo.local, demo.log, known_nodes=lambda: [demo.node]) as listener:
        other = AE(ae_title="OTHERWS")
        other.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        assoc = other.associate("127.0.0.1", demo.pacs.port, ae_title=demo.pacs.ae_title)
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = demo.pacs.instances[0].text("StudyInstanceUID")
        for _status, _identifier in assoc.send_c_move(
                query, "QRSCOPE", StudyRootQueryRetrieveInformationModelMove):
            pass
        assoc.release()
    assert listener.unexpected and listener.unexpected[0].originator_ae == "OTHERWS"
    hint = hint_for_unexpected(listener.unexpected[0], {demo.node.ae_title})
    assert hint.id == "unexpected-instance" and "DEMOPACS" in hint.title


class _RetrieveOnlyPatientRootScp:
    """A PACS that offers Patient Root C-GET but no C-FIND, and refuses (0xA900) an
    identifier without the Patient ID, as ``dcmqrscp --check-move`` does."""

    def __init__(self) -> None:
        from pynetdicom import evt
        from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelGet
        from tests.demo_site import free_port

        self.identifiers: list[Dataset] = []
        self.ae = AE("GETONLY")
        self.ae.add_supported_context(PatientRootQueryRetrieveInformationModelGet)
        self.port = free_port()
        self.server = self.ae.start_server(("127.0.0.1", self.port), block=False,
                                           evt_handlers=[(evt.EVT_C_GET, self._get)])

    def _get(self, event):
        self.identifiers.append(event.identifier)
        yield 1  # pynetdicom forwards a failure status only after a count
        yield (0xA900, None) if not event.identifier.PatientID else (0xA702, None)


def test_a_patient_root_retrieve_whose_patient_id_could_not_be_learnt_asks_for_it(tmp_path):
    from qrscope.core.profiles import QueryModel, RemoteNode

    scp = _RetrieveOnlyPatientRootScp()
    node = RemoteNode(name="Archive", ae_title="GETONLY", host="127.0.0.1", port=scp.port,
                      query_model=QueryModel.PATIENT_ROOT)
    local = LocalAE(storage_folder=tmp_path)
    try:
        outcome = RetrieveJob(node, local, AssociationLog(), RetrieveScope.study("1.2.3.4"),
                              method=RetrieveMethod.GET).run()
    finally:
        scp.server.shutdown()
    assert [str(i.PatientID) for i in scp.identifiers] == [""]
    assert outcome.status == "failed" and outcome.patient_id_missing
    hint = hints_for_retrieve(outcome, node, local)[0]
    assert hint.id == "patient-id-unknown"
    assert "Patient ID" in hint.title and "--patient-id" in " ".join([*hint.causes, hint.summary])
