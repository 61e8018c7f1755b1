"""Saving and loading profiles as a readable JSON file, without ever losing a setting.

The file lives in the user's config folder (``platformdirs``). A user may edit
it by hand, an older qrscope may have written it, or a crash may have
truncated it. Loading never fails: a file that cannot be used is copied aside
under a name no earlier copy has, and defaults are used; a node or a local
setting that cannot be read is reported by field and kept as it was written,
so that saving writes it back untouched instead of replacing it by a default.
A file that cannot even be opened is never overwritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs

from qrscope.core.files import atomic_write, create_exclusive
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.validation import FieldReader, InvalidValue

__all__ = ["FORMAT_VERSION", "KeptLocal", "ProfileStore", "Profiles", "default_config_path"]

FORMAT_VERSION = 1
# Profiles are four levels deep (document, nodes, node, timeouts); anything
# far deeper is damage, and would strain the JSON encoder when written back.
_MAX_DEPTH = 32

# Keys used by files written before the format was versioned (format 0).
_LEGACY_NODE_KEYS = {"aet": "ae_title", "called_aet": "ae_title", "address": "host",
                     "model": "query_model", "method": "retrieve_method"}
_LEGACY_LOCAL_KEYS = {"aet": "ae_title", "port": "listener_port", "bind": "bind_address",
                      "storage": "storage_folder"}


def default_config_path() -> Path:
    return platformdirs.user_config_path("qrscope", appauthor=False) / "profiles.json"


@dataclass(frozen=True)
class KeptLocal:
    """The local AE section as written, where some of it could not be read.

    ``stand_in`` is the :class:`LocalAE` used instead (defaults for the
    fields that could not be read). Saving writes each of those fields as
    it was written for as long as the setting in use is still the stand-in's,
    so only a change the user makes replaces what the file said.
    """

    written: Any
    """The section as in the file (an object, or whatever else was there)."""
    stand_in: LocalAE
    fields: frozenset[str]
    """The top-level fields that could not be read; all of them if the section is not an object."""

    def merged(self, local: LocalAE) -> Any:
        """What to save for *local*: its settings, with the unread parts as written."""
        data = local.to_dict()
        if not isinstance(self.written, dict):
            return self.written if local == self.stand_in else data
        for name in self.fields:
            if name in self.written and getattr(local, name) == getattr(self.stand_in, name):
                data[name] = self.written[name]
        return data


@dataclass
class Profiles:
    """What the store holds: our AE, the nodes in the user's order, and leftovers."""

    local: LocalAE = field(default_factory=LocalAE)
    nodes: list[RemoteNode] = field(default_factory=list)
    unreadable_nodes: list[Any] = field(default_factory=list)
    """Node entries that could not be read; saved back as they were."""
    kept_local: KeptLocal | None = None
    """The local section as written, when parts of it could not be read."""
    problems: list[str] = field(default_factory=list)
    """What went wrong while loading, in words, for the user."""

    @property
    def kept_as_written(self) -> bool:
        """Whether something in the file could not be read and is only carried along."""
        return bool(self.unreadable_nodes) or self.kept_local is not None

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


def _problems_text(problems: list[InvalidValue]) -> str:
    return "; ".join(str(p) for p in problems)


def _read_nodes(raw_nodes: Any, legacy: bool, profiles: Profiles) -> None:
    if not isinstance(raw_nodes, list):
        kept = raw_nodes is not None  # null holds nothing to keep
        profiles.problems.append("'nodes' is not a list; no nodes were read"
                                 + (", and it is kept in the file unchanged" if kept else ""))
        if kept:
            profiles.unreadable_nodes.append(raw_nodes)
        return
    for index, raw in enumerate(raw_nodes, start=1):
        if not isinstance(raw, dict):
            profiles.problems.append(f"node {index} is not an object; it is kept in the "
                                     "file unchanged")
            profiles.unreadable_nodes.append(raw)
            continue
        reader = FieldReader(_rename_keys(raw, _LEGACY_NODE_KEYS) if legacy else raw)
        node = RemoteNode.read(reader)
        if reader.problems:
            name = f" ('{raw['name']}')" if isinstance(raw.get("name"), str) else ""
            profiles.problems.append(
                f"node {index}{name} could not be read ({_problems_text(reader.problems)}); "
                "it is kept in the file unchanged")
            profiles.unreadable_nodes.append(raw)
            continue
        for problem in node.problems():
            profiles.problems.append(f"node '{node.name}': {problem}")
        profiles.nodes.append(node)


def _read_local(raw: Any, legacy: bool, profiles: Profiles) -> None:
    if not isinstance(raw, dict):
        kept = raw is not None  # null holds nothing to keep
        profiles.problems.append(
            "local AE: the section is not an object; default settings are used"
            + (" and it is kept in the file unchanged" if kept else ""))
        if kept:
            profiles.kept_local = KeptLocal(raw, profiles.local,
                                            frozenset(f.name for f in fields(LocalAE)))
        return
    data = _rename_keys(raw, _LEGACY_LOCAL_KEYS) if legacy else raw
    reader = FieldReader(data)
    profiles.local = LocalAE.read(reader)
    for problem in reader.problems:
        profiles.problems.append(f"local AE: {problem}; the default is used until it is "
                                 "corrected, and the file keeps what it says")
    if reader.problems:
        unread = frozenset(p.field.split(".")[0] for p in reader.problems)
        profiles.kept_local = KeptLocal(data, profiles.local, unread)
    for problem in profiles.local.problems():
        profiles.problems.append(f"local AE: {problem}")


def parse_profiles(document: dict[str, Any]) -> Profiles:
    """Read a decoded JSON object of any known format version."""
    profiles = Profiles()
    version = document.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        profiles.problems.append(f"format_version: {version!r} is not a whole number; "
                                 f"the file is read as format {FORMAT_VERSION}")
        version = FORMAT_VERSION
    if version > FORMAT_VERSION:
        profiles.problems.append(
            f"the file was written by a newer qrscope (format {version}); "
            "unknown settings are ignored"
        )
    legacy = version == 0
    _read_local(document.get("local", {}), legacy, profiles)
    _read_nodes(document.get("nodes", []), legacy, profiles)
    return profiles


def dump_profiles(profiles: Profiles) -> str:
    kept = profiles.kept_local
    document = {
        "format_version": FORMAT_VERSION,
        "local": kept.merged(profiles.local) if kept else profiles.local.to_dict(),
        "nodes": [n.to_dict() for n in profiles.nodes] + list(profiles.unreadable_nodes),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


class _Damage(Exception):
    """The file's bytes are not a profiles document; the message says why."""


def _depth(document: Any) -> int:
    """How deeply *document* nests, counted without recursion (so any depth is safe)."""
    deepest, stack = 0, [(document, 1)]
    while stack and deepest <= _MAX_DEPTH:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        children = value.values() if isinstance(value, dict) else value
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return deepest


def _decode(data: bytes) -> Any:
    """The JSON document in *data*, or raise :class:`_Damage` saying what is wrong."""
    try:
        # utf-8-sig: Windows editors put a byte order mark in front.
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise _Damage(f"is not UTF-8 text (byte 0x{data[exc.start]:02X} at position "
                      f"{exc.start})") from None
    except json.JSONDecodeError as exc:
        raise _Damage(f"is not valid JSON (line {exc.lineno} column {exc.colno}: "
                      f"{exc.msg})") from None
    except RecursionError:
        raise _Damage(f"is nested too deeply (more than {_MAX_DEPTH} levels)") from None
    if isinstance(document, dict | list) and _depth(document) > _MAX_DEPTH:
        raise _Damage(f"is nested too deeply (more than {_MAX_DEPTH} levels)")
    return document


def _decode_object(data: bytes) -> dict[str, Any]:
    document = _decode(data)
    if not isinstance(document, dict):
        raise _Damage("does not hold a JSON object")
    return document


class ProfileStore:
    """The profiles file: load, save, import and export nodes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_config_path()
        self._not_overwritten: str | None = None
        """Why :meth:`save` must not replace the file (set by :meth:`load`)."""

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> Profiles:
        """Read the file; never raises. What went wrong is in ``problems``.

        A missing file gives defaults. A file that cannot be used, or holds
        settings that cannot be read, is copied aside first (see
        :meth:`_copy_aside`); one that cannot be opened is left alone and
        :meth:`save` will not overwrite it.
        """
        self._not_overwritten = None
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return Profiles()
        except OSError as exc:
            reason = f"it could not be read when qrscope started ({exc.strerror})"
            self._not_overwritten = reason
            return Profiles(problems=[f"the file cannot be read ({exc.strerror}); default "
                                      "settings are used and it will not be overwritten"])
        try:
            profiles = parse_profiles(_decode_object(data))
        except _Damage as damage:
            profiles = Profiles()
            profiles.problems.append(self._kept(data, f"the file {damage}",
                                                "default settings are used"))
            return profiles
        if profiles.kept_as_written:
            profiles.problems.append(self._kept(
                data, "some settings could not be read", "they are kept in the file as "
                "written"))
        return profiles

    def _kept(self, data: bytes, what: str, then: str) -> str:
        """Copy *data* aside and say so; if that fails, protect the file instead."""
        try:
            copy = self._copy_aside(data)
        except OSError as exc:
            self._not_overwritten = f"no copy of it could be made ({exc.strerror})"
            return (f"{what}; {then}, and since no copy could be made ({exc.strerror}) "
                    "the file will not be overwritten")
        return f"{what}; a copy is kept as {copy}, and {then}"

    def _copy_aside(self, data: bytes) -> Path:
        """A copy of *data* beside the file, under a name no earlier copy has.

        Every command loads the file, so an identical earlier copy is reused
        rather than piling up one per run.
        """
        prefix = f"{self.path.name}.corrupt-"
        for earlier in sorted(self.path.parent.iterdir()):
            if (earlier.name.startswith(prefix) and earlier.is_file()
                    and earlier.stat().st_size == len(data) and earlier.read_bytes() == data):
                return earlier
        stem = prefix + datetime.now().strftime("%Y%m%d-%H%M%S")
        number = 1
        while True:
            target = self.path.with_name(stem if number == 1 else f"{stem}-{number}")
            if create_exclusive(target, data):
                return target
            number += 1

    def save(self, profiles: Profiles) -> None:
        """Write atomically; the previous file is kept as ``.bak``.

        Raises ``OSError`` when the file could not be read or copied at
        load time: writing would destroy settings nobody has seen.
        """
        if self._not_overwritten:
            raise OSError(f"{self.path} was not overwritten: {self._not_overwritten}")
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
            document = _decode(path.read_bytes())
        except OSError as exc:
            return [], [f"cannot import {path}: {exc.strerror}"]
        except _Damage as damage:
            return [], [f"cannot import {path}: it {damage}"]
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
