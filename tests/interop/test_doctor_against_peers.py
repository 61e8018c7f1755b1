"""The doctor against Orthanc and dcmqrscp whose registered listener port is dead.

Both servers know QRSCOPE at the fixture's reserved port; the doctor's own
listener runs on another port, so the reverse connection fails exactly as
when the PACS has a wrong port registered for us.
"""

from __future__ import annotations

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.receive.listener import StorageListener
from qrscope.diagnosis.doctor import run_doctor
from tests.demo_site import free_port


def test_doctor_names_the_cause_of_a_dead_reverse_connection(qr_server, tmp_path):
    node = RemoteNode(name=qr_server.kind, ae_title=qr_server.ae_title, host=qr_server.host,
                      port=qr_server.port)
    local = LocalAE(ae_title="QRSCOPE", listener_port=free_port(), bind_address="127.0.0.1",
                    storage_folder=tmp_path)
    log = AssociationLog()
    with StorageListener(local, log) as listener:
        report = run_doctor(node, local, log, listener)
    steps = {s.name: s for s in report.steps}
    assert steps["C-MOVE to our listener"].status == "fail"
    assert steps["C-GET (the fallback)"].status == "pass", steps["C-GET (the fallback)"]
    assert report.verdict is not None
    if qr_server.kind == "dcmqrscp":
        # 0xA702 for us, 0xA801 for an unknown title: the PACS knows us, cannot reach us.
        assert report.verdict.id == "reverse-connection-failed"
    else:
        # Orthanc answers 0xC000 to both at once: the verdict ranks both causes.
        assert report.verdict.id == "move-destination-unknown"
        assert "nothing answered at the address" in " ".join(report.verdict.causes)
        assert "made-up AE title gets the same answer" in report.verdict.summary


def test_doctor_as_a_caller_orthanc_does_not_know(orthanc, tmp_path):
    node = RemoteNode(name="orthanc", ae_title=orthanc.ae_title, host=orthanc.host,
                      port=orthanc.port)
    local = LocalAE(ae_title="STRANGER", listener_port=free_port(), bind_address="127.0.0.1",
                    storage_folder=tmp_path)
    log = AssociationLog()
    with StorageListener(local, log) as listener:
        report = run_doctor(node, local, log, listener)
    steps = {s.name: s for s in report.steps}
    # C-ECHO is allowed to anyone (DicomAlwaysAllowEcho); the search is not.
    assert steps["association and C-ECHO"].status == "pass"
    assert steps["small C-FIND"].status == "fail"
    assert report.verdict is not None and report.verdict.id == "calling-aet-not-allowed"
    assert "STRANGER" in report.verdict.causes[0]
