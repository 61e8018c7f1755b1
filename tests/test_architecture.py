"""The package's layers, as docs/ARCHITECTURE.md draws them, checked on every import.

A retrieve read from the command line down to the file on disk walks down
these rooms and never climbs back into one it left; the core imports no Qt;
only the engine package imports pynetdicom's internals; no module imports
itself back through others. Imports under ``TYPE_CHECKING`` count too: a
reader follows them all the same.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "app" / "qrscope"

# Bottom to top; a room may import only rooms before it (and itself).
ROOMS = (
    "core.dicom", "core.subscribers", "core.validation", "core.security", "core.files",
    "core.profiles", "core.profile_store", "core.engine", "core.net", "core.query",
    "core.archive.index", "core.imaging", "core.receive", "core.archive", "core.retrieve",
    "core.send", "core.jobs",
    "demo_pacs", "diagnosis", "session",
    "cli", "ui",
)
# Both front ends start the other way in: `qrscope` opens the window, the window
# runs nothing of the command line's but its entry point.
ALLOWED_UPWARD = {("cli", "ui")}
# pynetdicom modules no code outside the engine may import. (``_config`` is
# not among them: despite its name it is pynetdicom's documented settings.)
PYNETDICOM_INTERNALS = ("pynetdicom.dul", "pynetdicom.fsm", "pynetdicom.dimse",
                        "pynetdicom.dimse_messages", "pynetdicom.acse", "pynetdicom._handlers")


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def _room(module: str) -> str | None:
    name = module.removeprefix("qrscope.")
    return next((room for room in sorted(ROOMS, key=len, reverse=True)
                 if name == room or name.startswith(room + ".")), None)


def _modules() -> dict[str, list[str]]:
    return {_module(path): _imports(path) for path in PACKAGE.rglob("*.py")}


def test_every_module_sits_in_a_room():
    homeless = [m for m in _modules() if _room(m) is None
                and m not in ("qrscope", "qrscope.__main__", "qrscope.core")]
    assert homeless == []


def test_imports_go_down_the_rooms_never_up():
    upward = set()
    for module, imported in _modules().items():
        here = _room(module)
        for target in imported:
            there = _room(target) if target.startswith("qrscope.") else None
            if here is None or there is None or there == here:
                continue
            if ROOMS.index(there) > ROOMS.index(here) and (here, there) not in ALLOWED_UPWARD:
                upward.add(f"{module} -> {target}")
    assert sorted(upward) == []


def test_the_core_imports_no_qt():
    qt = [f"{m} -> {t}" for m, imported in _modules().items() if m.startswith("qrscope.core")
          for t in imported if t.split(".")[0] in ("PySide6", "qasync", "shiboken6")]
    assert qt == []


def test_only_the_engine_imports_pynetdicoms_internals():
    reached = [f"{m} -> {t}" for m, imported in _modules().items()
               if not m.startswith("qrscope.core.engine")
               for t in imported if t.startswith(PYNETDICOM_INTERNALS)]
    assert reached == []


def test_no_import_cycle():
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, imported in modules.items():
        graph[module] |= {t for t in imported if t in modules and t != module}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            # A package importing its own submodules (its __init__) is not a cycle.
            real = [m for m in component if not any(o.startswith(m + ".") for o in component)]
            if len(real) > 1:
                cycles.append(sorted(component))

    for module in list(graph):
        if module not in index:
            visit(module)
    assert cycles == []


def test_no_object_pretends_to_be_of_another_class():
    """A proxy that answers ``__class__`` with another type fools ``isinstance`` in the
    library it is handed to; our sockets are real socket subclasses instead."""
    pretenders = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                  if "def __class__" in path.read_text(encoding="utf-8")]
    assert pretenders == []
