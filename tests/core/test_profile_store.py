"""Profiles survive hand edits, old formats and corruption without losing nodes."""

import json

import pytest

from qrscope.core.profile_store import Profiles, ProfileStore
from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode, RetrieveMethod, Timeouts
from qrscope.core.validation import InvalidValue


def _node(name="PACS", **kw):
    return RemoteNode(name=name, ae_title=kw.pop("ae_title", "ORTHANC"),
                      host=kw.pop("host", "127.0.0.1"), port=kw.pop("port", 4242), **kw)


def test_round_trip_keeps_every_field(tmp_path):
    store = ProfileStore(tmp_path / "profiles.json")
    profiles = Profiles(
        local=LocalAE(ae_title="WS1", listener_port=11113, storage_folder=tmp_path / "in"),
        nodes=[_node(query_model=QueryModel.PATIENT_ROOT, retrieve_method=RetrieveMethod.GET,
                     move_destination="OTHER", timeouts=Timeouts(retrieve_idle=900)),
               _node("Second", port=104)],
    )
    store.save(profiles)
    loaded = store.load()
    assert loaded.problems == []
    assert loaded.local == profiles.local
    assert loaded.nodes == profiles.nodes
    text = (tmp_path / "profiles.json").read_text()
    assert '"format_version": 1' in text and "\n  " in text  # readable


def test_corrupt_file_is_kept_aside_and_defaults_are_used(tmp_path):
    path = tmp_path / "profiles.json"
    path.write_text('{"nodes": [ {"name": "half')
    loaded = ProfileStore(path).load()
    assert loaded.nodes == []
    assert "not valid JSON" in loaded.problems[0]
    kept = list(tmp_path.glob("profiles.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text().startswith('{"nodes"')


def test_unreadable_node_is_reported_and_written_back_unchanged(tmp_path):
    path = tmp_path / "profiles.json"
    broken = {"name": "Broken", "port": "not a number"}
    path.write_text(json.dumps({"format_version": 1, "nodes": [
        _node().to_dict(), broken]}))
    store = ProfileStore(path)
    loaded = store.load()
    assert [n.name for n in loaded.nodes] == ["PACS"]
    assert any("node 2 ('Broken') could not be read" in p for p in loaded.problems)
    store.save(loaded)
    again = json.loads(path.read_text())
    assert broken in again["nodes"]
    assert (tmp_path / "profiles.json.bak").exists()


def test_node_with_invalid_values_is_kept_and_its_problems_named(tmp_path):
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"format_version": 1, "nodes": [
        {"name": "Typo", "ae_title": "WAY_TOO_LONG_AE_TITLE", "host": "h", "port": 99999}]}))
    loaded = ProfileStore(path).load()
    assert loaded.nodes[0].name == "Typo"
    assert any("at most 16" in p for p in loaded.problems)
    assert any("65535" in p for p in loaded.problems)


def test_legacy_unversioned_file_is_migrated(tmp_path):
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({
        "local": {"aet": "OLDWS", "port": 4006},
        "nodes": [{"name": "Old", "aet": "OLDPACS", "address": "10.0.0.5", "port": 104}],
    }))
    loaded = ProfileStore(path).load()
    assert loaded.local.ae_title == "OLDWS" and loaded.local.listener_port == 4006
    assert loaded.nodes[0].ae_title == "OLDPACS" and loaded.nodes[0].host == "10.0.0.5"


def test_export_then_import_renames_clashing_names(tmp_path):
    exported = tmp_path / "nodes.json"
    ProfileStore.export_nodes([_node("PACS"), _node("Archive")], exported)
    into = Profiles(nodes=[_node("PACS")])
    added, problems = ProfileStore.import_nodes(exported, into)
    assert problems == []
    assert [n.name for n in added] == ["PACS (2)", "Archive"]
    assert [n.name for n in into.nodes] == ["PACS", "PACS (2)", "Archive"]


def test_import_of_garbage_reports_and_changes_nothing(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\x00\xff not json")
    into = Profiles(nodes=[_node()])
    added, problems = ProfileStore.import_nodes(bad, into)
    assert added == [] and problems and len(into.nodes) == 1


def test_node_validation_names_each_field():
    node = _node(ae_title="", host="bad host!", port=0, move_destination="X\\Y")
    fields = {p.field for p in node.problems()}
    assert fields == {"ae_title", "host", "port", "move_destination"}
    with pytest.raises(InvalidValue):
        node.validated()


def test_node_host_resolution_is_checked_on_request():
    node = _node(host="no-such-host.invalid")
    assert node.problems() == []
    assert [p.field for p in node.problems(resolve=True)] == ["host"]


def test_unknown_node_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="known: PACS"):
        Profiles(nodes=[_node()]).node("Nope")
