"""Where the bundled icons live (``resources/`` in a source tree, package data when installed)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["icon_path"]

_PACKAGED = Path(__file__).resolve().parent.parent / "resources"
_SOURCE = Path(__file__).resolve().parents[3] / "resources"


def icon_path(name: str) -> Path:
    for folder in (_PACKAGED, _SOURCE):
        if (folder / name).exists():
            return folder / name
    return _SOURCE / name
