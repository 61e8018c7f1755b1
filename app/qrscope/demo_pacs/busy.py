"""The demo PACS's count of retrieves at once, and its 'busy' faults.

A real PACS under parallel load refuses a C-MOVE or C-GET with 0xA702
"Refused: Out of Resources - Unable to perform sub-operations" (PS3.4
C.4.2.1.5): dcm4chee-arc and DCMTK-based archives when their sender pool is
full, vendor PACS when a research tool opens too many retrieves. The 'busy'
faults show it on demand, so the batch's pace can be seen backing off: above
a number of retrieves at once, or at random with a seeded probability. The
gate counts every retrieve whether a fault is on or not, so tests can check
how many ran at once.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

__all__ = ["RetrieveGate", "RetrieveGateCounts"]


@dataclass(frozen=True)
class RetrieveGateCounts:
    """What the gate saw: retrieves running now, the most at once, how many it refused."""

    running: int
    most_at_once: int
    refused: int


class RetrieveGate:
    """Admits a retrieve, or refuses it as busy; thread-safe (one thread per association).

    *busy_above*: refuse a retrieve that would make more than this many run at
    once (None: no limit). *busy_probability*: refuse this share of retrieves
    at random, drawn from a generator seeded with *seed* (the same run refuses
    the same ones).
    """

    def __init__(self, busy_above: int | None = None, busy_probability: float = 0.0,
                 seed: int = 0) -> None:
        self._busy_above = busy_above
        self._probability = busy_probability
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._running = self._most = self._refused = 0

    def enter(self) -> str:
        """Admit a retrieve (""), or say why it is refused; an admitted one must :meth:`leave`."""
        with self._lock:
            if self._busy_above is not None and self._running + 1 > self._busy_above:
                self._refused += 1
                return f"{self._running} retrieves already running (limit {self._busy_above})"
            if self._probability and self._rng.random() < self._probability:
                self._refused += 1
                return f"refused at random ({self._probability:.0%} of retrieves)"
            self._running += 1
            self._most = max(self._most, self._running)
            return ""

    def leave(self) -> None:
        with self._lock:
            self._running -= 1

    def counts(self) -> RetrieveGateCounts:
        with self._lock:
            return RetrieveGateCounts(self._running, self._most, self._refused)
