"""The association log as a table model, fed in batches by a timer.

Events arrive from worker threads at thousands per second during a large
C-MOVE; inserting them one by one would make the view repaint for each.
They are queued as they come and inserted together ten times a second.

The model filters itself (level, association, text): a filtering proxy in
front of it spent up to 0.15 s of the GUI thread on one insert once the log
held the 10,000 responses of a large search (benchmarks/window.py --stacks).
Here a batch is filtered as it comes and its shown events inserted at once.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from qrscope.core.net.association_log import AssociationEvent, Direction, EventLevel
from qrscope.ui.models.table_base import Index, ListTableModel

__all__ = ["LogTableModel", "association_matches"]

HEADERS = ("Time", "Association", "Direction", "Peer", "Event", "Summary")
MAX_ROWS = 200_000


class LogTableModel(ListTableModel):
    """Rows are :attr:`shown`, the events that pass the filter; :attr:`events` holds all."""

    headers = HEADERS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.events: list[AssociationEvent] = []
        self.shown: list[AssociationEvent] = []
        self.show_debug = False
        self.association = ""
        self.text = ""

    def append(self, batch: list[AssociationEvent]) -> None:
        """Add a batch of events (the bridge hands them over in batches): one
        insert for those that pass the filter."""
        if not batch:
            return
        if len(self.events) + len(batch) > MAX_ROWS:
            self.clear()
        self.events.extend(batch)
        shown = [e for e in batch if self.accepts(e)]
        if shown:
            first = len(self.shown)
            self.beginInsertRows(QModelIndex(), first, first + len(shown) - 1)
            self.shown.extend(shown)
            self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.events, self.shown = [], []
        self.endResetModel()

    def set_filter(self, show_debug: bool, association: str, text: str) -> None:
        """Show only the events of this level, association and text (all: empty)."""
        self.beginResetModel()
        self.show_debug, self.association = show_debug, association.lower()
        self.text = text.lower()
        self.shown = [e for e in self.events if self.accepts(e)]
        self.endResetModel()

    def accepts(self, event: AssociationEvent) -> bool:
        if event.level is EventLevel.DEBUG and not self.show_debug:
            return False
        if self.association and not association_matches(event.association_id,
                                                        self.association):
            return False
        if self.text:
            haystack = f"{event.summary} {event.peer_ae} {event.peer_address} {event.kind}"
            return self.text in haystack.lower()
        return True

    def row_list(self) -> list[Any]:
        return self.shown

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        event = self.shown[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(event, index.column())
        if role == Qt.ItemDataRole.ForegroundRole:
            if event.kind in ("rejected", "aborted", "dropped", "connection-failed",
                              "retrieve-timeout"):
                return QBrush(QColor("#c62828"))
            if event.direction is Direction.INCOMING:
                return QBrush(QColor("#1565c0"))
        if role == Qt.ItemDataRole.ToolTipRole:
            return event.summary
        return None

    @staticmethod
    def _text(event: AssociationEvent, column: int) -> str:
        if column == 0:
            return event.time.astimezone().strftime("%H:%M:%S.%f")[:-3]
        if column == 1:
            return event.association_id
        if column == 2:
            return "→ out" if event.direction is Direction.OUTGOING else "← in"
        if column == 3:
            return f"{event.peer_ae} {event.peer_address}".strip()
        if column == 4:
            return event.kind
        return event.summary


def association_matches(association_id: str, typed: str) -> bool:
    """``in-4`` is that association (not in-40); ``in-`` or ``in`` every incoming one."""
    association_id = association_id.lower()
    if typed[-1:].isdigit():
        return association_id == typed
    return association_id.startswith(typed)
