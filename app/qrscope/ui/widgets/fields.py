"""Form fields with inline messages, and the timeouts editor, for the profile editor."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from qrscope.core.profiles import Timeouts

__all__ = ["ERROR_STYLE", "Field", "TimeoutsEditor", "line_field", "port_field"]

ERROR_STYLE = "color: #c62828;"


class Field:
    """An input with an inline message under it (no dialog per keystroke)."""

    def __init__(self, widget: QWidget, tip: str) -> None:
        # Any: the field is a line edit, spin box or combo box; each caller
        # knows which, and Qt checks the calls at run time.
        self.widget: Any = widget
        widget.setToolTip(tip)
        self.message = QLabel()
        self.message.setStyleSheet(ERROR_STYLE)
        self.message.setWordWrap(True)
        self.message.hide()
        # The red frame's style sheet gives the box a smaller size hint: held
        # at its own height, a field in error never moves the ones below it.
        if isinstance(widget, QLineEdit | QAbstractSpinBox):
            widget.setMinimumHeight(widget.sizeHint().height())

    def show_error(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))
        # A red frame marks the field itself; the words are in the form's
        # message area, whose height is fixed so no field moves.
        if isinstance(self.widget, QLineEdit | QAbstractSpinBox):
            self.widget.setStyleSheet("border: 1px solid #c62828;" if text else "")


def line_field(tip: str, placeholder: str = "") -> Field:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    return Field(edit, tip)


def port_field(tip: str) -> Field:
    # 0 can be typed and is shown as an error: a range that starts at 1
    # would silently put the old value back when the field loses focus.
    spin = QSpinBox()
    spin.setRange(0, 65535)
    return Field(spin, tip)


class TimeoutsEditor(QWidget):
    """Connect, association, response and retrieve-idle timeouts of a node, in seconds.

    Every timeout a Verify or a search really waits for is here, so the form
    never shows 10 s while the window waits 30.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Two by two: four in a row made the nodes panel wider than a
        # 1024-pixel screen can spare.
        row = QGridLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.spins: dict[str, QDoubleSpinBox] = {}
        for name, label, tip, top in (
            ("connect", "connect", "the TCP connection", 600),
            ("association", "associate", "the PACS to accept the association (what "
             "Verify waits for when the port answers but the PACS is silent)", 3600),
            ("response", "response", "each C-ECHO/C-FIND response", 3600),
            ("retrieve_idle", "idle", "a retrieve with no response and no image (a slow "
             "archive may need minutes)", 86400),
        ):
            spin = QDoubleSpinBox()
            spin.setRange(0.1, top)
            spin.setDecimals(1)
            spin.setPrefix(f"{label} ")
            spin.setToolTip(f"Seconds to wait for {tip}")
            spin.valueChanged.connect(self.changed)
            row.addWidget(spin, len(self.spins) // 2, len(self.spins) % 2)
            self.spins[name] = spin

    def set_timeouts(self, timeouts: Timeouts) -> None:
        for name, spin in self.spins.items():
            spin.blockSignals(True)
            spin.setValue(getattr(timeouts, name))
            spin.blockSignals(False)

    def timeouts(self, base: Timeouts) -> Timeouts:
        return replace(base, **{name: spin.value() for name, spin in self.spins.items()})

    def setFocus(self, *args: object) -> None:
        self.spins["retrieve_idle"].setFocus()
