"""qrscope on a pynetdicom release its engine was not tested with: stock pynetdicom, and it works.

A user who installs qrscope beside a newer pynetdicom gets no patch written
for another release: every command and the window run on stock pynetdicom,
and ``--version`` and the log say so once. The release is simulated by
changing ``pynetdicom.__version__`` before qrscope starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Each run picks its engine from the simulated release, whatever the suite's pass.
pytestmark = pytest.mark.own_engines

UNTESTED = "3.0.99"
_START = ("import sys, runpy, pynetdicom; pynetdicom.__version__ = {version!r}; "
          "sys.argv = ['qrscope', *sys.argv[1:]]; "
          "runpy.run_module('qrscope', run_name='__main__', alter_sys=True)")


def _qrscope(home: Path, *args: str, version: str = UNTESTED,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
           "XDG_STATE_HOME": str(home / "state"), "XDG_CACHE_HOME": str(home / "cache")}
    env.pop("QRSCOPE_ENGINE", None)
    return subprocess.run([sys.executable, "-c", _START.format(version=version), *args],
                          env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def test_version_says_stock_pynetdicom_and_why(tmp_path):
    done = _qrscope(tmp_path, "--version")
    assert done.returncode == 0, done.stderr
    assert f"pynetdicom {UNTESTED}" in done.stdout
    assert (f"engine: stock pynetdicom {UNTESTED} (the tuned engine was tested with "
            "pynetdicom 3.0.4 only)") in done.stdout


def test_echo_find_move_and_get_work_on_stock_pynetdicom(tmp_path):
    """The demo tour runs every network operation: C-ECHO, C-FIND, C-MOVE to our listener, C-GET."""
    done = _qrscope(tmp_path, "demo", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "success: 16 instance(s) received over 1 incoming association(s)" in done.stdout
    assert "success: 2 instance(s) received" in done.stdout
    warned = [line for line in done.stderr.splitlines() if "running on stock pynetdicom" in line]
    assert len(warned) == 1, done.stderr
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 18


@pytest.mark.parametrize("method", ["move", "get"])
def test_retrieve_and_jobs_commands_work_on_stock_pynetdicom(tmp_path, method):
    """``qrscope retrieve`` against a demo PACS that also runs on the untested release."""
    from tests.ports import free_port

    pacs_port, listener_port = free_port(), free_port()
    config = tmp_path / "profiles.json"
    config.write_text(json.dumps({"local": {"ae_title": "QRSCOPE",
                                            "listener_port": listener_port,
                                            "storage_folder": str(tmp_path / "store")}}))
    start = _START.format(version=UNTESTED)
    env = {**os.environ, "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("QRSCOPE_ENGINE", None)
    pacs = subprocess.Popen([sys.executable, "-c", start, "demo-pacs", "--port", str(pacs_port),
                             "--config", str(config)], env=env, stderr=subprocess.PIPE,
                            text=True)
    try:
        said = [pacs.stderr.readline(), pacs.stderr.readline()]
        assert "running on stock pynetdicom" in said[0]
        assert "demo PACS" in said[1]
        node = ["--host", "127.0.0.1", "--port", str(pacs_port), "--called-aet", "DEMOPACS",
                "--config", str(config)]
        found = _qrscope(tmp_path, "find", *node, "--json")
        assert found.returncode == 0, found.stderr
        study = json.loads(found.stdout)["results"][0]["study_uid"]
        done = _qrscope(tmp_path, "retrieve", *node, "--study", study, "--method", method,
                        "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        outcome = json.loads(done.stdout)
        assert outcome["status"] == "success"
        assert outcome["received"] > 0
        jobs = _qrscope(tmp_path, "jobs", "--json", "--config", str(config))
        assert jobs.returncode == 0, jobs.stderr
    finally:
        pacs.terminate()
        pacs.wait(timeout=30)


def test_the_window_opens_and_closes_on_stock_pynetdicom(tmp_path):
    done = _qrscope(tmp_path, "gui", "--quit-after", "2")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
