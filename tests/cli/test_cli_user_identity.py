"""``--user`` and ``--passcode-prompt`` on the command line, against an SCP that checks them.

The passcode is typed at the prompt (``getpass``), used for this command
only, and appears in nothing printed.
"""

from __future__ import annotations

import json

import pytest
from tests.core.test_user_identity import PASSCODE, IdentityScp
from tests.memory_keyring import memory_keyring  # noqa: F401  (the fixture)

from qrscope.cli.main import main

pytestmark = pytest.mark.usefixtures("memory_keyring")


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    """Never read or write the user's real profiles."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture
def scp():
    server = IdentityScp()
    yield server
    server.server.shutdown()


def _echo(scp: IdentityScp, monkeypatch, typed: str, capsys) -> tuple[int, dict, str]:
    prompts: list[str] = []

    def type_at_the_prompt(prompt: str = "") -> str:
        prompts.append(prompt)
        return typed

    monkeypatch.setattr("getpass.getpass", type_at_the_prompt)
    code = main(["echo", "--host", "127.0.0.1", "--port", str(scp.port), "--called-aet",
                 "IDSCP", "--user", "alice", "--passcode-prompt", "--json"])
    captured = capsys.readouterr()
    assert len(prompts) == 1 and "alice" in prompts[0]
    return code, json.loads(captured.out), captured.out + captured.err


def test_the_passcode_typed_at_the_prompt_is_sent_with_the_user(scp, monkeypatch, capsys):
    code, report, printed = _echo(scp, monkeypatch, PASSCODE, capsys)
    assert code == 0, report
    assert scp.seen == [(2, b"alice", PASSCODE.encode())]
    assert PASSCODE not in printed


def test_a_wrong_passcode_is_exit_3_with_the_user_identity_hint(scp, monkeypatch, capsys):
    code, report, printed = _echo(scp, monkeypatch, "not-it", capsys)
    assert code == 3, report
    assert report["hints"][0] == "user-identity-rejected", report
    assert "not-it" not in printed
