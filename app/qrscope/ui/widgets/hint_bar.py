"""The place where the current problem is explained, with buttons for what can be done."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qrscope.diagnosis.hints import Action, Hint

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
        self.advice = QLabel()
        self.advice.setWordWrap(True)
        self.confirmation = QLabel()
        self.confirmation.setStyleSheet("color: #2e7d32;")
        self.confirmation.setWordWrap(True)
        self.buttons = QHBoxLayout()
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Hide this explanation")
        close.clicked.connect(self.clear)
        heading = QHBoxLayout()
        heading.addWidget(self.title, 1)
        heading.addWidget(close)
        row = QHBoxLayout()
        row.addLayout(self.buttons)
        row.addWidget(self.confirmation, 1)
        # The explanation scrolls inside a few lines' height, so a long hint
        # never squeezes the results or overlaps its own lines.
        body = QWidget()
        body.setObjectName("hintBody")
        body.setStyleSheet("#hintBody { background: transparent; }")
        text = QVBoxLayout(body)
        text.setContentsMargins(0, 0, 0, 0)
        for widget in (self.summary, self.causes, self.advice):
            text.addWidget(widget)
        text.addStretch(1)
        self.body = QScrollArea()
        self.body.setWidgetResizable(True)
        self.body.setFrameShape(QFrame.Shape.NoFrame)
        self.body.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.body.setWidget(body)
        self.body.viewport().setAutoFillBackground(False)
        self.set_lines(4)
        layout = QVBoxLayout(self)
        layout.setSpacing(4)
        layout.addLayout(heading)
        layout.addWidget(self.body)
        layout.addLayout(row)
        self.hide()

    def set_lines(self, lines: int) -> None:
        """How many lines of explanation show before it scrolls (the window decides)."""
        self._max_body = lines * self.fontMetrics().lineSpacing() + 4
        self._fit_body()

    def _fit_body(self) -> None:
        """As tall as the explanation needs at this width, up to the window's limit."""
        inner = self.body.widget()
        layout = inner.layout() if inner is not None else None
        if layout is None:
            return
        width = max(1, self.body.viewport().width())
        needed = (layout.heightForWidth(width) if layout.hasHeightForWidth()
                  else inner.sizeHint().height())
        self.body.setFixedHeight(max(self.fontMetrics().lineSpacing(),
                                     min(needed, self._max_body)))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_body()

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
        self.confirmation.clear()
        snippets = [a for a in hint.actions if a.kind == "copy" and a.label.endswith(" entry")]
        # Advice is something only the user can do: it reads as a line of
        # text, never as a button squeezed into a narrow column.
        advice = [a for a in hint.actions if a.kind == "advice"]
        self.advice.setText("\n".join(f"→ {a.label}" for a in advice))
        self.advice.setVisible(bool(advice))
        others = [a for a in hint.actions if a not in snippets and a not in advice]
        # Two buttons at most, the rest in a menu: the bar must never make the
        # window wider than the screen.
        for action in others[:2]:
            self.buttons.addWidget(self._button(action))
        if others[2:] or snippets:
            self.buttons.addWidget(self._menu_button(others[2:], snippets))
        evidence = ", ".join(f"{k}: {v}" for k, v in hint.evidence.items())
        self.setToolTip(f"{hint.id}\n{evidence}" if evidence else hint.id)
        self.show()
        self._fit_body()

    def _button(self, action: Action) -> QWidget:
        button = QPushButton(action.label)
        button.setToolTip(action.value or action.label)
        # Never narrower than its words: a clipped label hides what it does.
        button.setMinimumWidth(button.sizeHint().width())
        button.clicked.connect(lambda _=False, a=action: self._act(a))
        return button

    def _menu_button(self, actions: list[Action], snippets: list[Action]) -> QWidget:
        button = QToolButton()
        button.setText("More…")
        button.setToolTip("More things to do, and the entry to paste on the PACS")
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(button)
        for action in actions:
            item = menu.addAction(action.label)
            item.triggered.connect(lambda _=False, a=action: self._act(a))
        if snippets:
            sub = menu.addMenu("Copy the PACS entry for")
            for action in snippets:
                item = sub.addAction(action.label.removeprefix("Copy the ").removesuffix(" entry"))
                item.triggered.connect(lambda _=False, a=action: self._act(a))
        button.setMenu(menu)
        return button

    def _act(self, action: Action) -> None:
        if action.kind == "copy":
            QGuiApplication.clipboard().setText(action.value)
            what = (action.label.removeprefix("Copy ") if action.label.startswith("Copy ")
                    else f"'{action.value}'")
            self.confirmation.setText(f"✓ Copied {what} to the clipboard: paste it in a "
                                      "message or ticket")
        self.action_requested.emit(action)

    def confirm(self, text: str) -> None:
        """Say, under the hint, what a button has done."""
        self.confirmation.setText(f"✓ {text}")

    def clear(self) -> None:
        self.hint = None
        self.hide()
