"""User identity (PS3.7 D.3.3.7) against a small pynetdicom SCP that checks it.

Orthanc 1.10 ignores the user identity item, so the SCP here is the peer
that can reject one. The passcode comes from the keyring (an in-memory
back end) and must appear in no file or log qrscope writes.
"""

from __future__ import annotations

import json
import logging
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification
from tests.memory_keyring import memory_keyring  # noqa: F401  (the fixture)

from qrscope.core.net import secrets
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import AssociationFailure, FailureReason
from qrscope.core.net.verify import verify
from qrscope.core.profile_store import Profiles, ProfileStore
from qrscope.core.profiles import LocalAE, RemoteNode, Timeouts
from qrscope.core.security import IdentityKind, UserIdentity
from qrscope.diagnosis.hints import hint_for_failure
from qrscope.diagnosis.support_bundle import write_support_bundle

PASSCODE = "Zebra-Quartz-7741"

pytestmark = pytest.mark.usefixtures("memory_keyring")


class IdentityScp:
    """Accepts only user 'alice' with PASSCODE (or 'bob' by user name alone)."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, bytes, bytes | None]] = []
        self.ae = AE("IDSCP")
        self.ae.add_supported_context(Verification)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.server = self.ae.start_server(
            ("127.0.0.1", self.port), block=False,
            evt_handlers=[(evt.EVT_USER_ID, self._check)])

    def _check(self, event) -> tuple[bool, bytes | None]:
        self.seen.append((event.user_id_type, event.primary_field, event.secondary_field))
        if event.user_id_type == 1:
            return event.primary_field == b"bob", None
        return (event.primary_field == b"alice"
                and event.secondary_field == PASSCODE.encode()), None


@pytest.fixture
def scp() -> Iterator[IdentityScp]:
    server = IdentityScp()
    yield server
    server.server.shutdown()


def _node(scp: IdentityScp, kind: IdentityKind, username: str,
          ask: bool = False) -> RemoteNode:
    return RemoteNode(name="Secure PACS", ae_title="IDSCP", host="127.0.0.1", port=scp.port,
                      identity=UserIdentity(kind, username, ask),
                      timeouts=Timeouts(connect=3, association=3, response=3))


def test_username_only_is_negotiated(scp):
    log = AssociationLog()
    assert verify(_node(scp, IdentityKind.USERNAME, "bob"), LocalAE(), log).ok
    assert scp.seen == [(1, b"bob", b"")]
    line = next(e for e in log.events() if e.kind == "user-identity")
    assert "'bob'" in line.summary and "no confirmation asked for" in line.summary


def test_username_and_passcode_from_the_keyring(scp):
    secrets.store_passcode("Secure PACS", PASSCODE)
    log = AssociationLog()
    node = _node(scp, IdentityKind.USERNAME_PASSCODE, "alice", ask=True)
    assert verify(node, LocalAE(), log).ok
    assert scp.seen == [(2, b"alice", PASSCODE.encode())]
    line = next(e for e in log.events() if e.kind == "user-identity")
    # pynetdicom, like many servers, sends no response for types 1 and 2.
    assert line.detail["confirmation_requested"] is True
    assert line.detail["confirmed"] is False
    assert "without confirming" in line.summary


def test_a_passcode_typed_for_the_session_is_used_and_not_stored(scp):
    secrets.remember_for_session("Secure PACS", PASSCODE)
    assert verify(_node(scp, IdentityKind.USERNAME_PASSCODE, "alice"), LocalAE(),
                  AssociationLog()).ok
    assert keyring.get_keyring().items == {}


def test_wrong_passcode_gives_user_identity_rejected(scp):
    secrets.store_passcode("Secure PACS", "not-it")
    node = _node(scp, IdentityKind.USERNAME_PASSCODE, "alice")
    with pytest.raises(AssociationFailure) as info:
        verify(node, LocalAE(), AssociationLog())
    assert info.value.reason is FailureReason.USER_IDENTITY_REJECTED
    hint = hint_for_failure(info.value, node, LocalAE())
    assert hint.id == "user-identity-rejected"
    assert "alice" in hint.title
    assert "not-it" not in json.dumps(hint.to_dict())


def test_unknown_user_is_rejected_too(scp):
    node = _node(scp, IdentityKind.USERNAME, "mallory")
    with pytest.raises(AssociationFailure) as info:
        verify(node, LocalAE(), AssociationLog())
    assert hint_for_failure(info.value, node, LocalAE()).id == "user-identity-rejected"


def test_missing_passcode_is_reported_before_connecting(scp):
    node = _node(scp, IdentityKind.USERNAME_PASSCODE, "alice")
    log = AssociationLog()
    with pytest.raises(AssociationFailure) as info:
        verify(node, LocalAE(), log)
    hint = hint_for_failure(info.value, node, LocalAE())
    assert hint.id == "user-identity-passcode-missing"
    assert scp.seen == []


def test_renaming_a_node_moves_its_passcode():
    secrets.store_passcode("Old name", PASSCODE)
    secrets.rename_passcode("Old name", "New name")
    assert secrets.passcode_for("New name") == PASSCODE
    assert secrets.passcode_for("Old name") is None


def test_passcode_is_in_no_file_log_or_bundle(scp, tmp_path: Path, caplog):
    secrets.store_passcode("Secure PACS", PASSCODE)
    node = _node(scp, IdentityKind.USERNAME_PASSCODE, "alice", ask=True)
    local = LocalAE(storage_folder=tmp_path / "in")
    log = AssociationLog()
    caplog.set_level(logging.DEBUG, logger="pynetdicom")
    assert verify(node, local, log, debug=True).ok
    bad = _node(scp, IdentityKind.USERNAME_PASSCODE, "alice")
    secrets.store_passcode("Secure PACS", PASSCODE + "-old")
    with pytest.raises(AssociationFailure):
        verify(bad, local, log, debug=True)

    store = ProfileStore(tmp_path / "profiles.json")
    store.save(Profiles(local=local, nodes=[node]))
    ProfileStore.export_nodes([node], tmp_path / "exported-nodes.json")
    exported_log = tmp_path / "log.jsonl"
    exported_log.write_text(AssociationLog.to_json_lines(log.events()))
    bundle = write_support_bundle(tmp_path / "bundle.zip", log, local, node)
    with zipfile.ZipFile(bundle) as archive:
        bundled = "".join(archive.read(name).decode("utf-8", "replace")
                          for name in archive.namelist())

    assert "Requested User Identity Negotiation" in caplog.text  # the dump did happen
    places = {
        "profiles file": (tmp_path / "profiles.json").read_text(),
        "exported nodes": (tmp_path / "exported-nodes.json").read_text(),
        "association log": exported_log.read_text(),
        "support bundle": bundled,
        "pynetdicom's debug log": caplog.text,
    }
    assert "alice" in places["association log"]  # the user name is not secret
    leaks = [where for where, text in places.items() if PASSCODE in text]
    assert leaks == []


def test_the_command_line_sends_a_user_and_a_prompted_passcode(scp, monkeypatch, capsys):
    from qrscope.cli.main import main

    monkeypatch.setattr("getpass.getpass", lambda prompt: PASSCODE)
    args = ["echo", "--host", "127.0.0.1", "--port", str(scp.port), "--called-aet", "IDSCP",
            "--user", "alice", "--passcode-prompt", "--json"]
    assert main(args) == 0, capsys.readouterr()
    assert scp.seen[-1] == (2, b"alice", PASSCODE.encode())
    monkeypatch.setattr("getpass.getpass", lambda prompt: "wrong")
    assert main(args) == 3
    assert "user-identity-rejected" in capsys.readouterr().out
