"""qrscope against real Orthanc and DCMTK dcmqrscp: find, C-MOVE and C-GET every instance.

Each study is retrieved whole, by C-MOVE to qrscope's own listener and by
C-GET, and every file that arrives must carry the same SOP Instance UID and
pixel data bytes as the file the server was loaded with, and the same
transfer syntax where that is compressed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from qrscope.core.dicom.records import QueryLevel, StudyRecord
from qrscope.core.net.association_log import AssociationLog, Direction
from qrscope.core.net.connection import AssociationFailure, FailureReason
from qrscope.core.net.verify import verify
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.query.find import FindOperation, QueryFilter
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveScope
from tests.interop import peers
from tests.interop.peers import assert_missing_for_want_of_role, roleless_by_get_here
from tests.memory_keyring import memory_keyring  # noqa: F401  (the fixture)


def _node(server) -> RemoteNode:
    return RemoteNode(
        name=server.kind, ae_title=server.ae_title, host=server.host, port=server.port
    )


def _local(server, folder: Path) -> LocalAE:
    return LocalAE(
        ae_title="QRSCOPE",
        listener_port=server.peer_listener_port,
        bind_address="127.0.0.1",
        storage_folder=folder,
    )


def _assert_identical(received: list[Path], server, study_uid: str,
                      left_out: set[str] = frozenset()) -> None:
    expected = {i.sop_instance_uid: i for i in server.study(study_uid)
                if i.sop_instance_uid not in left_out}
    got = {}
    for path in received:
        ds = pydicom.dcmread(path)
        got[ds.SOPInstanceUID] = ds
    assert set(got) == set(expected)
    for uid, ds in got.items():
        source = pydicom.dcmread(expected[uid].path)
        stored_as = source.file_meta.TransferSyntaxUID
        if stored_as.is_compressed:
            assert ds.file_meta.TransferSyntaxUID == stored_as, uid
        # Uncompressed data may be re-encoded (dcmqrscp sends implicit VR files as
        # explicit); the pixel bytes must not change either way, except for their
        # byte order when a Big Endian file arrives as little endian.
        if "PixelData" in source and not stored_as.is_little_endian:
            assert any(np.array_equal(ds.pixel_array, pixels)
                       for pixels in peers.pixel_readings(source, ds)), uid
        elif "PixelData" in source:
            assert ds.PixelData == source.PixelData, uid


def test_echo_and_study_find_list_every_loaded_study(qr_server, tmp_path):
    log = AssociationLog()
    local = _local(qr_server, tmp_path)
    assert verify(_node(qr_server), local, log).ok
    result = FindOperation(_node(qr_server), local, log, QueryLevel.STUDY, QueryFilter()).run()
    assert result.status is not None and result.status.code == 0
    assert sorted(r.study_uid for r in result.records) == qr_server.study_uids
    assert all(isinstance(r, StudyRecord) and r.patient_id for r in result.records)


def test_every_study_arrives_whole_by_c_move(qr_server, tmp_path):
    log = AssociationLog()
    local = _local(qr_server, tmp_path / "moved")
    node = _node(qr_server)
    with StorageListener(local, log) as listener:
        for study_uid in qr_server.study_uids:
            outcome = RetrieveJob(
                node, local, log, RetrieveScope.study(study_uid), listener=listener
            ).run()
            assert outcome.status == "success", json.dumps(outcome.to_dict(), indent=1)
            assert outcome.incoming_associations, "the server never called back"
            assert all(c.calling_ae for c in outcome.incoming_associations)
            _assert_identical([Path(f) for f in outcome.files], qr_server, study_uid)
        assert listener.unexpected == []
    incoming = {e.association_id for e in log.events() if e.direction is Direction.INCOMING}
    assert incoming, "the association log shows the PACS calling back"


def test_every_study_arrives_whole_by_c_get(qr_server, tmp_path):
    log = AssociationLog()
    local = _local(qr_server, tmp_path / "got")
    node = _node(qr_server)
    for study_uid in qr_server.study_uids:
        outcome = RetrieveJob(node, local, log, RetrieveScope.study(study_uid),
                              method=RetrieveMethod.GET).run()
        assert outcome.expected == len(qr_server.study(study_uid))
        roleless = roleless_by_get_here(qr_server, qr_server.study(study_uid))
        if roleless:
            assert_missing_for_want_of_role(outcome, roleless)
        else:
            assert outcome.status == "success", json.dumps(outcome.to_dict(), indent=1)
            assert outcome.missing == []
        _assert_identical([Path(f) for f in outcome.files], qr_server, study_uid, roleless)


def test_series_and_instance_level_retrieves(qr_server, tmp_path):
    log = AssociationLog()
    local = _local(qr_server, tmp_path)
    node = _node(qr_server)
    instance = qr_server.instances[0]
    scope = RetrieveScope.instances(
        instance.study_instance_uid,
        instance.series_instance_uid,
        instance.sop_instance_uid,
        sop_classes=(instance.sop_class_uid,),
    )
    got = RetrieveJob(node, local, log, scope, method=RetrieveMethod.GET).run()
    assert [r.sop_instance_uid for r in got.stored] == [instance.sop_instance_uid]
    with StorageListener(local, log) as listener:
        series = RetrieveScope.series(instance.study_instance_uid, instance.series_instance_uid)
        moved = RetrieveJob(node, local, log, series, listener=listener).run()
    expected = {
        i.sop_instance_uid
        for i in qr_server.instances
        if i.series_instance_uid == instance.series_instance_uid
    }
    assert {r.sop_instance_uid for r in moved.stored} == expected
    assert all(
        r.stored.duplicate for r in moved.stored if r.sop_instance_uid == instance.sop_instance_uid
    )


def test_move_to_a_destination_nobody_listens_at_fails_with_the_servers_status(qr_server, tmp_path):
    log = AssociationLog()
    local = _local(qr_server, tmp_path)
    outcome = RetrieveJob(
        _node(qr_server),
        local,
        log,
        RetrieveScope.study(qr_server.study_uids[0]),
        move_destination="NOWHERE",
    ).run()
    assert outcome.status == "failed"
    expected = {"orthanc": 0xC000, "dcmqrscp": 0xA702, "demo-pacs": 0xA801}[qr_server.kind]
    assert outcome.final_status is not None and outcome.final_status.code == expected


def test_wrong_called_ae_title_is_rejected_and_named(qr_server, tmp_path):
    node = RemoteNode(
        name="typo", ae_title="NOT_THE_PACS", host=qr_server.host, port=qr_server.port
    )
    with pytest.raises(AssociationFailure) as info:
        verify(node, _local(qr_server, tmp_path), AssociationLog())
    assert info.value.reason is FailureReason.REJECTED_CALLED_AET
    assert "NOT_THE_PACS" in info.value.message


def test_non_ascii_patient_names_survive_the_round_trip(qr_server, tmp_path):
    result = FindOperation(
        _node(qr_server),
        _local(qr_server, tmp_path),
        AssociationLog(),
        QueryLevel.STUDY,
        QueryFilter(patient_name="M*"),
    ).run()
    names = {r.patient_name for r in result.records}
    assert "Müller^Jürgen" in names


@pytest.mark.usefixtures("memory_keyring")
def test_the_command_line_sends_a_user_and_typed_passcode_to_orthanc(orthanc, monkeypatch,
                                                                     tmp_path, capsys):
    """Orthanc 1.10 takes any identity and confirms none; echo and find still work."""
    from qrscope.cli.main import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "Typed-Secret-1")
    node = ["--host", orthanc.host, "--port", str(orthanc.port), "--called-aet",
            orthanc.ae_title, "--aet", "QRSCOPE", "--user", "radiologist",
            "--passcode-prompt", "--confirm-identity"]
    assert main(["echo", *node, "--json", "-v"]) == 0
    printed = capsys.readouterr()
    assert "radiologist" in printed.err and "Typed-Secret-1" not in printed.out + printed.err
    assert main(["find", *node, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] > 0
