"""The embedded demo PACS: sample studies and a Query/Retrieve SCP that serves them.

Its names are imported when first asked for: the command line reads
:data:`FAULTS` for every ``--help`` and start-up (``qrscope demo-pacs
--fault``), and the server, its samples and their pixel data would add to
each one (docs/PERFORMANCE.md "Sending on")."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DEMO_AE_TITLE",
    "FAULTS",
    "DemoPacs",
    "DemoPacsBehaviour",
    "IndexedInstance",
    "MoveDestinations",
    "build_sample_studies",
    "configure",
    "describe",
]

_MODULES = {
    "DemoPacsBehaviour": "behaviour",
    "FAULTS": "faults",
    "configure": "faults",
    "describe": "faults",
    "IndexedInstance": "index",
    "build_sample_studies": "samples",
    "DEMO_AE_TITLE": "server",
    "DemoPacs": "server",
    "MoveDestinations": "service",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
