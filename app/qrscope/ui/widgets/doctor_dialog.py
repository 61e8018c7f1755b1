"""The C-MOVE doctor as a dialog: steps appear as they run, then the verdict."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qrscope.diagnosis.doctor import DoctorReport, DoctorStep
from qrscope.ui.screen_fit import fit_dialog

__all__ = ["DoctorDialog"]

_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "skipped": "#757575"}


class DoctorDialog(QDialog):
    """Shows a doctor run; ``step_done`` is connected to the bridge's queued signal.

    A handful of rows: a QTableWidget is the right tool here (no model needed
    for ten rows that never change once written).
    """

    step_done = Signal(object)

    def __init__(self, node_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"C-MOVE doctor: {node_name}")
        fit_dialog(self, QSize(900, 480))
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Step", "Result", "What we saw", "Time"])
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.setColumnWidth(0, 240)
        self.table.setColumnWidth(1, 70)
        self.table.setColumnWidth(2, 480)
        self.table.verticalHeader().hide()
        self.verdict = QLabel("Running…")
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy = QPushButton("Copy the report")
        self.copy.setToolTip("The steps and the verdict as text, for a support ticket")
        self.copy.setEnabled(False)
        self.copy.clicked.connect(self._copy)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.verdict)
        layout.addWidget(buttons)
        self.step_done.connect(self.add_step)
        self.report: DoctorReport | None = None

    def add_step(self, step: DoctorStep) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        for column, text in enumerate((step.name, step.status, step.summary,
                                       f"{step.seconds:.2f} s")):
            item = QTableWidgetItem(text)
            item.setToolTip(f"{text}\n{step.evidence}" if step.evidence else text)
            if column == 1:
                item.setForeground(QBrush(QColor(_COLOURS.get(step.status, "#000"))))
            self.table.setItem(row, column, item)

    def show_report(self, report: DoctorReport) -> None:
        self.report = report
        self.copy.setEnabled(True)
        if report.verdict is None:
            self.verdict.setText("<b>Everything a C-MOVE needs works.</b>")
            return
        hint = report.verdict
        causes = "".join(f"<li>{c}</li>" for c in hint.causes)
        self.verdict.setText(f"<b>{hint.title}</b> [{hint.id}]<br>{hint.summary}"
                             f"<ul>{causes}</ul>")

    def report_text(self) -> str:
        if self.report is None:
            return ""
        lines = [f"{s.status:>7}  {s.name}: {s.summary} ({s.seconds:.2f} s)"
                 for s in self.report.steps]
        if self.report.verdict is not None:
            lines += ["", self.report.verdict.as_text()]
        return "\n".join(lines)

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.report_text())
