"""The command line's answers to bad input and unreachable nodes: clear words, documented codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from qrscope.cli.main import main


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    """Never read or write the user's real profiles."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def test_invalid_ae_title_is_a_usage_error(capsys):
    code = main(["echo", "--host", "127.0.0.1", "--port", "104",
                 "--called-aet", "MUCH_TOO_LONG_AE_TITLE"])
    assert code == 2
    assert "at most 16" in capsys.readouterr().err


def test_missing_node_is_a_usage_error(capsys):
    assert main(["echo"]) == 2
    assert "--node NAME" in capsys.readouterr().err


def test_unknown_profile_is_named(capsys):
    assert main(["find", "--node", "Nope"]) == 2
    assert "no node named 'Nope'" in capsys.readouterr().err


def test_bad_date_is_refused_before_connecting(capsys):
    code = main(["find", "--host", "127.0.0.1", "--called-aet", "PACS", "--port", "104",
                 "--date", "20241301"])
    assert code == 2
    assert "not a real calendar date" in capsys.readouterr().err


def test_refused_connection_json(capsys):
    port = _free_port()
    code = main(["echo", "--host", "127.0.0.1", "--port", str(port), "--called-aet", "PACS",
                 "--json"])
    assert code == 3
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "failed"
    assert out["error"]["reason"] == "connection-refused"
    assert out["hints"] == ["connection-refused"]
    assert str(port) in out["hint_details"][0]["summary"]


def test_refused_connection_text(capsys):
    port = _free_port()
    assert main(["echo", "--host", "127.0.0.1", "--port", str(port),
                 "--called-aet", "PACS"]) == 3
    err = capsys.readouterr().err
    assert f"refused the connection: nothing is listening on port {port}" in err


def test_retrieve_needs_a_study(capsys):
    assert main(["retrieve", "--host", "127.0.0.1", "--called-aet", "PACS"]) == 2
    assert "--study UID is required" in capsys.readouterr().err


def test_retrieve_rejects_a_uid_that_is_not_one(capsys):
    assert main(["retrieve", "--host", "127.0.0.1", "--called-aet", "PACS",
                 "--study", "1.2.3;rm -rf"]) == 2
    assert "not a valid UID" in capsys.readouterr().err


def test_listener_port_in_use_is_reported(capsys, tmp_path):
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code = main(["retrieve", "--host", "127.0.0.1", "--port", "104",
                     "--called-aet", "PACS", "--study", "1.2.3", "--listen-port", str(port),
                     "--out", str(tmp_path), "--json"])
    assert code == 5
    out = json.loads(capsys.readouterr().out)
    assert out["error"]["reason"] == "listener-port-in-use"
    assert str(port) in out["error"]["message"]
    assert out["hints"] == ["listener-port-in-use"]
    # The port is held by this very test process: the hint names it.
    assert f"process {os.getpid()}" in out["hint_details"][0]["summary"]


def _unprivileged_command() -> list[str]:
    """Run as root but without the right to bind ports below 1024 (a real EACCES)."""
    import shutil
    from pathlib import Path

    start = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    if not start.exists() or int(start.read_text()) == 0:
        pytest.skip("this kernel lets everyone bind low ports")
    if os.geteuid() == 0 and shutil.which("setpriv"):
        return ["setpriv", "--bounding-set=-net_bind_service"]
    if os.geteuid() != 0:
        return []
    pytest.skip("setpriv (util-linux) is needed to drop CAP_NET_BIND_SERVICE")


def test_privileged_listener_port_is_explained(tmp_path):
    command = [*_unprivileged_command(), sys.executable, "-m", "qrscope", "listen",
               "--port", "104", "--out", str(tmp_path)]
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 5
    assert "port 104 is below 1024" in result.stderr and "11112" in result.stderr
    assert "[listener-port-privileged]" in result.stderr  # the hint, by its id
