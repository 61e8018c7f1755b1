"""The association log: structured, timestamped events of every association.

Outgoing associations (ours to a PACS) and incoming ones (a PACS calling our
listener back during C-MOVE) are recorded side by side, so that a user can see
both halves of a retrieve. The log is a plain thread-safe store with
subscribers; the CLI prints from it and the GUI bridge turns each event into a
Qt signal. Events are produced by :mod:`qrscope.core.net.association_events`.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from qrscope.core.subscribers import Subscribers

__all__ = [
    "AssociationEvent",
    "AssociationLog",
    "Direction",
    "EventLevel",
    "mask_identifiers",
]


class Direction(StrEnum):
    OUTGOING = "outgoing"
    """We requested the association (echo, find, move, get)."""
    INCOMING = "incoming"
    """A peer requested it from our listener (typically the C-MOVE sub-operations)."""


class EventLevel(StrEnum):
    INFO = "info"
    DEBUG = "debug"
    """PDU summaries and full response identifiers: useful when debugging a peer."""


@dataclass(frozen=True)
class AssociationEvent:
    """One thing that happened on one association.

    ``kind`` is a short stable word (``requested``, ``accepted``, ``rejected``,
    ``aborted``, ``released``, ``connection-failed``, ``dimse-sent``,
    ``dimse-received``, ``pdu-sent``, ``pdu-received``, ``instance-stored``,
    ...); ``summary`` is one human line; ``detail`` holds the structured facts
    (status codes, contexts, counts) that hints and exports use.
    """

    time: datetime
    association_id: str
    direction: Direction
    kind: str
    summary: str
    level: EventLevel = EventLevel.INFO
    local_ae: str = ""
    peer_ae: str = ""
    peer_address: str = ""
    job_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = self.time.isoformat(timespec="milliseconds")
        data["direction"] = self.direction.value
        data["level"] = self.level.value
        return data

    def format_line(self) -> str:
        """The event as one line of text, as the CLI prints it with ``-v``."""
        stamp = self.time.astimezone().strftime("%H:%M:%S.%f")[:-3]
        arrow = "->" if self.direction is Direction.OUTGOING else "<-"
        peer = f"{self.peer_ae}@{self.peer_address}" if self.peer_address else self.peer_ae
        return f"{stamp} {self.association_id:>7} {arrow} {peer:<28} {self.summary}"


# Attributes that identify a patient (PS3.15 Annex E basic profile, the subset
# that appears in query/retrieve identifiers).
_PATIENT_KEYWORDS = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientBirthTime",
        "OtherPatientIDs",
        "OtherPatientNames",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "PatientMotherBirthName",
        "IssuerOfPatientID",
        "AccessionNumber",
        "ReferringPhysicianName",
        # Received files are filed under the Patient ID: their paths identify too.
        "path",
    }
)
MASK = "***"


def mask_identifiers(value: Any) -> Any:
    """Return *value* (nested dicts and lists) with patient identifiers replaced."""
    if isinstance(value, dict):
        return {
            key: (MASK if key in _PATIENT_KEYWORDS and item not in ("", None) else
                  mask_identifiers(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask_identifiers(item) for item in value]
    return value


Subscriber = Callable[[AssociationEvent], None]


class AssociationLog:
    """A bounded, thread-safe store of :class:`AssociationEvent` with subscribers.

    Parameters
    ----------
    mask_patient_identifiers : bool
        Replace patient identifiers in every event's detail before it is
        stored, so that nothing downstream (screen, export, support bundle)
        can leak them.
    capacity : int
        The oldest events are dropped beyond this many; a day of heavy use
        stays within memory.
    """

    DETAILED_NEGOTIATIONS = 1_000
    """Events that keep every context of a large negotiation; older ones keep the first
    :data:`CONTEXTS_AFTER_TRIM` and a count. A peer may send the listener 128 contexts
    of unknown UIDs in every request (about 55 KB kept each): without this a flood of
    distinct requests would fill 50,000 events with gigabytes."""
    CONTEXTS_AFTER_TRIM = 8

    def __init__(self, mask_patient_identifiers: bool = False, capacity: int = 50_000) -> None:
        self.mask_patient_identifiers = mask_patient_identifiers
        self._events: deque[AssociationEvent] = deque(maxlen=capacity)
        self._detailed: deque[dict[str, Any]] = deque()
        self._subscribers: Subscribers[AssociationEvent] = Subscribers()
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    def new_association_id(self, direction: Direction) -> str:
        """A short id, unique in this log: ``out-3``, ``in-7``."""
        prefix = "out" if direction is Direction.OUTGOING else "in"
        return f"{prefix}-{next(self._counter)}"

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call *callback* for every new event (from the thread that emits it).

        Returns the function that unsubscribes. Callbacks must be quick: the
        GUI bridge only queues a signal.
        """
        return self._subscribers.add(callback)

    def emit(self, event: AssociationEvent) -> AssociationEvent:
        if self.mask_patient_identifiers and event.detail:
            event = replace(event, detail=mask_identifiers(event.detail))
        with self._lock:
            self._events.append(event)
            self._bound_negotiations(event)
            subscribers = self._subscribers.snapshot()
        for callback in subscribers:
            callback(event)
        return event

    def _bound_negotiations(self, event: AssociationEvent) -> None:
        """Keep the memory of large negotiations bounded (see DETAILED_NEGOTIATIONS)."""
        contexts = event.detail.get("contexts") if event.detail else None
        if not isinstance(contexts, list) or len(contexts) <= self.CONTEXTS_AFTER_TRIM:
            return
        self._detailed.append(event.detail)
        while len(self._detailed) > self.DETAILED_NEGOTIATIONS:
            old = self._detailed.popleft()
            kept = old["contexts"][:self.CONTEXTS_AFTER_TRIM]
            old["more_contexts"] = old.get("more_contexts", 0) + len(old["contexts"]) - len(kept)
            old["contexts"] = kept

    def record(self, association_id: str, direction: Direction, kind: str, summary: str,
               **fields: Any) -> AssociationEvent:
        """Build and emit an event stamped now; *fields* are the other attributes."""
        event = AssociationEvent(
            time=datetime.now(UTC),
            association_id=association_id,
            direction=direction,
            kind=kind,
            summary=summary,
            **fields,
        )
        return self.emit(event)

    def events(
        self,
        association_id: str | None = None,
        job_id: str | None = None,
        level: EventLevel = EventLevel.DEBUG,
    ) -> list[AssociationEvent]:
        """A snapshot of stored events, optionally for one association or job."""
        with self._lock:
            snapshot = list(self._events)
        keep_debug = level is EventLevel.DEBUG
        return [
            e
            for e in snapshot
            if (association_id is None or e.association_id == association_id)
            and (job_id is None or e.job_id == job_id)
            and (keep_debug or e.level is EventLevel.INFO)
        ]

    def clear(self) -> None:
        with self._lock:
            self._events.clear()

    @staticmethod
    def to_json_lines(events: Iterable[AssociationEvent]) -> str:
        return "".join(json.dumps(e.to_dict(), default=str) + "\n" for e in events)
