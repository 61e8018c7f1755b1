"""How many retrieves a node is given at once, adapted to how it answers.

Why AIMD. A PACS that answers 0xA702 "Refused: Out of Resources - Unable to
perform sub-operations" (PS3.4 C.4.2.1.5, C.4.3.1.4) is telling us what a
dropped packet tells a TCP sender: the shared resource is full. TCP's
congestion control (RFC 5681) answers with additive increase, multiplicative
decrease: halve the load at once when the resource says "full", add one back
slowly while it copes. Halving clears an overload within a few answers
whatever the unknown capacity was; adding one at a time probes for the
capacity without tipping it over again. A refused or aborted association or a
timeout is weaker evidence (a network hiccup, a restart), so it takes one off
and pauses for less. Repeated "busy" answers pause longer each time, up to a
cap, like TCP's retransmission timer.

What the anchors lacked. The batch tools researchers use today (XNAT's DQR,
Niffler, ADIT, pacsanini, the RSNA Anonymizer) run with a fixed number of
threads or a fixed duty cycle: set too high, every request is refused with
A702 and retried into the same wall; set too low, a quiet archive at night is
left idle. The pace starts at the node's maximum and finds what it copes with.

Pure: the clock and the random source are injected, so a test drives it
second by second and draws the same jitter every run.

The first pause after a busy answer is 30 s unless ``QRSCOPE_BATCH_BUSY_PAUSE``
gives other seconds: an archive known to free its retrieve slots within
seconds need not leave a night's batch idle for half a minute at each A702,
and one that needs minutes can be given them (the pause still doubles with
each busy answer in a row, up to the cap). A variable, not a profile field:
it is read where every front end builds its pace (the command line, the
window, a batch resumed by the jobs).
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from qrscope.core.dicom.status import OUT_OF_RESOURCES_FAMILY

if TYPE_CHECKING:
    from qrscope.core.retrieve.outcome import RetrieveOutcome

__all__ = ["BUSY_PAUSE_VARIABLE", "DEFAULT_BUSY_PAUSE", "Pace", "PaceChange", "PaceEvent",
           "PaceEventKind", "PaceState", "busy_pause_setting", "classify"]

_LOGGER = logging.getLogger(__name__)

BUSY_PAUSE_VARIABLE = "QRSCOPE_BATCH_BUSY_PAUSE"
DEFAULT_BUSY_PAUSE = 30.0
"""Seconds of the first pause after a busy answer, as TCP's initial retransmission
timeout is a guess a site may tune (RFC 6298 2.1)."""


def busy_pause_setting(environ: Mapping[str, str] = os.environ) -> float:
    """The first pause after a busy answer: ``QRSCOPE_BATCH_BUSY_PAUSE`` seconds, else 30.

    A value that is not a positive number is reported in the log and the default
    used: a typo must not stop a batch, nor turn its pauses off.
    """
    text = environ.get(BUSY_PAUSE_VARIABLE, "").strip()
    if not text:
        return DEFAULT_BUSY_PAUSE
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        _LOGGER.warning("%s=%r is not a positive number of seconds: pausing %g s after a "
                        "busy answer", BUSY_PAUSE_VARIABLE, text, DEFAULT_BUSY_PAUSE)
        return DEFAULT_BUSY_PAUSE
    return seconds


class PaceEventKind(StrEnum):
    """What a retrieve's end tells the pace about the node's load."""

    SUCCESS = "success"
    """The node answered the retrieve through to its end (even with failed sub-operations)."""
    BUSY = "busy"
    """The node said it is out of resources (A7xx, or an association rejected for congestion)."""
    FAILURE = "failure"
    """A refused or aborted association, or a timeout: maybe load, maybe not."""
    NEUTRAL = "neutral"
    """Nothing about load: a cancel of ours, a setting that is wrong (AE title, TLS)."""


@dataclass(frozen=True)
class PaceEvent:
    """One retrieve's end as the pace sees it, with the words the log shows."""

    kind: PaceEventKind
    reason: str = ""

    @property
    def retry(self) -> bool:
        """Whether asking again may help: a busy or a failed node, not a wrong setting."""
        return self.kind in (PaceEventKind.BUSY, PaceEventKind.FAILURE)


# Association failures that may come from a loaded node (its listen queue full,
# its worker pool exhausted); the others are settings no pause will mend.
_LOAD_LIKE_FAILURES = frozenset({
    "connection-refused", "connection-timeout", "connection-failed", "association-rejected",
    "association-aborted", "association-timeout"})
# PS3.8 Table 9-21: an A-ASSOCIATE-RJ from the presentation layer (source 3) is
# "temporary congestion" or "local limit exceeded": the node is busy.
_REJECT_SOURCE_CONGESTION = 3


def classify(outcome: RetrieveOutcome, node: str = "") -> PaceEvent:
    """The pace event of a retrieve's *outcome*; *node* names the PACS in the reason."""
    source = f" from {node}" if node else ""
    if outcome.cancelled:
        return PaceEvent(PaceEventKind.NEUTRAL, "cancelled")
    final = outcome.final_status
    if final is not None and final.code in OUT_OF_RESOURCES_FAMILY:
        return PaceEvent(PaceEventKind.BUSY, f"{final.code:04X} {final.meaning}{source}")
    failure = outcome.failure
    if failure is not None:
        words = f"{failure.message}{source}" if node not in failure.message else failure.message
        if failure.evidence.get("source") == _REJECT_SOURCE_CONGESTION:
            return PaceEvent(PaceEventKind.BUSY, words)
        if failure.reason.value in _LOAD_LIKE_FAILURES:
            return PaceEvent(PaceEventKind.FAILURE, words)
        return PaceEvent(PaceEventKind.NEUTRAL, words)
    if outcome.timed_out:
        return PaceEvent(PaceEventKind.FAILURE, f"no answer in time ({outcome.timed_out} "
                                                f"timeout){source}")
    if outcome.peer_aborted:
        return PaceEvent(PaceEventKind.FAILURE, f"the association was aborted{source}")
    if final is None:
        return PaceEvent(PaceEventKind.FAILURE, f"no final response{source}")
    return PaceEvent(PaceEventKind.SUCCESS)


@dataclass(frozen=True)
class PaceChange:
    """One change of the pace, for the batch window and the log."""

    time: float
    old: int
    new: int
    why: str
    pause: float = 0.0
    """Seconds of pause that began with the change (0: none)."""

    def __str__(self) -> str:
        paused = f", paused {_seconds(self.pause)}" if self.pause > 0 else ""
        return f"{self.old} → {self.new} parallel{paused}: {self.why}"


@dataclass(frozen=True)
class PaceState:
    """The pace as the window shows it now."""

    parallel: int
    max_parallel: int
    paused_until: float | None
    """Clock time the pause ends, None when not paused."""
    why: str
    """The last change's reason; empty before the first."""

    @property
    def paused(self) -> bool:
        return self.paused_until is not None


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.0f} min"


class Pace:
    """The number of parallel retrieves a node is given now (AIMD, with pauses).

    The runner asks :meth:`allowed` before it starts a retrieve, reports each
    end (:meth:`on_success`, :meth:`on_busy`, :meth:`on_failure`, or
    :meth:`on_outcome` with a :class:`PaceEvent`), and waits
    :meth:`delay_before_retry` before an item's next attempt while
    :meth:`may_retry` allows one. *busy_pause* None: :func:`busy_pause_setting`.
    """

    def __init__(self, max_parallel: int, *, min_parallel: int = 1,
                 clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None, grow_after: int = 5,
                 busy_pause: float | None = None, failure_pause: float = 10.0,
                 max_pause: float = 600.0, retry_base: float = 5.0, retry_cap: float = 300.0,
                 max_attempts: int = 5) -> None:
        if not 1 <= min_parallel <= max_parallel:
            raise ValueError(f"parallel retrieves: need 1 <= minimum ({min_parallel}) "
                             f"<= maximum ({max_parallel})")
        if grow_after < 1 or max_attempts < 1:
            raise ValueError("grow_after and max_attempts must be at least 1")
        self.max_parallel = max_parallel
        self.min_parallel = min_parallel
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._grow_after = grow_after
        self._busy_pause = busy_pause if busy_pause is not None else busy_pause_setting()
        self._failure_pause, self._max_pause = failure_pause, max_pause
        self._retry_base, self._retry_cap, self._max_attempts = (
            retry_base, retry_cap, max_attempts)
        self._parallel = max_parallel
        self._successes = 0
        self._busy_streak = 0
        self._paused_until = -math.inf
        self._last_cut = -math.inf
        self.changes: list[PaceChange] = []

    def allowed(self) -> int:
        """Parallel retrieves allowed now: 0 during a pause."""
        return 0 if self._clock() < self._paused_until else self._parallel

    def on_success(self) -> None:
        """Additive increase: one more after *grow_after* successes in a row."""
        self._busy_streak = 0
        self._successes += 1
        if self._successes < self._grow_after or self._parallel >= self.max_parallel:
            return
        self._successes = 0
        self._change(self._parallel + 1,
                     f"{self._grow_after} retrieves in a row succeeded", pause=0.0)

    def on_busy(self, reason: str, *, started: float | None = None) -> None:
        """Multiplicative decrease: halve, and pause longer each busy answer in a row.

        Retrieves already under way when the pace was cut answer from the same
        overload: their "busy" (one arriving during the pause, or one whose
        *started* clock time is before the cut) changes nothing, as TCP cuts
        once per window of losses.
        """
        if self._same_episode(started):
            return
        self._busy_streak += 1
        pause = min(self._max_pause, self._busy_pause * 2 ** (self._busy_streak - 1))
        self._change(max(self.min_parallel, self._parallel // 2), reason, pause=pause)

    def on_failure(self, reason: str, *, started: float | None = None) -> None:
        """A refused or aborted association or a timeout: one fewer, a shorter pause."""
        if self._same_episode(started):
            return
        self._change(max(self.min_parallel, self._parallel - 1), reason,
                     pause=min(self._max_pause, self._failure_pause))

    def on_outcome(self, event: PaceEvent, *, started: float | None = None) -> None:
        """Report a :func:`classify`-ed retrieve end."""
        if event.kind is PaceEventKind.SUCCESS:
            self.on_success()
        elif event.kind is PaceEventKind.BUSY:
            self.on_busy(event.reason, started=started)
        elif event.kind is PaceEventKind.FAILURE:
            self.on_failure(event.reason, started=started)

    def may_retry(self, attempt: int) -> bool:
        """Whether an item tried *attempt* times (1 = once) may be tried again."""
        return attempt < self._max_attempts

    def delay_before_retry(self, attempt: int) -> float:
        """Seconds to wait before the next try of an item tried *attempt* times.

        Exponential back-off with full jitter (a uniform draw between 0 and
        base × 2^(attempt-1), capped): items refused together do not come back
        together. The node's pause, if any, is on top of it through
        :meth:`allowed`.
        """
        return self._rng.uniform(0.0, self.retry_ceiling(attempt))

    def retry_ceiling(self, attempt: int) -> float:
        """The largest delay :meth:`delay_before_retry` may draw for *attempt*."""
        exponent = min(max(attempt, 1) - 1, 62)  # 2**62 × base is past any cap
        return min(self._retry_cap, self._retry_base * 2.0 ** exponent)

    def state(self) -> PaceState:
        """Parallel retrieves now, the pause's end if paused, and why it last changed."""
        now = self._clock()
        return PaceState(parallel=self._parallel, max_parallel=self.max_parallel,
                         paused_until=self._paused_until if now < self._paused_until else None,
                         why=self.changes[-1].why if self.changes else "")

    def _same_episode(self, started: float | None) -> bool:
        now = self._clock()
        return now < self._paused_until or (started is not None and started < self._last_cut)

    def _change(self, new: int, why: str, *, pause: float) -> None:
        now = self._clock()
        old = self._parallel
        self._parallel = new
        self._successes = 0
        if pause > 0:
            self._paused_until = now + pause
            self._last_cut = now
        self.changes.append(PaceChange(time=now, old=old, new=new, why=why, pause=pause))
