"""The command line's answers to bad input and unreachable nodes: clear words, documented codes."""

from __future__ import annotations

import json
import socket

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
    assert out["hints"] == []


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
