"""Retrieves: C-MOVE and C-GET of a study, series or instances.

The package is split along what a retrieve does (see docs/ARCHITECTURE.md):

- :mod:`~qrscope.core.retrieve.types`: what is asked for (``RetrieveScope``,
  from :mod:`~qrscope.core.retrieve.scope`), how it goes (``RetrieveProgress``)
  and how it ended (``RetrieveOutcome``, from :mod:`~qrscope.core.retrieve.outcome`,
  frozen and built once); plain values the CLI, the window and the diagnosis share.
- :mod:`~qrscope.core.retrieve.plan`: what the PACS holds for the scope,
  learnt by conformant C-FINDs before a C-GET.
- :mod:`~qrscope.core.retrieve.contexts`: the storage contexts a C-GET proposes.
- :mod:`~qrscope.core.retrieve.job`: ``RetrieveJob``, the retrieve as the user
  sees it, which orchestrates the steps and owns cancel and progress.
- :mod:`~qrscope.core.retrieve.ledger`: what a retrieve asked for, received
  and credited (each SOP Instance UID once).
- :mod:`~qrscope.core.receive.claims`: the one rule for which running
  retrieve an instance arriving at the listener counts for.
- :mod:`~qrscope.core.retrieve.recovery`: asking again for what is missing.

The names below are imported when first asked for: the storage contexts of
a C-GET (:mod:`~qrscope.core.retrieve.contexts`) serve a send as well, which
needs none of the retrieve's own machinery (its plan's C-FIND, the job).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["RetrieveJob", "RetrieveOutcome", "RetrieveProgress", "RetrieveScope",
           "RetrieveState"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = "job" if name == "RetrieveJob" else "types"
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
