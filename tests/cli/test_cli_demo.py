"""The command line against the demo PACS: echo, find, retrieve, listen, demo-pacs, demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification
from tests.demo_site import free_port

from qrscope.cli.main import main


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def _node_args(demo) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(demo.pacs.port), "--called-aet",
            demo.pacs.ae_title]


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_echo_json(demo, capsys):
    assert main(["echo", *_node_args(demo), "--json"]) == 0
    out = _json(capsys)
    assert out["status"] == "success" and out["status_code"] == "0x0000"
    assert out["echo_ms"] >= 0


def test_find_json_and_text(demo, capsys):
    assert main(["find", *_node_args(demo), "--modality", "MR", "--json"]) == 0
    out = _json(capsys)
    assert out["count"] == len(out["results"]) > 0
    assert all("MR" in r["modalities"] for r in out["results"])
    assert main(["find", *_node_args(demo), "--patient-name", "Mü*"]) == 0
    text = capsys.readouterr()
    assert "Müller^Jürgen" in text.out and "match(es)" in text.err


def _a_study(demo) -> tuple[str, int]:
    counts: dict[str, int] = {}
    for instance in demo.pacs.instances:
        uid = instance.text("StudyInstanceUID")
        counts[uid] = counts.get(uid, 0) + 1
    return max(counts.items(), key=lambda item: item[1])


@pytest.mark.parametrize("method", ["move", "get"])
def test_retrieve_json_lists_the_files(demo, capsys, tmp_path, method):
    study_uid, count = _a_study(demo)
    out_dir = tmp_path / "out"
    code = main(["retrieve", *_node_args(demo), "--study", study_uid, "--method", method,
                 "--listen-port", str(demo.local.listener_port), "--out", str(out_dir),
                 "--json"])
    result = _json(capsys)
    assert code == 0, result
    assert result["status"] == "success" and result["received"] == count
    assert len(result["files"]) == count and result["hints"] == []
    assert all(Path(f).is_relative_to(out_dir) and Path(f).exists() for f in result["files"])
    if method == "move":
        assert result["incoming_associations"][0]["calling_ae"] == demo.pacs.ae_title


def test_retrieve_verbose_prints_both_associations(demo, capsys, tmp_path):
    study_uid, _ = _a_study(demo)
    main(["retrieve", *_node_args(demo), "--study", study_uid, "--out", str(tmp_path),
          "--listen-port", str(demo.local.listener_port), "-v"])
    err = capsys.readouterr().err
    assert "-> DEMOPACS@" in err and "C-MOVE-RQ sent" in err
    assert "<- DEMOPACS@" in err and "C-STORE-RQ received" in err


def test_move_to_unknown_destination_fails_with_a801(demo, capsys, tmp_path):
    study_uid, _ = _a_study(demo)
    code = main(["retrieve", *_node_args(demo), "--study", study_uid, "--dest-aet", "ELSEWHERE",
                 "--out", str(tmp_path), "--json", "--diagram", str(tmp_path / "seq.mmd")])
    assert "no association from the PACS to our listener" in (tmp_path / "seq.mmd").read_text()
    result = _json(capsys)
    assert code == 4
    assert result["status"] == "failed" and result["final_status"]["code"] == "0xA801"
    assert result["hints"] == ["move-destination-mismatch", "move-destination-unknown"]
    details = result["hint_details"][1]
    assert "ELSEWHERE" in details["summary"] and details["actions"]


def _run(args: list[str], env_home: Path) -> subprocess.Popen:
    env = {**os.environ, "XDG_CONFIG_HOME": str(env_home / "config"),
           "XDG_DATA_HOME": str(env_home / "data"), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "qrscope", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_echo(port: int, ae_title: str, seconds: float = 20) -> None:
    ae = AE(ae_title="PROBE")
    ae.add_requested_context(Verification)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
        if assoc.is_established:
            assoc.release()
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing answered on port {port}")


def test_listen_and_demo_pacs_run_until_interrupted(tmp_path):
    listen_port, pacs_port = free_port(), free_port()
    # A receiver for anyone: the demo PACS is no configured node here.
    listener = _run(["listen", "--port", str(listen_port), "--out", str(tmp_path / "in"),
                     "--bind", "127.0.0.1", "--accept", "any"], tmp_path)
    pacs = _run(["demo-pacs", "--port", str(pacs_port), "--dest",
                 f"QRSCOPE=127.0.0.1:{listen_port}"], tmp_path)
    try:
        _wait_for_echo(listen_port, "QRSCOPE")
        _wait_for_echo(pacs_port, "DEMOPACS")
        find = subprocess.run(
            [sys.executable, "-m", "qrscope", "find", "--host", "127.0.0.1", "--port",
             str(pacs_port), "--called-aet", "DEMOPACS", "--json", "--limit", "1"],
            capture_output=True, text=True, timeout=60)
        study = json.loads(find.stdout)["results"][0]["study_uid"]
        move = subprocess.run(
            [sys.executable, "-m", "qrscope", "retrieve", "--host", "127.0.0.1", "--port",
             str(pacs_port), "--called-aet", "DEMOPACS", "--study", study, "--dest-aet",
             "QRSCOPE", "--aet", "OTHERWS", "--json"],
            capture_output=True, text=True, timeout=60)
        assert json.loads(move.stdout)["completed"] > 0
    finally:
        for process in (listener, pacs):
            process.send_signal(signal.SIGINT)
        outputs = [p.communicate(timeout=20) for p in (listener, pacs)]
    assert listener.returncode == 0 and pacs.returncode == 0
    listener_out, listener_err = outputs[0]
    assert "listening as QRSCOPE" in listener_err and "instance(s) received" in listener_err
    stored = [line for line in listener_out.splitlines() if line.endswith(".dcm")]
    assert stored and all(pydicom.dcmread(line.split(" -> ")[1]) for line in stored)


def test_demo_tour_runs_end_to_end(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path / "tour")])
    out = capsys.readouterr().out
    assert code == 0
    assert "C-MOVE of study" in out and "C-GET of series" in out
    assert list((tmp_path / "tour").rglob("*.dcm"))


def test_refused_search_gives_the_find_failed_hint(demo, capsys):
    # Study Root has no PATIENT level: the demo PACS answers 0xA900, as PS3.4 wants.
    code = main(["find", *_node_args(demo), "--level", "patient", "--json"])
    result = _json(capsys)
    assert code == 4 and result["hints"] == ["find-failed"]
    assert "0xA900" in result["hint_details"][0]["summary"]


def test_a_retrieve_exits_promptly_while_strangers_hold_associations_to_its_listener(
        demo, tmp_path):
    """Strangers holding Verification associations open to the retrieve's listener,
    echoing now and then, kept ``qrscope retrieve`` from exiting until their idle
    time ran out (121 s; over 260 s with their echoes): the process waited for
    pynetdicom's threads of associations that were not its own."""
    from tests.core.listener_peers import require_loopback_sources

    require_loopback_sources("127.0.0.5")
    study_uid, count = _a_study(demo)
    port = demo.local.listener_port
    started = time.monotonic()
    process = _run(["retrieve", *_node_args(demo), "--study", study_uid, "--listen-port",
                    str(port), "--out", str(tmp_path / "out"), "--json"], tmp_path)
    held: list = []
    stop = threading.Event()

    def hold_and_echo() -> None:
        ae = AE(ae_title="STRANGER")
        ae.add_requested_context(Verification)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        while not stop.is_set() and len(held) < 4:
            assoc = ae.associate("127.0.0.1", port, ae_title="QRSCOPE",
                                 bind_address=("127.0.0.5", 0))
            if assoc.is_established:
                held.append(assoc)
            else:
                stop.wait(0.05)  # the listener is not up yet
        while not stop.wait(1.0):
            for assoc in held:
                if assoc.is_established:
                    assoc.send_c_echo()

    holder = threading.Thread(target=hold_and_echo, daemon=True)
    holder.start()
    try:
        out, err = process.communicate(timeout=60)
        lived = time.monotonic() - started
    finally:
        stop.set()
        holder.join(10)
        for assoc in held:
            assoc.abort()
        process.kill()
    result = json.loads(out)
    assert process.returncode == 0, err
    assert result["received"] == count and held, (result, len(held))
    # Besides the retrieve itself: starting Python and qrscope, and ending. Nothing
    # waits for the strangers (their associations idle out after 120 s).
    assert lived - result["seconds"] < 10, (lived, result["seconds"])
