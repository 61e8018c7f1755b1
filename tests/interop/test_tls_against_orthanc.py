"""DICOM over TLS and user identity against a real Orthanc with DICOM TLS enabled.

Orthanc 1.10 is started with ``DicomTlsEnabled`` and a certificate from the
test CA, and requires a client certificate (``DicomTlsRemoteCertificateRequired``).
qrscope echoes, finds, retrieves by C-GET and by C-MOVE (Orthanc calls our
TLS listener back: ``UseDicomTls`` on its modality entry), and each mistake
a user makes with it gives the TLS hint that names it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from qrscope.core.dicom.records import QueryLevel
from qrscope.core.net import secrets
from qrscope.core.net.association_log import AssociationLog, Direction
from qrscope.core.net.connection import AssociationFailure
from qrscope.core.net.verify import verify
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod, Timeouts
from qrscope.core.query.find import FindOperation, QueryFilter
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.core.security import IdentityKind, TlsSettings, UserIdentity
from qrscope.demo_pacs import build_sample_studies
from qrscope.diagnosis.hints import hint_for_failure
from tests.memory_keyring import memory_keyring  # noqa: F401  (the fixture)
from tests.tls_certs import Pki, make_pki

from . import peers
from .conftest import require


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_listener_port() -> int:
    (port,) = peers.free_ports(1)
    return port


@pytest.fixture(scope="module")
def tls_orthanc(tmp_path_factory, pki: Pki, tls_listener_port: int) -> Iterator[peers.PeerServer]:
    require(peers.find_binary("Orthanc"), "Orthanc not installed (apt-get install orthanc)")
    require(peers.find_dcmtk_tool("storescu"), "DCMTK not installed (apt-get install dcmtk)")
    folder = tmp_path_factory.mktemp("orthanc-tls")
    files = build_sample_studies(folder / "data")
    tls = peers.OrthancTls(certificate=pki.server.cert, private_key=pki.server.key,
                           trusted=pki.ca, client_certificate=pki.client.cert,
                           client_key=pki.client.key)
    destination = peers.MoveDestination(peers.WORKSTATION_AE_TITLE, peers.HOST,
                                        tls_listener_port, use_tls=True)
    with peers.running_orthanc(folder, files, [destination], tls=tls) as server:
        yield server


def _tls(pki: Pki, **changes) -> TlsSettings:
    return replace(TlsSettings(enabled=True, ca_file=str(pki.ca), cert_file=str(pki.client.cert),
                               key_file=str(pki.client.key)), **changes)


def _node(server: peers.PeerServer, tls: TlsSettings, **changes) -> RemoteNode:
    node = RemoteNode(name="Orthanc TLS", ae_title=server.ae_title, host=server.host,
                      port=server.port, tls=tls,
                      timeouts=Timeouts(connect=5, association=5, response=10))
    return replace(node, **changes)


def _local(pki: Pki, port: int, folder: Path) -> LocalAE:
    listener_tls = TlsSettings(enabled=True, cert_file=str(pki.server.cert),
                               key_file=str(pki.server.key), ca_file=str(pki.ca))
    return LocalAE(ae_title=peers.WORKSTATION_AE_TITLE, listener_port=port,
                   bind_address="127.0.0.1", storage_folder=folder, listener_tls=listener_tls)


def _failure(node: RemoteNode) -> AssociationFailure:
    with pytest.raises(AssociationFailure) as info:
        verify(node, LocalAE(ae_title=peers.WORKSTATION_AE_TITLE), AssociationLog())
    return info.value


def test_echo_and_find_over_tls(tls_orthanc, pki, tmp_path):
    log = AssociationLog()
    local = _local(pki, 1, tmp_path)
    node = _node(tls_orthanc, _tls(pki))
    assert verify(node, local, log).ok
    result = FindOperation(node, local, log, QueryLevel.STUDY, QueryFilter()).run()
    assert sorted(r.study_uid for r in result.records) == tls_orthanc.study_uids
    assert any(e.kind == "tls" and "host name checked" in e.summary for e in log.events())


def test_c_get_over_tls(tls_orthanc, pki, tmp_path):
    local = _local(pki, 1, tmp_path / "got")
    study = tls_orthanc.study_uids[0]
    outcome = RetrieveJob(_node(tls_orthanc, _tls(pki)), local, AssociationLog(),
                          RetrieveScope.study(study), method=RetrieveMethod.GET).run()
    assert outcome.status == "success", json.dumps(outcome.to_dict(), indent=1)
    assert outcome.expected == len(tls_orthanc.study(study)) == len(outcome.files)


def test_c_move_orthanc_calls_our_tls_listener_back(tls_orthanc, pki, tls_listener_port,
                                                     tmp_path):
    log = AssociationLog()
    local = _local(pki, tls_listener_port, tmp_path / "moved")
    study = tls_orthanc.study_uids[0]
    with StorageListener(local, log) as listener:
        outcome = RetrieveJob(_node(tls_orthanc, _tls(pki)), local, log,
                              RetrieveScope.study(study), listener=listener).run()
    report = json.dumps(outcome.to_dict(), indent=1)
    assert outcome.final_status is not None and outcome.final_status.code == 0, report
    assert len(outcome.files) == len(tls_orthanc.study(study)), report
    assert outcome.missing == [] and listener.unexpected == [], report
    assert any(e.direction is Direction.INCOMING for e in log.events())


def test_plain_dicom_to_orthancs_tls_port_gives_tls_required(tls_orthanc):
    node = _node(tls_orthanc, TlsSettings())
    failure = _failure(node)
    assert hint_for_failure(failure, node, LocalAE()).id == "tls-required"


def test_orthanc_wants_our_client_certificate(tls_orthanc, pki):
    node = _node(tls_orthanc, _tls(pki, cert_file="", key_file=""))
    failure = _failure(node)
    hint = hint_for_failure(failure, node, LocalAE())
    assert hint.id == "tls-handshake-failed", failure.message
    assert "client certificate" in hint.summary


def test_orthanc_certificate_from_an_untrusted_ca(tls_orthanc, pki):
    node = _node(tls_orthanc, _tls(pki, ca_file=str(pki.other_ca)))
    assert hint_for_failure(_failure(node), node, LocalAE()).id == "tls-unknown-ca"


def test_orthanc_by_a_name_its_certificate_lacks(tls_orthanc, pki):
    node = _node(tls_orthanc, _tls(pki), host="127.0.0.2")
    assert hint_for_failure(_failure(node), node, LocalAE()).id == "tls-name-mismatch"


def test_tls_to_orthancs_plain_port_gives_not_offered(orthanc, pki):
    node = _node(orthanc, _tls(pki))
    assert hint_for_failure(_failure(node), node, LocalAE()).id == "tls-not-offered"


@pytest.mark.usefixtures("memory_keyring")
def test_orthanc_ignores_the_user_identity(tls_orthanc, pki):
    """Orthanc 1.10 accepts any user identity and confirms none (PS3.7 D.3.3.7 allows it)."""
    secrets.store_passcode("Orthanc TLS", "anything")
    node = _node(tls_orthanc, _tls(pki),
                 identity=UserIdentity(IdentityKind.USERNAME_PASSCODE, "nobody", True))
    log = AssociationLog()
    assert verify(node, LocalAE(ae_title=peers.WORKSTATION_AE_TITLE), log).ok
    line = next(e for e in log.events() if e.kind == "user-identity")
    assert line.detail["confirmed"] is False


def test_the_command_line_echoes_and_finds_over_tls(tls_orthanc, pki, capsys):
    from qrscope.cli.main import main

    node = ["--host", tls_orthanc.host, "--port", str(tls_orthanc.port), "--called-aet",
            tls_orthanc.ae_title, "--aet", peers.WORKSTATION_AE_TITLE, "--json"]
    common = [*node, "--tls", "--tls-ca", str(pki.ca), "--tls-cert", str(pki.client.cert),
              "--tls-key", str(pki.client.key)]
    assert main(["echo", *common]) == 0, capsys.readouterr()
    capsys.readouterr()
    assert main(["find", *common]) == 0
    assert json.loads(capsys.readouterr().out)["count"] > 0
    # Without TLS, the same port refuses to talk, and the hint says why.
    assert main(["echo", *node]) == 3
    assert "tls-required" in capsys.readouterr().out


def test_the_command_line_moves_a_study_over_tls_both_ways(tls_orthanc, pki, tls_listener_port,
                                                           tmp_path, capsys):
    from qrscope.cli.main import main

    study = tls_orthanc.study_uids[0]
    code = main(["retrieve", "--host", tls_orthanc.host, "--port", str(tls_orthanc.port),
                 "--called-aet", tls_orthanc.ae_title, "--aet", peers.WORKSTATION_AE_TITLE,
                 "--study", study, "--out", str(tmp_path / "in"), "--json",
                 "--tls", "--tls-ca", str(pki.ca), "--tls-cert", str(pki.client.cert),
                 "--tls-key", str(pki.client.key),
                 "--listen-port", str(tls_listener_port), "--listen-cert",
                 str(pki.server.cert), "--listen-key", str(pki.server.key),
                 "--listen-ca", str(pki.ca)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["received"] == len(tls_orthanc.study(study)) and report["missing"] == []


def test_the_window_searches_orthanc_over_tls(qtbot, qt_loop, tls_orthanc, pki, tmp_path):
    """TLS set in the profile editor, Verify, then a search: as a user does it."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QPushButton

    from qrscope.core.dicom.records import QueryLevel
    from tests.window_site import make_window

    node = RemoteNode(name="Orthanc TLS", ae_title=tls_orthanc.ae_title, host=tls_orthanc.host,
                      port=tls_orthanc.port, tls=_tls(pki))
    window = make_window(qtbot, tmp_path, nodes=[node])
    try:
        window.editor.select_node("Orthanc TLS")
        assert window.editor.f_tls.widget.enabled.isChecked()
        verify = next(b for b in window.findChildren(QPushButton)
                      if b.text() == "Verify (C-ECHO)")
        qtbot.mouseClick(verify, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "OK" in window.editor.verify_result.text(), timeout=15000)
        qtbot.mouseClick(window.search.form.search, Qt.MouseButton.LeftButton)
        studies = window.search.models[QueryLevel.STUDY]
        qtbot.waitUntil(lambda: studies.rowCount() == len(tls_orthanc.study_uids),
                        timeout=15000)
    finally:
        window.close()
