"""A retrieve as a sequence diagram: our association to the PACS and the PACS's back to us.

The two halves of a C-MOVE happen on two associations; drawn on one time
axis, a missing second half is obvious at a glance. Built from the
association log, so it shows what really happened. Repeated messages
(C-STOREs, pending responses) are grouped with their count. Output as
Mermaid text (for a support ticket) and as SVG (for the window and export).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from qrscope.core.net.association_log import AssociationEvent, AssociationLog, Direction

__all__ = ["Arrow", "SequenceDiagram", "build_sequence"]

US, PACS, LISTENER = "qrscope", "PACS", "listener"
_SHOWN = {"requested", "accepted", "rejected", "aborted", "release-requested", "released",
          "dimse-sent", "dimse-received", "connection-failed", "cancel-sent", "cancel-timeout",
          "retrieve-timeout", "get-retry"}


@dataclass(frozen=True)
class Arrow:
    time: datetime
    source: str
    target: str
    label: str
    count: int = 1

    @property
    def text(self) -> str:
        return f"{self.label} ×{self.count}" if self.count > 1 else self.label


@dataclass
class SequenceDiagram:
    title: str
    arrows: list[Arrow]
    participants: tuple[str, ...] = (US, PACS, LISTENER)
    lanes: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Each lane's AE title and address, as the log saw them (empty: the generic name)."""

    def lane(self, name: str) -> tuple[str, str]:
        generic = {US: ("qrscope (SCU)", ""), PACS: ("PACS", ""),
                   LISTENER: ("qrscope listener", "")}[name]
        return self.lanes.get(name, generic)

    @property
    def has_reverse_association(self) -> bool:
        return any(LISTENER in (a.source, a.target) for a in self.arrows)

    @property
    def misses_reverse_association(self) -> bool:
        """A C-MOVE whose images never came back on an association of the PACS's
        (PS3.4 C.4.2). A C-GET brings them on our own association: none is awaited."""
        moved = any(a.label.startswith("C-MOVE-RQ") for a in self.arrows)
        return moved and not self.has_reverse_association

    def mermaid(self) -> str:
        names = {US: "Q", PACS: "P", LISTENER: "L"}
        lines = ["sequenceDiagram", f"    title {self.title}"]
        for name in (US, PACS, LISTENER):
            title, address = self.lane(name)
            where = f" ({address.replace(':', ' port ')})" if address else ""
            lines.append(f"    participant {names[name]} as {title}{where}")
        start = self.arrows[0].time if self.arrows else None
        for arrow in self.arrows:
            offset = (arrow.time - start).total_seconds() if start else 0.0
            label = arrow.text.replace(":", " ").replace(";", ",")
            lines.append(f"    {names[arrow.source]}->>{names[arrow.target]}: "
                         f"+{offset:.2f}s {label}")
        if self.misses_reverse_association:
            lines.append("    Note over P,L: no association from the PACS to our listener")
        return "\n".join(lines) + "\n"

    def svg(self) -> str:
        lane_x = {US: 110, PACS: 420, LISTENER: 730}
        row, top = 34, 90
        height = top + row * (len(self.arrows) + 2)
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="860" height="{height}" '
                 'font-family="sans-serif" font-size="13">',
                 '<rect width="100%" height="100%" fill="white"/>',
                 '<defs><marker id="a" markerWidth="10" markerHeight="8" refX="9" refY="4" '
                 'orient="auto"><path d="M0,0 L10,4 L0,8 z" fill="#333"/></marker></defs>',
                 f'<text x="20" y="24" font-weight="bold">{escape(self.title)}</text>']
        for name, x in lane_x.items():
            label, address = self.lane(name)
            parts.append(f'<rect x="{x - 95}" y="34" width="190" height="40" rx="4" '
                         f'fill="#e3f2fd" stroke="#1565c0"/>')
            parts.append(f'<text x="{x}" y="{52 if address else 59}" text-anchor="middle">'
                         f'{escape(label)}</text>')
            if address:
                parts.append(f'<text x="{x}" y="67" text-anchor="middle" font-size="11" '
                             f'fill="#455a64">{escape(address)}</text>')
            parts.append(f'<line x1="{x}" y1="74" x2="{x}" y2="{height - 10}" '
                         'stroke="#90a4ae" stroke-dasharray="4 4"/>')
        start = self.arrows[0].time if self.arrows else None
        for number, arrow in enumerate(self.arrows):
            y = top + row * number
            x1, x2 = lane_x[arrow.source], lane_x[arrow.target]
            colour = "#1565c0" if LISTENER in (arrow.source, arrow.target) else "#333"
            if any(w in arrow.label for w in ("RJ", "ABORT", "failed", "timeout")):
                colour = "#c62828"
            offset = (arrow.time - start).total_seconds() if start else 0.0
            parts.append(f'<text x="8" y="{y + 4}" fill="#607d8b">+{offset:.2f}s</text>')
            parts.append(f'<line x1="{x1}" y1="{y}" x2="{x2 + (-4 if x2 > x1 else 4)}" '
                         f'y2="{y}" stroke="{colour}" marker-end="url(#a)"/>')
            parts.append(f'<text x="{(x1 + x2) / 2}" y="{y - 6}" text-anchor="middle" '
                         f'fill="{colour}">{escape(arrow.text)}</text>')
        if self.misses_reverse_association:
            y = top + row * len(self.arrows)
            # Anchored at its end, inside the picture: centred on the listener's
            # lane, the sentence ran past the right edge.
            parts.append(f'<text x="{lane_x[LISTENER] + 95}" y="{y}" text-anchor="end" '
                         'fill="#c62828">no association from the PACS reached us</text>')
        parts.append("</svg>")
        return "\n".join(parts) + "\n"


def _message(event: AssociationEvent) -> str:
    detail = event.detail
    name = str(detail.get("message", ""))
    if not name:
        return event.summary.split(":")[0]
    if "meaning" in detail:
        status = f" {detail.get('category')} 0x{int(detail['status']):04X}"
    else:
        status = ""
    return f"{name}{status}"


def _arrow(event: AssociationEvent) -> Arrow | None:
    if event.kind not in _SHOWN:
        return None
    head = event.summary.split(":")[0]  # e.g. "A-ASSOCIATE-RQ received"
    if event.kind.startswith("dimse"):
        sent, label = event.kind == "dimse-sent", _message(event)
    elif head.endswith((" sent", " received")):
        label, _, way = head.rpartition(" ")
        sent = way == "sent"
    else:  # our own steps: cancel, timeouts, retries, connection failures
        sent, label = True, head
    ours, theirs = (US, PACS) if event.direction is Direction.OUTGOING else (LISTENER, PACS)
    source, target = (ours, theirs) if sent else (theirs, ours)
    return Arrow(event.time, source, target, label)


def _repeats(arrow: Arrow) -> bool:
    """Messages that come in bursts: stores and pending responses."""
    return arrow.label.startswith(("C-STORE-", "C-FIND-RSP pending")) or (
        arrow.label.startswith(("C-MOVE-RSP pending", "C-GET-RSP pending")))


def _group(arrows: list[Arrow]) -> list[Arrow]:
    """Collapse each burst of repeated messages into one arrow per kind, with its count."""
    grouped: list[Arrow] = []
    burst: dict[tuple[str, str, str], Arrow] = {}

    def flush() -> None:
        grouped.extend(burst.values())
        burst.clear()

    for arrow in arrows:
        if not _repeats(arrow):
            flush()
            grouped.append(arrow)
            continue
        key = (arrow.label, arrow.source, arrow.target)
        first = burst.get(key)
        burst[key] = arrow if first is None else Arrow(first.time, first.source, first.target,
                                                       first.label, first.count + 1)
    flush()
    return grouped


def build_sequence(log: AssociationLog, job_id: str, title: str = "",
                   grace: float = 5.0) -> SequenceDiagram:
    """The diagram of one job: its own associations and the incoming ones during it."""
    events = log.events()
    own = [e for e in events if e.job_id == job_id and e.direction is Direction.OUTGOING]
    if not own:
        return SequenceDiagram(title or job_id, [])
    start, end = own[0].time, own[-1].time + timedelta(seconds=grace)
    incoming_ids = {e.association_id for e in events
                    if e.direction is Direction.INCOMING and e.job_id == job_id}
    if not incoming_ids:  # a sender that fills no originator: take what came during the job
        incoming_ids = {e.association_id for e in events if e.direction is Direction.INCOMING
                        and start <= e.time <= end and e.kind == "requested"}
    own_ids = {id(e) for e in own}
    chosen = [e for e in events if id(e) in own_ids or (e.direction is Direction.INCOMING
                                                         and e.association_id in incoming_ids)]
    # C-STOREs inside a C-GET come on our own association: they stay in the qrscope lane.
    arrows = [a for a in (_arrow(e) for e in sorted(chosen, key=lambda e: e.time)) if a]
    return SequenceDiagram(title or f"retrieve {job_id}", _group(arrows),
                           lanes=_lanes(chosen))


def _lanes(events: list[AssociationEvent]) -> dict[str, tuple[str, str]]:
    """Name the lanes by what the log saw: AE titles and the PACS's address."""
    lanes: dict[str, tuple[str, str]] = {}
    for event in events:
        if event.direction is Direction.OUTGOING and event.peer_ae:
            if PACS not in lanes or (not lanes[PACS][1] and event.peer_address):
                lanes[PACS] = (event.peer_ae, event.peer_address)
            if event.local_ae and US not in lanes:
                lanes[US] = (f"{event.local_ae} (qrscope)", "")
        elif event.direction is Direction.INCOMING and event.local_ae and LISTENER not in lanes:
            lanes[LISTENER] = (f"{event.local_ae} listener", "")
    if LISTENER not in lanes and US in lanes:  # nobody called us: still our AE title
        lanes[LISTENER] = (lanes[US][0].replace(" (qrscope)", " listener"), "")
    return lanes
