"""Hints for failed C-MOVEs, provoked for real on Orthanc and dcmqrscp.

Unknown destination: the server has no entry for the AE title we send.
Reverse connection failed: the server knows QRSCOPE at our listener port,
but nothing listens there (our listener is not started).
"""

from __future__ import annotations

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.diagnosis.retrieve_hints import hints_for_retrieve


def _move(server, tmp_path, destination: str, calling: str = "QRSCOPE"):
    node = RemoteNode(name=server.kind, ae_title=server.ae_title, host=server.host,
                      port=server.port)
    local = LocalAE(ae_title=calling, listener_port=server.peer_listener_port,
                    bind_address="127.0.0.1", storage_folder=tmp_path)
    outcome = RetrieveJob(node, local, AssociationLog(),
                          RetrieveScope.study(server.study_uids[0]),
                          move_destination=destination).run()
    return outcome, hints_for_retrieve(outcome, node, local)


def test_unknown_destination_is_named_with_the_entry_to_add(qr_server, tmp_path):
    outcome, hints = _move(qr_server, tmp_path, "UNKNOWNAE")
    ids = [h.id for h in hints]
    assert "move-destination-unknown" in ids, (outcome.to_dict(), ids)
    unknown = hints[ids.index("move-destination-unknown")]
    assert "UNKNOWNAE" in unknown.summary
    copied = [a.value for a in unknown.actions if a.kind == "copy"]
    assert any('"UNKNOWNAE"' in v for v in copied)  # the Orthanc snippet
    assert any("HostTable" in v for v in copied)  # the dcmqrscp snippet
    assert ids[0] == "move-destination-mismatch"  # we also say it is not our AE title


def test_nobody_listening_at_our_port_is_a_failed_reverse_connection(qr_server, tmp_path):
    outcome, hints = _move(qr_server, tmp_path, "QRSCOPE")
    ids = [h.id for h in hints]
    assert outcome.status == "failed"
    assert "reverse-connection-failed" in ids, (outcome.to_dict(), ids)
    reverse = hints[ids.index("reverse-connection-failed")]
    assert str(qr_server.peer_listener_port) in reverse.summary
    assert reverse.evidence["incoming_associations"] == 0
    if qr_server.kind in ("orthanc", "demo-pacs"):
        # 0xC000 at once (Orthanc) or 0xA801 (pynetdicom): the answer for
        # "unknown" and for "refused" alike, so neither hint may state the
        # PACS knows, or does not know, QRSCOPE.
        assert ids == ["move-destination-unknown", "reverse-connection-failed"]
        assert "does not tell which" in hints[0].summary
        assert reverse.summary.startswith("If the PACS knows 'QRSCOPE'")
    else:
        assert ids[0] == "reverse-connection-failed"
        # dcmqrscp counts every instance as failed and lists them.
        assert "suboperations-failed" in ids


def test_known_destination_where_nobody_listens(qr_server, tmp_path):
    """NOWHERE is in both servers' tables, at a port where nothing listens."""
    outcome, hints = _move(qr_server, tmp_path, "NOWHERE")
    ids = [h.id for h in hints]
    assert outcome.status == "failed" and not outcome.incoming_associations
    if qr_server.kind == "demo-pacs":
        # pynetdicom: 0xA801, as for an unknown title: both causes named.
        assert outcome.final_status.code == 0xA801
        assert "move-destination-unknown" in ids
        unknown = hints[ids.index("move-destination-unknown")]
        assert "does not tell which" in unknown.summary
        assert "has no entry" not in unknown.title
    elif qr_server.kind == "orthanc":
        # 0xC000 at once, as for an unknown title: both causes, "unknown" not asserted.
        assert outcome.final_status.code == 0xC000 and outcome.seconds < 2
        assert ids[:2] == ["move-destination-mismatch", "move-destination-unknown"]
        unknown = hints[1]
        assert "does not tell which" in unknown.summary
        assert any("nothing answered at the address" in c for c in unknown.causes)
    else:
        # dcmqrscp: 0xA702 and every instance failed; it knows NOWHERE.
        assert outcome.final_status.code == 0xA702 and outcome.failed > 0
        assert "reverse-connection-failed" in ids and "move-destination-unknown" not in ids
        assert hints[ids.index("reverse-connection-failed")].summary.startswith(
            "The PACS knows 'NOWHERE'")


def test_orthanc_aborting_an_unknown_caller_names_the_entry_to_add(orthanc, tmp_path):
    """Orthanc accepts STRANGER's association, then aborts right after the C-MOVE-RQ."""
    outcome, hints = _move(orthanc, tmp_path, "STRANGER", calling="STRANGER")
    assert outcome.peer_aborted and outcome.final_status is None and outcome.responses == 0
    assert outcome.seconds < 2
    assert [h.id for h in hints] == ["calling-aet-not-allowed"]
    hint = hints[0]
    assert "STRANGER" in hint.title and "is not registered" in hint.causes[0]
    copied = {a.label: a.value for a in hint.actions if a.kind == "copy"}
    assert '"STRANGER", "127.0.0.1"' in copied["Copy the Orthanc (orthanc.json) entry"]
    assert "HostTable" in copied["Copy the DCMTK dcmqrscp (dcmqrscp.cfg) entry"]
    assert {"Copy the Conquest (acrnema.map) entry", "Copy the dcm4chee-arc entry",
            "Copy the Horos / OsiriX entry"} <= set(copied)


def test_orthanc_aborting_an_unknown_callers_find_is_not_an_empty_result(orthanc, capsys):
    import json

    from qrscope.cli.main import main

    code = main(["find", "--host", orthanc.host, "--port", str(orthanc.port),
                 "--called-aet", orthanc.ae_title, "--aet", "STRANGER", "--json"])
    report = json.loads(capsys.readouterr().out)
    # Orthanc sends no response at all, not even a failure status: without the
    # hint this would read as "no such study".
    assert code == 4 and report["status"] == "failed" and report["results"] == []
    assert report["hints"] == ["calling-aet-not-allowed"]
    hint = report["hint_details"][0]
    assert "not an empty result" in hint["summary"]
    assert any("Orthanc" in action["label"] for action in hint["actions"])


def test_another_program_at_the_registered_port_gets_the_images(qr_server, tmp_path):
    """DCMTK storescp answers as QRSCOPE where the PACS sends; our listener is elsewhere."""
    import subprocess
    import time

    from qrscope.core.receive.listener import StorageListener
    from tests.demo_site import free_port

    from . import peers

    storescp = peers.find_dcmtk_tool("storescp")
    assert storescp, "DCMTK storescp is needed"
    (tmp_path / "other").mkdir()
    other = subprocess.Popen([storescp, "--aetitle", "QRSCOPE", "-od", str(tmp_path / "other"),
                              str(qr_server.peer_listener_port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while peers.echo_status("QRSCOPE", qr_server.peer_listener_port) != 0:
            assert time.monotonic() < deadline, "storescp did not start"
            time.sleep(0.05)
        node = RemoteNode(name=qr_server.kind, ae_title=qr_server.ae_title,
                          host=qr_server.host, port=qr_server.port)
        local = LocalAE(ae_title="QRSCOPE", listener_port=free_port(),
                        bind_address="127.0.0.1", storage_folder=tmp_path / "ours")
        log = AssociationLog()
        with StorageListener(local, log) as listener:
            outcome = RetrieveJob(node, local, log, RetrieveScope.study(qr_server.study_uids[0]),
                                  listener=listener, grace_after_final=1.0).run()
        hints = hints_for_retrieve(outcome, node, local, listener_port=listener.port)
    finally:
        other.terminate()
        other.wait(timeout=10)
    assert outcome.completed > 0 and not outcome.stored
    assert outcome.status == "failed"
    # (storescp refuses compressed syntaxes by default: those fail on top.)
    assert hints[0].id == "fewer-images-than-reported", [h.id for h in hints]
    assert list((tmp_path / "other").iterdir()), "the other program received them"
