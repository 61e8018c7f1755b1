"""The search form: patient, accession, date presets, modalities, description."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from qrscope.core.query.find import QueryFilter
from qrscope.core.validation import InvalidValue

__all__ = ["PRESETS", "SearchForm", "date_range_for", "preset_days"]

PRESETS = ("Any date", "Today", "Yesterday", "Last 7 days", "Last 30 days", "Custom range")


def preset_days(preset: str, today: date) -> tuple[date, date] | None:
    """First and last day of a preset; ``None`` for any date and the custom range."""
    day = timedelta(days=1)
    return {
        "Today": (today, today),
        "Yesterday": (today - day, today - day),
        "Last 7 days": (today - 6 * day, today),
        "Last 30 days": (today - 29 * day, today),
    }.get(preset)


def date_range_for(preset: str, today: date, start: date, end: date) -> str:
    """The DICOM date range of a preset (PS3.4 C.2.2.2.5 range matching)."""
    days = (start, end) if preset == "Custom range" else preset_days(preset, today)
    if days is None:
        return ""
    first, last = days
    return f"{first:%Y%m%d}-{last:%Y%m%d}"


class SearchForm(QWidget):
    """Emits ``search_requested`` (Enter or the button) and ``cancel_requested``."""

    search_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.patient_name = self._edit("Patient name; * and ? are wildcards, e.g. DOE*",
                                       "Name (DOE*)")
        self.patient_id = self._edit("Patient ID (exact, or with wildcards)", "Patient ID")
        self.accession = self._edit("Accession number", "Accession")
        self.description = self._edit("Study description; wildcards allowed", "Description")
        self.modalities = self._edit("Modalities, separated by commas: CT, MR", "CT, MR")
        self.preset = QComboBox()
        self.preset.addItems(PRESETS)
        self.preset.setToolTip("Study date")
        self.preset.currentTextChanged.connect(self._preset_changed)
        self.date_from = QDateEdit(QDate.currentDate().addDays(-7))
        self.date_to = QDateEdit(QDate.currentDate())
        for edit, tip in ((self.date_from, "First study date"), (self.date_to, "Last date")):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setToolTip(tip)
            edit.setEnabled(False)
        self.search = QPushButton("Search")
        self.search.setToolTip("Run the search (Enter)")
        self.search.setDefault(True)
        self.search.clicked.connect(self.search_requested)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop the running search (Esc); sends C-CANCEL")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(self.cancel_requested)
        self.message = QLabel()
        self.message.setStyleSheet("color: #c62828;")
        # Two rows: the identifying fields, then description, dates and the
        # buttons. Each field keeps room for its placeholder ("Accession",
        # never "A…") beside the nodes panel on a 1024-pixel screen.
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        for column, edit in enumerate((self.patient_name, self.patient_id, self.accession,
                                       self.modalities)):
            grid.addWidget(edit, 0, column)
            grid.setColumnStretch(column, 1)
        second = QHBoxLayout()
        second.addWidget(self.description, 1)
        for widget in (self.preset, self.date_from, QLabel("–"), self.date_to, self.search,
                       self.cancel):
            second.addWidget(widget)
        grid.addLayout(second, 1, 0, 1, 4)
        grid.addWidget(self.message, 2, 0, 1, 4)
        self.message.hide()

    def _edit(self, tip: str, placeholder: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setToolTip(tip)
        edit.setPlaceholderText(placeholder)
        edit.setClearButtonEnabled(True)
        edit.setMinimumWidth(edit.fontMetrics().horizontalAdvance(placeholder) + 30)
        edit.returnPressed.connect(self.search_requested)
        return edit

    def _preset_changed(self, preset: str) -> None:
        """The greyed dates show the preset's days; Custom range starts from them."""
        custom = preset == "Custom range"
        self.date_from.setEnabled(custom)
        self.date_to.setEnabled(custom)
        days = preset_days(preset, date.today())
        if days is not None:
            self.date_from.setDate(QDate(days[0]))
            self.date_to.setDate(QDate(days[1]))

    def query(self, today: date | None = None) -> QueryFilter | None:
        """The validated filter, or ``None`` with the problem shown under the form."""
        study_date = date_range_for(self.preset.currentText(), today or date.today(),
                                    self.date_from.date().toPython(),
                                    self.date_to.date().toPython())
        modalities = tuple(m.strip() for m in self.modalities.text().replace("\\", ",")
                           .split(",") if m.strip())
        try:
            query = QueryFilter(patient_name=self.patient_name.text().strip(),
                                patient_id=self.patient_id.text().strip(),
                                accession_number=self.accession.text().strip(),
                                study_description=self.description.text().strip(),
                                study_date=study_date, modalities=modalities).validated()
        except InvalidValue as exc:
            self.message.setText(str(exc))
            self.message.show()
            return None
        self.message.clear()
        self.message.hide()
        return query

    def set_running(self, running: bool) -> None:
        self.search.setEnabled(not running)
        self.cancel.setEnabled(running)

    def state(self) -> dict[str, Any]:
        return {"patient_name": self.patient_name.text(), "patient_id": self.patient_id.text(),
                "accession": self.accession.text(), "modalities": self.modalities.text(),
                "description": self.description.text(), "preset": self.preset.currentText()}

    def restore(self, state: dict[str, Any]) -> None:
        for key in ("patient_name", "patient_id", "accession", "modalities", "description"):
            getattr(self, key).setText(str(state.get(key, "")))
        if state.get("preset") in PRESETS:
            self.preset.setCurrentText(str(state["preset"]))
