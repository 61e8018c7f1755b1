"""The admin card: what the PACS administrator must add for C-MOVE to reach us."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QSize
from PySide6.QtGui import QGuiApplication, QTextDocument
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from qrscope.diagnosis.pacs_entries import MoveDestinationEntry
from qrscope.ui.screen_fit import fit_dialog

__all__ = ["AdminCardDialog"]


class AdminCardDialog(QDialog):
    def __init__(self, entry: MoveDestinationEntry, pacs_name: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entry = entry
        self.setWindowTitle(f"Admin card for {pacs_name}")
        fit_dialog(self, QSize(640, 380))
        self.tabs = QTabWidget()
        self._add_tab("For the administrator", entry.card())
        for product, text in entry.snippets().items():
            self._add_tab(product, text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("Copy")
        copy.setToolTip("Copy the text of the shown tab")
        copy.clicked.connect(self.copy_current)
        print_button = QPushButton("Print…")
        print_button.setToolTip("Print the card with every product's entry")
        print_button.clicked.connect(self.print_card)
        for button in (copy, print_button):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)

    def _add_tab(self, title: str, text: str) -> None:
        view = QPlainTextEdit(text)
        view.setReadOnly(True)
        self.tabs.addTab(view, title)

    def current_text(self) -> str:
        widget = self.tabs.currentWidget()
        return widget.toPlainText() if isinstance(widget, QPlainTextEdit) else ""

    def copy_current(self) -> None:
        QGuiApplication.clipboard().setText(self.current_text())

    def html(self) -> str:
        parts = [f"<h2>DICOM move destination: {escape(self.entry.ae_title)}</h2>",
                 f"<pre>{escape(self.entry.card())}</pre>"]
        for product, text in self.entry.snippets().items():
            parts.append(f"<h3>{escape(product)}</h3><pre>{escape(text)}</pre>")
        return "".join(parts)

    def print_card(self) -> None:
        printer = QPrinter()
        if QPrintDialog(printer, self).exec() == QDialog.DialogCode.Accepted:
            document = QTextDocument()
            document.setHtml(self.html())
            document.print_(printer)
