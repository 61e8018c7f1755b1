"""A node's pace settings in the profiles: optional, validated, and old files still load."""

from __future__ import annotations

import json

import pytest

from qrscope.core.profile_store import Profiles, ProfileStore
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.validation import InvalidValue


def _node(**kw: object) -> RemoteNode:
    return RemoteNode(name="PACS", ae_title="ORTHANC", host="127.0.0.1", port=4242,
                      **kw)  # type: ignore[arg-type]


def test_the_two_settings_survive_a_save_and_a_load(tmp_path) -> None:
    store = ProfileStore(tmp_path / "profiles.json")
    node = _node(max_parallel_retrieves=3, availability_window="Mon-Fri 20:00-07:00")
    store.save(Profiles(local=LocalAE(storage_folder=tmp_path / "in"), nodes=[node]))
    loaded = store.load()
    assert loaded.problems == [] and loaded.nodes == [node]
    stored = json.loads((tmp_path / "profiles.json").read_text())["nodes"][0]
    assert stored["max_parallel_retrieves"] == 3
    assert stored["availability_window"] == "Mon-Fri 20:00-07:00"


def test_a_profiles_file_without_them_loads_with_no_limit_and_no_window(tmp_path) -> None:
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"format_version": 1, "nodes": [
        {"name": "Old", "ae_title": "OLDPACS", "host": "10.0.0.5", "port": 104}]}))
    loaded = ProfileStore(path).load()
    assert loaded.problems == []
    old = loaded.nodes[0]
    assert (old.max_parallel_retrieves, old.availability_window, old.window) == (0, "", None)


def test_a_window_that_cannot_be_read_is_named_and_the_node_kept(tmp_path) -> None:
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"format_version": 1, "nodes": [
        {"name": "Night", "ae_title": "PACS", "host": "h", "port": 104,
         "availability_window": "Mon-Fri 20:00-31:00", "max_parallel_retrieves": 99}]}))
    loaded = ProfileStore(path).load()
    assert loaded.nodes[0].name == "Night" and loaded.nodes[0].window is None
    assert any("availability_window" in p and "'31:00' is not a time of day" in p
               for p in loaded.problems), loaded.problems
    assert any("max_parallel_retrieves" in p and "1 to 32" in p for p in loaded.problems)


@pytest.mark.parametrize(("fields", "field"), [
    ({"max_parallel_retrieves": -1}, "max_parallel_retrieves"),
    ({"max_parallel_retrieves": 33}, "max_parallel_retrieves"),
    ({"availability_window": "Mon-Fri"}, "availability_window"),
])
def test_validation_names_the_field(fields: dict, field: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        _node(**fields).validated()
    assert raised.value.field == field


def test_validated_tidies_the_window_and_reads_it() -> None:
    node = _node(availability_window="  Sat-Sun   00:00-24:00 ", max_parallel_retrieves=2)
    tidy = node.validated()
    assert tidy.availability_window == "Sat-Sun 00:00-24:00"
    assert tidy.window is not None and tidy.window.intervals == ((7200, 10080),)
    assert _node().validated().window is None
