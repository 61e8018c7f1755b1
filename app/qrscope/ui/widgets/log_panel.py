"""The live association log: both halves of a retrieve, filters, detail, export."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from qrscope.core.net.association_log import AssociationEvent, AssociationLog
from qrscope.core.net.negotiation import RENDERED_KEYS, negotiation_lines
from qrscope.ui.models.log_model import LogTableModel
from qrscope.ui.widgets.python_model_view import PythonModelView

__all__ = ["LogPanel", "describe_event"]

_LABELS = {"time": "Time", "association_id": "Association", "direction": "Direction",
           "kind": "Event", "summary": "What happened", "local_ae": "Our AE title",
           "peer_ae": "Their AE title", "peer_address": "Their address", "job_id": "Job",
           "level": "Level"}


def describe_event(event: AssociationEvent) -> str:
    """An event as labelled lines, details indented beneath, for people to read.

    An A-ASSOCIATE event shows its negotiation one line per presentation
    context (a request may carry 128 of them), as ``qrscope -vv`` prints it;
    the rest of its detail follows as usual.
    """
    data = event.to_dict()
    detail = data.pop("detail", None) or {}
    lines = [f"{label}: {data[key]}" for key, label in _LABELS.items()
             if data.get(key) not in (None, "")]
    negotiation = negotiation_lines(event)
    if negotiation:
        lines += ["", "Negotiation:", *(f"  {line}" for line in negotiation)]
        detail = {k: v for k, v in detail.items() if k not in RENDERED_KEYS}
    if detail:
        lines.append("")
        lines.append("Details:")
        lines += _indented(detail, "  ")
    return "\n".join(lines)


def _indented(value: object, pad: str) -> list[str]:
    if isinstance(value, dict):
        out: list[str] = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{str(key).replace('_', ' ')}:")
                out += _indented(item, pad + "  ")
            else:
                out.append(f"{pad}{str(key).replace('_', ' ')}: {item}")
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, dict | list):
                out.append(f"{pad}-")
                out += _indented(item, pad + "  ")
            else:
                out.append(f"{pad}- {item}")
        return out
    return [f"{pad}{value}"]


class LogPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = LogTableModel(self)
        self.view = PythonModelView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(20)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((95, 95, 75, 200, 125)):
            self.view.setColumnWidth(column, width)
        self.view.selectionModel().currentRowChanged.connect(self._show_detail)
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.detail.setPlaceholderText("Select an event to see all its details")
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: text, AE title, address…")
        self.filter.setClearButtonEnabled(True)
        self.filter.setToolTip("Show only events containing this text")
        self.association = QLineEdit()
        self.association.setPlaceholderText("Association (in-4, or in-)")
        self.association.setToolTip("Show only associations whose id starts with this: 'in-4' "
                                    "one, 'in-' every incoming; double-click an event to fill")
        self.association.setMaximumWidth(160)
        self.debug = QCheckBox("PDUs (debug)")
        self.debug.setToolTip("Also show PDU-level events and full identifiers")
        self.follow = QCheckBox("Follow")
        self.follow.setChecked(True)
        self.follow.setToolTip("Scroll to new events as they arrive; untick to pause")
        for widget in (self.filter, self.association):
            widget.textChanged.connect(self._refilter)
        self.debug.toggled.connect(self._refilter)
        clear = QPushButton("Clear")
        clear.setToolTip("Remove all events from the view")
        clear.clicked.connect(self.model.clear)
        export = QPushButton("Export…")
        export.setToolTip("Save the shown events as JSON lines")
        export.clicked.connect(lambda: self.export())
        bar = QHBoxLayout()
        for widget in (self.filter, self.association, self.debug, self.follow, clear, export):
            bar.addWidget(widget)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.view)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        self.model.rowsInserted.connect(self._follow)
        self.view.doubleClicked.connect(self._pick_association)

    def add_many(self, events: list[AssociationEvent]) -> None:
        self.model.append(events)

    def _refilter(self, *_args: object) -> None:
        self.model.set_filter(self.debug.isChecked(), self.association.text().strip(),
                              self.filter.text().strip())
        self._follow_later()

    def _follow(self, *_args: object) -> None:
        if self.follow.isChecked():
            self.view.scrollToBottom()

    def _follow_later(self) -> None:
        """Follow once the view has laid out its new rows (a scroll now would
        use the scroll bar's old range)."""
        QTimer.singleShot(0, self._follow)

    def showEvent(self, event: QShowEvent) -> None:
        """Back on the log tab: with Follow on, the newest event is in view."""
        super().showEvent(event)
        self._follow_later()

    def _event_at(self, index: QModelIndex) -> AssociationEvent | None:
        if not index.isValid():
            return None
        return self.model.shown[index.row()]

    def _show_detail(self, current: QModelIndex, _previous: QModelIndex) -> None:
        event = self._event_at(current)
        if event is not None:
            self.detail.setPlainText(describe_event(event))

    def _pick_association(self, index: QModelIndex) -> None:
        event = self._event_at(index)
        if event is not None:
            self.association.setText(event.association_id)

    def visible_events(self) -> list[AssociationEvent]:
        return list(self.model.shown)

    def export(self, path: str = "") -> None:
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Export log", "qrscope-log.jsonl",
                                                  "JSON lines (*.jsonl)")
        if path:
            Path(path).write_text(AssociationLog.to_json_lines(self.visible_events()),
                                  encoding="utf-8")
