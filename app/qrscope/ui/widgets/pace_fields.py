"""The profile editor's batch pace fields: parallel retrieves and availability window.

Both settings are the node's (core/profiles.py validates them); this widget
only shows and edits them. A batch starts at the node's maximum and backs off
from it when the PACS is busy (core/batch/pace.py); single retrieves ignore
the window.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QSpinBox, QWidget

from qrscope.core.jobs import RETRIEVES_PER_NODE
from qrscope.core.profiles import MAX_PARALLEL_RETRIEVES, RemoteNode

__all__ = ["PACE_TIP", "PaceEditor"]

PACE_TIP = ("How hard batches may use this node: retrieves at once, at most (a batch backs "
            "off by itself when the PACS says it is busy), and when batches may run")


class PaceEditor(QWidget):
    """A node's maximum of parallel retrieves and its availability window."""

    changed = Signal()
    window_edited = Signal()
    """A keystroke in the window field (the editor keeps the last valid value meanwhile)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.parallel = QSpinBox()
        self.parallel.setRange(0, MAX_PARALLEL_RETRIEVES)
        self.parallel.setPrefix("at once ")
        self.parallel.setSpecialValueText(f"at once: default ({RETRIEVES_PER_NODE})")
        self.parallel.setToolTip(
            f"Retrieves that may run at once on this node, 1 to {MAX_PARALLEL_RETRIEVES}; "
            f"default: {RETRIEVES_PER_NODE}. Ask the PACS administrator what it allows: "
            "above it, many PACS refuse with 0xA702 'out of resources'")
        self.window = QLineEdit()
        self.window.setPlaceholderText("any time")
        self.window.setToolTip(
            "When batches may run, e.g. '22:00-06:00' or 'Sat-Sun 00:00-24:00; Mon-Fri "
            "20:00-07:00' (days Mon..Sun; a range past midnight belongs to the day it "
            "starts). Empty: any time. Single retrieves are never held back")
        self.parallel.valueChanged.connect(self.changed)
        self.window.textEdited.connect(self.window_edited)
        row.addWidget(self.parallel)
        row.addWidget(self.window, 1)

    def set_pace(self, node: RemoteNode) -> None:
        for widget in (self.parallel, self.window):
            widget.blockSignals(True)
        self.parallel.setValue(node.max_parallel_retrieves)
        self.window.setText(node.availability_window)
        for widget in (self.parallel, self.window):
            widget.blockSignals(False)

    def values(self) -> dict[str, Any]:
        """The node's fields as edited, for ``dataclasses.replace``."""
        return {"max_parallel_retrieves": self.parallel.value(),
                "availability_window": self.window.text()}

    def show_error(self, text: str) -> None:
        self.window.setStyleSheet("border: 1px solid #c62828;" if text else "")
