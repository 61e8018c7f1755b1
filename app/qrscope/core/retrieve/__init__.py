"""Retrieves: C-MOVE and C-GET of a study, series or instances.

The package is split along what a retrieve does (see docs/ARCHITECTURE.md):

- :mod:`~qrscope.core.retrieve.types`: what is asked for (``RetrieveScope``),
  how it goes (``RetrieveProgress``) and how it ended (``RetrieveOutcome``);
  plain values the CLI, the window and the diagnosis share.
- :mod:`~qrscope.core.retrieve.plan`: what the PACS holds for the scope,
  learnt by conformant C-FINDs before a C-GET.
- :mod:`~qrscope.core.retrieve.contexts`: the storage contexts a C-GET proposes.
- :mod:`~qrscope.core.retrieve.job`: ``RetrieveJob``, the retrieve as the user
  sees it, which owns cancel, progress and the outcome.
- :mod:`~qrscope.core.retrieve.recovery`: asking again for what is missing.
"""

from qrscope.core.retrieve.job import RetrieveJob
from qrscope.core.retrieve.types import (
    RetrieveOutcome,
    RetrieveProgress,
    RetrieveScope,
    RetrieveState,
)

__all__ = ["RetrieveJob", "RetrieveOutcome", "RetrieveProgress", "RetrieveScope",
           "RetrieveState"]
