"""Ask before retrieving what is already on this computer."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMessageBox, QWidget

__all__ = ["AlreadyHereDialog"]

SKIP, MISSING, AGAIN = "skip", "missing", "again"


class AlreadyHereDialog(QMessageBox):
    """Skip, fetch only what is missing, or fetch everything again.

    Window-modal and not blocking (``open()``): the answer comes as
    ``chosen(str)``, one of ``"skip"``, ``"missing"``, ``"again"``.
    """

    chosen = Signal(str)

    def __init__(self, lines: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Already on this computer")
        self.setIcon(QMessageBox.Icon.Question)
        self.setText("What you asked for is already here, in full or in part:")
        self.setInformativeText("\n".join(lines))
        self.buttons_by_choice = {
            SKIP: self.addButton("Skip", QMessageBox.ButtonRole.RejectRole),
            MISSING: self.addButton("Fetch only what is missing",
                                    QMessageBox.ButtonRole.AcceptRole),
            AGAIN: self.addButton("Fetch everything again", QMessageBox.ButtonRole.ActionRole),
        }
        self.setDefaultButton(self.buttons_by_choice[MISSING])
        self.setEscapeButton(self.buttons_by_choice[SKIP])
        self.buttonClicked.connect(self._clicked)

    def _clicked(self, button: object) -> None:
        for choice, candidate in self.buttons_by_choice.items():
            if candidate is button:
                self.chosen.emit(choice)
