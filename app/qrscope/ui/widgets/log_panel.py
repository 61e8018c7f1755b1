"""The live association log: both halves of a retrieve, filters, detail, export."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from qrscope.core.association_log import AssociationEvent, AssociationLog
from qrscope.ui.models.log_model import LogFilterModel, LogTableModel

__all__ = ["LogPanel"]


class LogPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = LogTableModel(self)
        self.proxy = LogFilterModel(self)
        self.proxy.setSourceModel(self.model)
        self.view = QTableView()
        self.view.setModel(self.proxy)
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
        self.detail.setPlaceholderText("Select an event to see all its details")
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: text, AE title, address…")
        self.filter.setClearButtonEnabled(True)
        self.filter.setToolTip("Show only events containing this text")
        self.association = QLineEdit()
        self.association.setPlaceholderText("Association (e.g. in-4)")
        self.association.setToolTip("Show only one association; click an event's id to fill")
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
        splitter.setSizes([700, 300])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        self.model.rowsInserted.connect(self._follow)
        self.view.doubleClicked.connect(self._pick_association)

    def add(self, event: AssociationEvent) -> None:
        self.model.queue(event)

    def _refilter(self, *_args: object) -> None:
        self.proxy.set_filter(self.debug.isChecked(), self.association.text().strip(),
                              self.filter.text().strip())

    def _follow(self, *_args: object) -> None:
        if self.follow.isChecked():
            self.view.scrollToBottom()

    def _event_at(self, index: QModelIndex) -> AssociationEvent | None:
        if not index.isValid():
            return None
        return self.model.events[self.proxy.mapToSource(index).row()]

    def _show_detail(self, current: QModelIndex, _previous: QModelIndex) -> None:
        event = self._event_at(current)
        if event is not None:
            self.detail.setPlainText(json.dumps(event.to_dict(), indent=2, default=str,
                                                ensure_ascii=False))

    def _pick_association(self, index: QModelIndex) -> None:
        event = self._event_at(index)
        if event is not None:
            self.association.setText(event.association_id)

    def visible_events(self) -> list[AssociationEvent]:
        return [self.model.events[self.proxy.mapToSource(self.proxy.index(r, 0)).row()]
                for r in range(self.proxy.rowCount())]

    def export(self, path: str = "") -> None:
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Export log", "qrscope-log.jsonl",
                                                  "JSON lines (*.jsonl)")
        if path:
            Path(path).write_text(AssociationLog.to_json_lines(self.visible_events()),
                                  encoding="utf-8")
