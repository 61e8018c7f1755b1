"""qrscope doctor against the demo PACS, healthy and misconfigured on purpose."""

from __future__ import annotations

import json

import pytest
from tests.demo_site import free_port

from qrscope.cli.main import main
from qrscope.demo_pacs import DemoPacs, configure


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def _doctor(capsys, fault, sample_folder) -> tuple[int, dict]:
    listener_port = free_port()
    behaviour, destinations = configure(fault, {"QRSCOPE": ("127.0.0.1", listener_port)})
    pacs = DemoPacs(data_folder=sample_folder, destinations=destinations, behaviour=behaviour)
    pacs.start()
    try:
        code = main(["doctor", "--host", "127.0.0.1", "--port", str(pacs.port),
                     "--called-aet", pacs.ae_title, "--listen-port", str(listener_port),
                     "--json"])
    finally:
        pacs.stop()
    return code, json.loads(capsys.readouterr().out)


def _steps(report: dict) -> dict[str, str]:
    return {step["name"]: step["status"] for step in report["steps"]}


def test_healthy_node_passes_every_step(capsys, sample_folder):
    code, report = _doctor(capsys, None, sample_folder)
    assert code == 0 and report["ok"] and report["hints"] == []
    assert set(_steps(report).values()) == {"pass"}
    assert "control C-MOVE to an unknown AE title" not in _steps(report)


def test_unknown_destination_is_the_verdict_and_c_get_still_works(capsys, sample_folder):
    code, report = _doctor(capsys, "unknown-destination", sample_folder)
    steps = _steps(report)
    assert code == 4 and report["hints"] == ["move-destination-unknown"]
    assert steps["C-MOVE to our listener"] == "fail"
    assert steps["control C-MOVE to an unknown AE title"] == "pass"
    assert steps["C-GET (the fallback)"] == "pass"
    assert "QRSCOPE" in report["verdict"]["summary"]


def test_no_c_get_is_reported_as_skipped(capsys, sample_folder):
    code, report = _doctor(capsys, "no-cget", sample_folder)
    assert code == 0
    assert _steps(report)["C-GET (the fallback)"] == "skipped"


def test_unreachable_node_stops_at_the_tcp_step(capsys):
    port = free_port()
    code = main(["doctor", "--host", "127.0.0.1", "--port", str(port), "--called-aet", "PACS",
                 "--listen-port", str(free_port()), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 4 and _steps(report)["TCP connection"] == "fail"
    assert report["hints"] == ["connection-refused"]
    assert list(_steps(report))[-1] == "TCP connection"


def test_doctor_writes_a_support_bundle_with_identifiers_masked(capsys, sample_folder,
                                                                tmp_path):
    import zipfile

    listener_port = free_port()
    behaviour, destinations = configure("unknown-destination",
                                        {"QRSCOPE": ("127.0.0.1", listener_port)})
    pacs = DemoPacs(data_folder=sample_folder, destinations=destinations, behaviour=behaviour)
    pacs.start()
    bundle = tmp_path / "support.zip"
    try:
        main(["doctor", "--host", "127.0.0.1", "--port", str(pacs.port), "--called-aet",
              pacs.ae_title, "--listen-port", str(listener_port), "--json",
              "--bundle", str(bundle), "-vv"])
    finally:
        pacs.stop()
    capsys.readouterr()
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        log = archive.read("association-log.jsonl").decode()
        doctor = json.loads(archive.read("doctor.json"))
    assert {"association-log.jsonl", "settings.json", "versions.json", "doctor.json",
            "hints.json", "README.txt"} <= names
    assert doctor["hints"] == ["move-destination-unknown"]
    assert '"PatientName": "***"' in log or '"PatientID": "***"' in log
    for name in ("Doe^Jane", "Müller", "QRS-1001"):
        assert name not in log


def test_unreachable_destination_is_not_called_unknown_by_the_doctor(capsys, sample_folder):
    """The demo PACS knows QRSCOPE at a dead port and answers 0xA801, as for a made-up
    title: the control cannot tell the causes apart, so the verdict ranks both."""
    code, report = _doctor(capsys, "unreachable-destination", sample_folder)
    steps = {step["name"]: step for step in report["steps"]}
    control = steps["control C-MOVE to an unknown AE title"]["evidence"]
    real = steps["C-MOVE to our listener"]["evidence"]
    assert code == 4 and real["final_status"] == control["final_status"] == "0xA801"
    assert report["hints"] == ["move-destination-unknown"]
    verdict = report["verdict"]
    assert "has no entry" not in verdict["title"]
    assert "made-up AE title gets the same answer" in verdict["summary"]
    assert "has no entry" in verdict["causes"][0]
    assert "nothing answered at the address" in verdict["causes"][1]


def test_empty_success_is_the_doctors_verdict(capsys, sample_folder):
    code, report = _doctor(capsys, "empty-success", sample_folder)
    assert report["hints"] == ["success-with-nothing-sent"], report
    assert code != 0 and not report["ok"]
