"""The place where the current problem is explained, with buttons for what can be done."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from qrscope.core.diagnosis.hints import Action, Hint

__all__ = ["HintBar"]


class HintBar(QFrame):
    """Shows one :class:`Hint`; hidden when there is none.

    ``action_requested`` carries the :class:`Action` a button stands for;
    ``copy`` actions are done here (to the clipboard).
    """

    action_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("hintBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#hintBar { background: palette(alternate-base); "
                           "border-left: 4px solid #ef6c00; }")
        self.hint: Hint | None = None
        self.job_id = ""
        """The retrieve job the hint is about, for actions that act on it."""
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold;")
        self.title.setWordWrap(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.causes = QLabel()
        self.causes.setWordWrap(True)
        self.buttons = QHBoxLayout()
        close = QPushButton("Dismiss")
        close.setToolTip("Hide this explanation")
        close.clicked.connect(self.clear)
        row = QHBoxLayout()
        row.addLayout(self.buttons)
        row.addStretch(1)
        row.addWidget(close)
        layout = QVBoxLayout(self)
        for widget in (self.title, self.summary, self.causes):
            layout.addWidget(widget)
        layout.addLayout(row)
        self.hide()

    def show_hint(self, hint: Hint, job_id: str = "") -> None:
        self.hint = hint
        self.job_id = job_id
        self.title.setText(hint.title)
        self.summary.setText(hint.summary)
        self.causes.setText("\n".join(f"• {cause}" for cause in hint.causes))
        self.causes.setVisible(bool(hint.causes))
        while self.buttons.count():
            item = self.buttons.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        for action in hint.actions:
            self.buttons.addWidget(self._button(action))
        evidence = ", ".join(f"{k}: {v}" for k, v in hint.evidence.items())
        self.setToolTip(f"{hint.id}\n{evidence}" if evidence else hint.id)
        self.show()

    def _button(self, action: Action) -> QWidget:
        if action.kind == "advice":
            label = QLabel(f"→ {action.label}")
            label.setWordWrap(True)
            return label
        button = QPushButton(action.label)
        button.clicked.connect(lambda _=False, a=action: self._act(a))
        return button

    def _act(self, action: Action) -> None:
        if action.kind == "copy":
            QGuiApplication.clipboard().setText(action.value)
        self.action_requested.emit(action)

    def clear(self) -> None:
        self.hint = None
        self.hide()
