"""Saving and loading profiles as a readable JSON file, without ever losing a node.

The file lives in the user's config folder (``platformdirs``). A user may edit
it by hand, an older qrscope may have written it, or a crash may have
truncated it: loading reports each problem, keeps whatever nodes it cannot
read verbatim so that saving writes them back untouched, and sets a corrupt
file aside instead of overwriting it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs

from qrscope.core.files import atomic_write
from qrscope.core.profiles import LocalAE, RemoteNode

__all__ = ["FORMAT_VERSION", "ProfileStore", "Profiles", "default_config_path"]

FORMAT_VERSION = 1
_LOGGER = logging.getLogger(__name__)

# Keys used by files written before the format was versioned (format 0).
_LEGACY_NODE_KEYS = {"aet": "ae_title", "called_aet": "ae_title", "address": "host",
                     "model": "query_model", "method": "retrieve_method"}
_LEGACY_LOCAL_KEYS = {"aet": "ae_title", "port": "listener_port", "bind": "bind_address",
                      "storage": "storage_folder"}


def default_config_path() -> Path:
    return platformdirs.user_config_path("qrscope", appauthor=False) / "profiles.json"


@dataclass
class Profiles:
    """What the store holds: our AE, the nodes in the user's order, and leftovers."""

    local: LocalAE = field(default_factory=LocalAE)
    nodes: list[RemoteNode] = field(default_factory=list)
    unreadable_nodes: list[Any] = field(default_factory=list)
    """Node entries that could not be read; saved back as they were."""
    problems: list[str] = field(default_factory=list)
    """What went wrong while loading, in words, for the user."""

    def node(self, name: str) -> RemoteNode:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes) or "none configured"
        raise KeyError(f"no node named '{name}' (known: {known})")

    def unique_name(self, wanted: str) -> str:
        """*wanted*, or *wanted (2)*, ... so that imported nodes never replace ours."""
        names = {n.name for n in self.nodes}
        if wanted not in names:
            return wanted
        number = 2
        while f"{wanted} ({number})" in names:
            number += 1
        return f"{wanted} ({number})"


def _rename_keys(data: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """Rename legacy keys; where both spellings are present the current one wins."""
    return {
        mapping.get(key, key): value
        for key, value in data.items()
        if not (key in mapping and mapping[key] in data)
    }


def _read_nodes(raw_nodes: Any, legacy: bool, profiles: Profiles) -> None:
    if not isinstance(raw_nodes, list):
        profiles.problems.append("'nodes' is not a list; no nodes were read")
        profiles.unreadable_nodes.append(raw_nodes)
        return
    for index, raw in enumerate(raw_nodes, start=1):
        try:
            if not isinstance(raw, dict):
                raise TypeError("not an object")
            data = _rename_keys(raw, _LEGACY_NODE_KEYS) if legacy else raw
            node = RemoteNode.from_dict(data)
        except (KeyError, ValueError, TypeError) as exc:
            profiles.problems.append(
                f"node {index} could not be read ({exc}); it is kept in the file unchanged"
            )
            profiles.unreadable_nodes.append(raw)
            continue
        for problem in node.problems():
            profiles.problems.append(f"node '{node.name}': {problem}")
        profiles.nodes.append(node)


def parse_profiles(document: Any) -> Profiles:
    """Read a decoded JSON document of any known format version."""
    profiles = Profiles()
    if not isinstance(document, dict):
        profiles.problems.append("the file does not hold a JSON object; defaults are used")
        return profiles
    version = document.get("format_version", 0)
    if isinstance(version, int) and version > FORMAT_VERSION:
        profiles.problems.append(
            f"the file was written by a newer qrscope (format {version}); "
            "unknown settings are ignored"
        )
    legacy = version == 0
    local_raw = document.get("local", {})
    try:
        local_data = _rename_keys(local_raw, _LEGACY_LOCAL_KEYS) if legacy else local_raw
        profiles.local = LocalAE.from_dict(local_data)
        for problem in profiles.local.problems():
            profiles.problems.append(f"local AE: {problem}")
    except (ValueError, TypeError, AttributeError) as exc:
        profiles.problems.append(f"local AE settings could not be read ({exc}); defaults used")
    _read_nodes(document.get("nodes", []), legacy, profiles)
    return profiles


def dump_profiles(profiles: Profiles) -> str:
    document = {
        "format_version": FORMAT_VERSION,
        "local": profiles.local.to_dict(),
        "nodes": [n.to_dict() for n in profiles.nodes] + list(profiles.unreadable_nodes),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


class ProfileStore:
    """The profiles file: load, save, import and export nodes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_config_path()

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> Profiles:
        """Read the file; a missing file gives defaults, a corrupt one is set aside."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Profiles()
        except OSError as exc:
            profiles = Profiles()
            profiles.problems.append(f"cannot read {self.path}: {exc.strerror}")
            return profiles
        try:
            document = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            kept = self._set_aside()
            profiles = Profiles()
            profiles.problems.append(
                f"{self.path.name} is not valid JSON ({exc}); it was kept as {kept.name} "
                "and default settings are used"
            )
            return profiles
        return parse_profiles(document)

    def _set_aside(self) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        self.path.rename(target)
        _LOGGER.warning("corrupt profiles file moved to %s", target)
        return target

    def save(self, profiles: Profiles) -> None:
        """Write atomically; the previous file is kept as ``.bak``."""
        if self.path.exists():
            atomic_write(self.path.with_name(self.path.name + ".bak"), self.path.read_bytes())
        atomic_write(self.path, dump_profiles(profiles))

    @staticmethod
    def export_nodes(nodes: list[RemoteNode], path: Path) -> None:
        document = {"qrscope_nodes": FORMAT_VERSION, "nodes": [n.to_dict() for n in nodes]}
        atomic_write(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")

    @staticmethod
    def import_nodes(path: Path, into: Profiles) -> tuple[list[RemoteNode], list[str]]:
        """Add the nodes of an exported file to *into*, renaming clashes.

        Accepts an export file or a whole profiles file. Returns the nodes
        added and the problems met; nothing in *into* is replaced.
        """
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            return [], [f"cannot import {path}: {exc}"]
        read = Profiles()
        legacy = isinstance(document, dict) and not (
            "qrscope_nodes" in document or "format_version" in document
        )
        raw = document.get("nodes", []) if isinstance(document, dict) else document
        _read_nodes(raw, legacy, read)
        added = []
        for node in read.nodes:
            renamed = RemoteNode(**{**node.__dict__, "name": into.unique_name(node.name)})
            into.nodes.append(renamed)
            added.append(renamed)
        problems = list(read.problems)
        problems += [f"skipped an entry that could not be read: {r!r}"[:200]
                     for r in read.unreadable_nodes]
        return added, problems
