"""A damaged profiles file never stops qrscope and never costs the user a setting.

Each test is one of the ways issue 11 found to break the file: bytes that
are not text, text that is not JSON, values of the wrong type, nesting a
parser cannot follow. The program must start, say what it did with the
file, and write back on save what it could not read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from qrscope.core.profile_store import ProfileStore
from qrscope.core.profiles import DEFAULT_AE_TITLE, LocalAE, RemoteNode
from qrscope.core.security import AcceptPolicy, TlsSettings, UserIdentity
from qrscope.core.validation import InvalidValue

GOOD_NODE = {"name": "PACS", "ae_title": "ORTHANC", "host": "10.0.0.5", "port": 4242}


def _write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _copies(folder: Path) -> list[Path]:
    return sorted(folder.glob("profiles.json.corrupt-*"))


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(os.urandom(64) + b"\xff\xfe", "not UTF-8 text", id="random-bytes"),
        pytest.param(b'{"local": {"ae_title": "M\xfcLLER"}}', "not UTF-8 text",
                     id="latin-1"),
        pytest.param(b'{"nodes": [ {"name": "half', "not valid JSON", id="truncated"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nested too deeply",
                     id="beyond-the-parser"),
        pytest.param(b"[" * 200 + b"]" * 200, "nested too deeply", id="deep"),
        pytest.param(b'["a list", "not an object"]', "does not hold a JSON object",
                     id="list"),
        pytest.param(b"null", "does not hold a JSON object", id="null"),
    ],
)
def test_a_file_that_cannot_be_used_is_copied_aside_and_defaults_are_used(
        tmp_path, content, words):
    path = tmp_path / "profiles.json"
    path.write_bytes(content)
    store = ProfileStore(path)
    loaded = store.load()
    assert loaded.nodes == [] and loaded.local == LocalAE()
    [copy] = _copies(tmp_path)
    assert copy.read_bytes() == content
    [message] = loaded.problems
    assert words in message and str(copy) in message and "default settings" in message
    store.save(loaded)  # the window saves on close: the copy is what keeps the old bytes
    assert ProfileStore(path).load().problems == [] and copy.read_bytes() == content


def test_a_byte_order_mark_is_not_damage(tmp_path):
    path = tmp_path / "profiles.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"nodes": [GOOD_NODE]}).encode())
    loaded = ProfileStore(path).load()
    assert loaded.problems == [] and loaded.nodes[0].name == "PACS"


def test_two_copies_set_aside_in_the_same_second_both_survive(tmp_path):
    path = tmp_path / "profiles.json"
    path.write_bytes(b"first damage")
    ProfileStore(path).load()
    path.write_bytes(b"second damage")
    ProfileStore(path).load()
    assert sorted(p.read_bytes() for p in _copies(tmp_path)) == [b"first damage",
                                                                  b"second damage"]


def test_a_port_of_1e999_makes_the_node_unreadable_and_it_is_written_back(tmp_path):
    path = tmp_path / "profiles.json"
    path.write_text('{"format_version": 1, "nodes": [{"name": "Big", "ae_title": "A", '
                    '"host": "h", "port": 1e999}]}')
    store = ProfileStore(path)
    loaded = store.load()
    assert loaded.nodes == []
    assert any("node 1" in p and "port" in p and "whole number" in p
               for p in loaded.problems)
    store.save(loaded)
    [kept] = json.loads(path.read_text())["nodes"]
    assert kept["name"] == "Big" and kept["port"] == float("inf")


def test_a_local_port_of_1e999_is_reported_and_kept(tmp_path):
    path = tmp_path / "profiles.json"
    path.write_text('{"format_version": 1, "local": {"ae_title": "WS1", '
                    '"listener_port": 1e999}}')
    store = ProfileStore(path)
    loaded = store.load()
    assert loaded.local.ae_title == "WS1"
    assert any("listener_port" in p for p in loaded.problems)
    store.save(loaded)
    local = json.loads(path.read_text())["local"]
    assert local["ae_title"] == "WS1" and local["listener_port"] == float("inf")


def test_a_wrongly_typed_local_field_does_not_cost_the_others_on_the_next_save(tmp_path):
    path = _write(tmp_path / "profiles.json", {"format_version": 1, "local": {
        "ae_title": "WS1", "storage_folder": "/data/incoming", "listener_port": "11112x",
        "mask_patient_identifiers": True}})
    store = ProfileStore(path)
    loaded = store.load()
    assert loaded.local.ae_title == "WS1"
    assert loaded.local.storage_folder == Path("/data/incoming")
    assert loaded.local.mask_patient_identifiers is True
    assert any("listener_port" in p and "11112x" in p for p in loaded.problems)
    store.save(loaded)
    local = json.loads(path.read_text())["local"]
    assert local["ae_title"] == "WS1" and local["storage_folder"] == "/data/incoming"
    assert local["listener_port"] == "11112x"


def test_a_local_field_the_user_then_changes_is_saved_as_changed(tmp_path):
    from dataclasses import replace

    path = _write(tmp_path / "profiles.json", {"format_version": 1, "local": {
        "ae_title": 5, "storage_folder": "/data/incoming"}})
    store = ProfileStore(path)
    loaded = store.load()
    loaded.local = replace(loaded.local, ae_title="FIXED")
    store.save(loaded)
    assert json.loads(path.read_text())["local"]["ae_title"] == "FIXED"


def test_a_local_section_that_is_not_an_object_is_kept_verbatim(tmp_path):
    path = _write(tmp_path / "profiles.json", {"format_version": 1,
                                                "local": ["WS1", 11112, "/data"],
                                                "nodes": [GOOD_NODE]})
    store = ProfileStore(path)
    loaded = store.load()
    assert loaded.local == LocalAE()
    assert any("local AE" in p and "kept" in p for p in loaded.problems)
    store.save(loaded)
    assert json.loads(path.read_text())["local"] == ["WS1", 11112, "/data"]


def test_a_file_with_wrong_types_is_also_copied_aside_once(tmp_path):
    path = _write(tmp_path / "profiles.json", {"format_version": 1,
                                                "local": {"ae_title": None}})
    first = ProfileStore(path).load()
    ProfileStore(path).load()  # every command loads it again
    [copy] = _copies(tmp_path)
    assert json.loads(copy.read_text()) == {"format_version": 1, "local": {"ae_title": None}}
    assert path.exists()
    assert any(str(copy) in p for p in first.problems)


def test_null_values_are_not_turned_into_the_text_none(tmp_path):
    path = _write(tmp_path / "profiles.json", {"format_version": 1, "local": {
        "ae_title": None, "storage_folder": None}})
    loaded = ProfileStore(path).load()
    assert loaded.local.ae_title == DEFAULT_AE_TITLE
    assert str(loaded.local.storage_folder) != "None"
    assert any("ae_title" in p and "null" in p for p in loaded.problems)
    assert any("storage_folder" in p and "null" in p for p in loaded.problems)


def test_the_text_false_does_not_switch_masking_on(tmp_path):
    path = _write(tmp_path / "profiles.json", {"format_version": 1, "local": {
        "mask_patient_identifiers": "false"}})
    loaded = ProfileStore(path).load()
    assert loaded.local.mask_patient_identifiers is False
    assert any("mask_patient_identifiers" in p and "true or false" in p
               for p in loaded.problems)


@pytest.mark.parametrize(
    ("field", "value"),
    [("port", True), ("port", "104"), ("port", 104.5), ("name", None), ("ae_title", 7),
     ("query_model", "STUDY"), ("timeouts", {"connect": "10"}),
     ("timeouts", {"response": float("nan")}), ("timeouts", []),
     ("tls", {"verify": "false"}), ("tls", {"enabled": 1}), ("tls", "on"),
     ("identity", {"kind": "password"}), ("identity", {"username": None})],
)
def test_a_node_field_of_the_wrong_type_keeps_the_node_verbatim(tmp_path, field, value):
    raw = {**GOOD_NODE, field: value}
    path = _write(tmp_path / "profiles.json", {"format_version": 1, "nodes": [raw]})
    store = ProfileStore(path)
    loaded = store.load()
    assert loaded.nodes == []
    assert any("node 1" in p and field in p for p in loaded.problems)
    store.save(loaded)
    saved = json.loads(path.read_text())["nodes"]
    assert json.dumps(saved) == json.dumps([raw])


def test_the_accept_policy_is_read_strictly(tmp_path):
    path = _write(tmp_path / "profiles.json", {"format_version": 1, "local": {
        "accept": "sometimes", "listener_tls": {"enabled": "yes"}}})
    loaded = ProfileStore(path).load()
    assert loaded.local.accept is AcceptPolicy.KNOWN
    assert loaded.local.listener_tls == TlsSettings()
    assert any("accept" in p and "known, any" in p for p in loaded.problems)
    assert any("listener_tls.enabled" in p for p in loaded.problems)


def test_security_settings_refuse_loose_types():
    with pytest.raises(InvalidValue, match="verify"):
        TlsSettings.from_dict({"verify": "false"})
    with pytest.raises(InvalidValue, match="ca_file"):
        TlsSettings.from_dict({"ca_file": None})
    with pytest.raises(InvalidValue, match="kind"):
        UserIdentity.from_dict({"kind": "token"})
    with pytest.raises(InvalidValue, match="ask_for_response"):
        UserIdentity.from_dict({"ask_for_response": 0})
    assert TlsSettings.from_dict(None) == TlsSettings()
    tls = TlsSettings(enabled=True, ca_file="ca.pem", verify=False)
    assert TlsSettings.from_dict(tls.to_dict()) == tls


def test_a_node_round_trips_through_the_strict_reader():
    node = RemoteNode(name="N", ae_title="A", host="h", port=11112,
                      tls=TlsSettings(enabled=True, cert_file="c.pem"),
                      identity=UserIdentity.from_dict({"kind": "username", "username": "u"}))
    assert RemoteNode.from_dict(node.to_dict()) == node


def test_a_file_that_cannot_be_opened_is_left_alone_and_not_overwritten(tmp_path):
    path = tmp_path / "profiles.json"
    path.mkdir()  # something that is not a readable file
    store = ProfileStore(path)
    loaded = store.load()
    assert loaded.local == LocalAE()
    assert any("cannot be read" in p and "not be overwritten" in p for p in loaded.problems)
    with pytest.raises(OSError, match="not overwritten"):
        store.save(loaded)
    assert path.is_dir() and _copies(tmp_path) == []


def test_the_window_session_starts_on_a_damaged_file_and_closing_keeps_the_copy(
        tmp_path, caplog):
    from qrscope.session import Session

    path = tmp_path / "profiles.json"
    path.write_bytes(b"\xff\x00 not a profiles file")
    session = Session(ProfileStore(path))
    assert any(str(path) in r.getMessage() and "corrupt-" in r.getMessage()
               for r in caplog.records)
    session.close()
    [copy] = _copies(tmp_path)
    assert copy.read_bytes() == b"\xff\x00 not a profiles file"
    assert json.loads(path.read_text())["format_version"] == 1


def test_closing_the_window_does_not_overwrite_a_file_it_could_not_read(tmp_path, caplog):
    from qrscope.session import Session

    path = tmp_path / "profiles.json"
    path.mkdir()
    Session(ProfileStore(path)).close()
    assert path.is_dir()
    assert any("not overwritten" in r.getMessage() for r in caplog.records)
