"""The node's retrieve slots a batch borrows, one retrieve at a time.

A node has one budget of parallel retrieves (its ``max_parallel_retrieves``):
the single retrieves asked from the window and the retrieves of its batches
share it. The job service owns the budget; a batch's runner asks it for a
slot before each retrieve and gives it back after, through this small
interface, so that the runner knows nothing of the service (the batch room
sits below ``core/jobs``). A lender gives a single retrieve queued for the
node the next free slot before a batch's next retrieve.
"""

from __future__ import annotations

import threading
from typing import Protocol

__all__ = ["RetrieveSlots", "UnlimitedSlots"]


class RetrieveSlots(Protocol):
    """Lends a node's retrieve slots to a batch."""

    def acquire(self, cancel: threading.Event) -> bool:
        """Block until a slot is lent (``True``) or *cancel* is set (``False``)."""

    def release(self) -> None:
        """Give back a slot :meth:`acquire` lent."""


class UnlimitedSlots:
    """A runner on its own (tests, a tool without a job service): only its pace bounds it."""

    def acquire(self, cancel: threading.Event) -> bool:
        return not cancel.is_set()

    def release(self) -> None:
        """Nothing was counted."""
