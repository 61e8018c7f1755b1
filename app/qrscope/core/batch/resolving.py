"""A batch's rows resolved in a thread of their own, while the rows before are fetched.

``qrscope batch FILE`` without a review resolves its rows when it runs. Done
before the first transfer, a list of hundreds of rows kept the PACS's
C-MOVEs waiting for every C-FIND; here the rows are resolved in order, on
one association (:meth:`~qrscope.core.batch.resolve.Resolver.resolve_all`),
and the runner starts fetching a row as soon as it is resolved
(:meth:`ResolveAhead.wait_for`), once as many rows are resolved as it may
fetch at once (:meth:`ResolveAhead.wait_for_first`: at ``--max-parallel 6``
the first six start together, as when every row was resolved first).

A PACS that cannot be reached ends the resolving (:attr:`ResolveAhead.unreachable`):
the runner starts no retrieve after it, and the rows not resolved stay
``pending`` for the next run, as do those after a cancel.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from qrscope.core.batch.items import ItemProgress
from qrscope.core.batch.resolve import Resolver
from qrscope.core.net.connection import AssociationFailure

__all__ = ["ResolveAhead"]

_LOGGER = logging.getLogger(__name__)


class ResolveAhead:
    """Resolves *pending* in order with *resolver*, handing each to *keep*.

    *changed* is the runner's condition (its lock), notified here when an item
    is resolved and when the resolving ends.
    """

    def __init__(self, resolver: Resolver, pending: list[ItemProgress],
                 keep: Callable[[ItemProgress], None], changed: threading.Condition,
                 cancel: threading.Event, name: str) -> None:
        self.resolver = resolver
        self.unreachable = ""
        self._pending = pending
        self._waiting = {p.index for p in pending}
        self._keep = keep
        self._changed = changed
        self._cancel = cancel
        self._error: Exception | None = None
        self._done = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._done

    def wait_for(self, index: int) -> bool:
        """Wait (holding nothing) until item *index* is resolved; ``False``: the resolving
        ended without it (cancelled, the PACS out of reach)."""
        with self._changed:
            self._changed.wait_for(lambda: index not in self._waiting or self._done)
            return index not in self._waiting

    def wait_for_first(self, count: int) -> None:
        """Wait until the first *count* rows to resolve are resolved (or the resolving
        ended): a batch that may run *count* retrieves at once starts them together."""
        rows = [p.index for p in self._pending[:count]]
        with self._changed:
            self._changed.wait_for(lambda: self._done or self._waiting.isdisjoint(rows))

    def join(self) -> None:
        """Wait for the end; an unexpected error of the resolving is raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            self._resolve()
        except AssociationFailure as exc:
            self.unreachable = exc.message
        except Exception as exc:  # handed to the runner's thread by join()
            _LOGGER.debug("resolving stopped", exc_info=True)
            self._error = exc
        finally:
            with self._changed:
                self._done = True
                self._changed.notify_all()

    def _resolve(self) -> None:
        """The items in order on one association (released at the end or a cancel)."""
        resolver = self.resolver
        asked = (p.item for p in self._pending if not self._cancel.is_set())
        with contextlib.closing(resolver.resolve_all(asked)) as found_all:
            # zip ends where the resolutions end: at the first item after a cancel
            for progress, found in zip(self._pending, found_all, strict=False):
                if resolver.cancelled:
                    return  # cut short by the cancel: the item stays pending for the next run
                self._keep(found.applied_to(progress))
                with self._changed:  # kept first: a waiter then finds the item resolved
                    self._waiting.discard(progress.index)
                    self._changed.notify_all()

