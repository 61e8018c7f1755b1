"""Where the bundled icons live: ``qrscope/resources/``, package data in every install
(source checkout, wheel, PyInstaller bundle)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["icon_path"]

_PACKAGED = Path(__file__).resolve().parent.parent / "resources"


def icon_path(name: str) -> Path:
    return _PACKAGED / name
