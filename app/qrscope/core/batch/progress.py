"""A running batch as a front end shows it: items, instances, rate, ETA, pace, window.

The runner builds a :class:`BatchProgress` at every step (an item's new
state, instances arriving, a pace change, a pause) and hands it to its
``on_progress``; the job service passes it on to its ``on_batch_progress``
and keeps the last one for :meth:`~qrscope.core.jobs.service.JobService.batch_progress`.

Why the rate is over a recent window and not since the start: a batch runs
for hours through pauses (the pace's, the user's, a closed availability
window); an average since the start would promise an ETA the PACS's pace of
the last minute does not keep. The ETA is the instances still expected over
that rate, and none until instances have arrived (no rate, no promise).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from qrscope.core.batch.items import ItemProgress, ItemStatus
from qrscope.core.batch.pace import Pace, PaceChange, PaceState
from qrscope.core.batch.window import AvailabilityWindow

__all__ = ["RATE_WINDOW_S", "RECENT_CHANGES", "BatchPhase", "BatchProgress", "RateMeter",
           "eta", "item_counts", "remaining_instances", "snapshot"]

RATE_WINDOW_S = 60.0
"""Seconds of arrivals the rate is taken over."""
RECENT_CHANGES = 20
"""Pace changes a progress carries (the last ones; the log has them all)."""


class BatchPhase(StrEnum):
    """What a batch is doing now, the first that applies in this order."""

    RESOLVING = "resolving"
    """Its items are being resolved to studies (C-FIND)."""
    PAUSED_BY_USER = "paused by the user"
    WAITING_FOR_WINDOW = "waiting for the window"
    """The node's availability window is closed: no retrieve starts."""
    PAUSED_BY_PACE = "paused by the pace"
    """The PACS answered busy or failed: the pace holds new retrieves for a while."""
    FETCHING = "fetching"
    ENDED = "ended"


@dataclass(frozen=True)
class BatchProgress:
    """A snapshot of a running batch (a job of kind ``batch``)."""

    job_id: str
    phase: BatchPhase
    items: int
    counts: Mapping[str, int]
    """Items per :class:`ItemStatus` value, every status present; they add up to ``items``."""
    instances_expected: int
    """Instances the PACS listed for the items resolved so far (those it gave a count for)."""
    instances_received: int
    """Instances fetched by this batch, those of retrieves still running included."""
    rate: float | None
    """Instances per second over the last :data:`RATE_WINDOW_S` (None before the first)."""
    eta: float | None
    """Seconds left at that rate for the instances still expected (None without a rate)."""
    pace: PaceState
    pace_changes: tuple[PaceChange, ...]
    """The pace's last changes, oldest first (at most :data:`RECENT_CHANGES`)."""
    paused_by_user: bool
    window: str = ""
    """The node's availability window as written ('' none: always open)."""
    window_open: bool = True
    window_next_open: datetime | None = None
    """When the closed window opens next (None when it is open or there is none)."""
    running: int = 0
    """Retrieves of the batch running now."""
    time: float = field(default_factory=time.time)

    @property
    def note(self) -> str:
        """The phase in words, as a status line shows it ('paused by the user')."""
        if self.phase is BatchPhase.WAITING_FOR_WINDOW and self.window_next_open is not None:
            return f"waiting for the window ({self.window}): opens {self.window_next_open:%a %H:%M}"
        if self.phase is BatchPhase.PAUSED_BY_PACE and self.pace.why:
            return f"paused by the pace: {self.pace.why}"
        return self.phase.value

    @property
    def ended(self) -> bool:
        return self.phase is BatchPhase.ENDED


def item_counts(items: Iterable[ItemProgress]) -> dict[str, int]:
    """Items per status value, every status present (0 for those with none)."""
    numbers = {status.value: 0 for status in ItemStatus}
    for progress in items:
        numbers[progress.status.value] += 1
    return numbers


def remaining_instances(items: Iterable[ItemProgress], live: Mapping[int, int]) -> int:
    """Instances still expected of the unfinished items (those with a count), less those
    their running retrieves (*live*, per item index) already brought."""
    return sum(max(0, p.expected - p.received - live.get(p.index, 0)) for p in items
               if not p.status.is_final and p.expected is not None)


class RateMeter:
    """Instances per second over the last *window* seconds, from a running total.

    The clock is injected so a test drives it. :meth:`add` is told each
    arrival; :meth:`rate` is None until one has come.
    """

    def __init__(self, window: float = RATE_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._total = 0
        self._samples: deque[tuple[float, int]] = deque([(clock(), 0)])

    def add(self, count: int) -> None:
        if count <= 0:
            return
        self._total += count
        self._samples.append((self._clock(), self._total))
        self._trim(self._clock())

    def rate(self) -> float | None:
        """Arrivals over the window (or since the meter started, if later); None before
        the first arrival."""
        if self._total == 0:
            return None
        now = self._clock()
        self._trim(now)
        start_time, start_total = self._samples[0]
        since = max(start_time, now - self._window)
        elapsed = now - since
        return (self._total - start_total) / elapsed if elapsed > 0 else None

    def _trim(self, now: float) -> None:
        """Keep one sample at or before the window's start: the count the window starts from."""
        while len(self._samples) > 1 and self._samples[1][0] <= now - self._window:
            self._samples.popleft()


def eta(remaining: int, rate: float | None) -> float | None:
    """Seconds to fetch *remaining* instances at *rate*; None without a rate."""
    if rate is None or rate <= 0:
        return None
    return remaining / rate


def snapshot(job_id: str, phase: BatchPhase, items: tuple[ItemProgress, ...],
             live: Mapping[int, int], *, pace: Pace, meter: RateMeter,
             window: AvailabilityWindow | None, paused: bool, running: int,
             now: datetime | None = None) -> BatchProgress:
    """A runner's :class:`BatchProgress` from what it holds (*phase*: resolving,
    fetching or ended; the pauses and the window refine fetching)."""
    now = now or datetime.now()
    state = pace.state()
    is_open = window is None or window.open_at(now)
    if phase is BatchPhase.FETCHING:
        if paused:
            phase = BatchPhase.PAUSED_BY_USER
        elif not is_open:
            phase = BatchPhase.WAITING_FOR_WINDOW
        elif state.paused:
            phase = BatchPhase.PAUSED_BY_PACE
    rate = meter.rate()
    return BatchProgress(
        job_id=job_id, phase=phase, items=len(items), counts=item_counts(items),
        instances_expected=sum(p.expected or 0 for p in items),
        instances_received=sum(p.received for p in items) + sum(live.values()),
        rate=rate, eta=eta(remaining_instances(items, live), rate), pace=state,
        pace_changes=tuple(pace.changes[-RECENT_CHANGES:]), paused_by_user=paused,
        window=window.text if window is not None else "", window_open=is_open,
        window_next_open=None if is_open or window is None else window.next_open(now),
        running=running)
