"""The Local view: patients, studies and series of the archive, filtered as a PACS search.

The same form as the PACS search (its fields, wildcards and date presets)
filters the archive; above, the studies (or the patients: the tab bar
switches), below, the series of the selected rows with their thumbnails.
Every read of the index runs in the bridge's archive worker; the tables
are replaced in one go when a listing arrives, keeping the user's
selection and order. What the listener files while the view is open shows
within :data:`REFRESH_MS`; a hidden view refreshes when it is shown again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QPaintEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTabBar,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from qrscope.core.send.selection import SendSelection
from qrscope.core.validation import InvalidValue
from qrscope.ui.bridge import CoreBridge, spawn
from qrscope.ui.job_words import count
from qrscope.ui.local.listing import ArchiveListing, archive_filter, human_bytes
from qrscope.ui.local.models import (
    PATIENT_COLUMNS,
    SERIES_COLUMNS,
    STUDY_COLUMNS,
    ArchiveTableModel,
)
from qrscope.ui.models.result_columns import person_name
from qrscope.ui.widgets.column_fit import fit_columns
from qrscope.ui.widgets.search_form import SearchForm

__all__ = ["THUMB_SIZE", "LocalView"]

REFRESH_MS = 1000
"""Instances filed within this time after the first are shown by one listing."""
FIT_ROWS = 50
MAX_COLUMN = 240
THUMB_SIZE = 64
"""The thumbnails' size in the series table (the core makes them larger: sharp on HiDPI)."""


class _ElidedLabel(QLabel):
    """A one-line label that ends in "…" where it is cut (its tooltip has it whole)."""

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                             self.contentsRect().width())
        painter.drawText(self.contentsRect(), int(self.alignment()), text)
        painter.end()


def _table(model: ArchiveTableModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setSortingEnabled(True)
    view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # the index's own order until clicked
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setAlternatingRowColors(True)
    view.setTabKeyNavigation(False)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().lineSpacing() + 6)
    header = view.horizontalHeader()
    header.setStretchLastSection(True)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    return view


class LocalView(QWidget):
    """Signals: ``status(str)`` for the status line, ``series_opened(dict)`` (double-click)."""

    status = Signal(str)
    listed = Signal()  # a listing has been shown
    series_opened = Signal(object)

    def __init__(self, bridge: CoreBridge, storage: Callable[[], Path],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.storage = storage
        self.listing: ArchiveListing | None = None
        self._listing_busy = False
        self._again = False
        self._stale = True
        self.models = {"patients": ArchiveTableModel(PATIENT_COLUMNS, "patient_id", self),
                       "studies": ArchiveTableModel(STUDY_COLUMNS, "study_uid", self),
                       "series": ArchiveTableModel(SERIES_COLUMNS, "series_uid", self)}
        self.views = {name: _table(model) for name, model in self.models.items()}
        self.acting_on = "studies"
        """The table the buttons act on: the one the user selected in last."""
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self._refresh_if_shown)
        self._build()
        self._connect()

    # -- layout ------------------------------------------------------------------------
    def _build(self) -> None:
        self.form = SearchForm()
        self.form.search.setText("Show")
        self.form.search.setToolTip("List what this computer holds that matches, read anew "
                                    "(Enter)")
        self.form.cancel.hide()
        self.upper = QTabBar()
        self.upper.addTab("Studies")
        self.upper.addTab("Patients")
        self.upper.setDrawBase(False)
        self.upper.setUsesScrollButtons(False)
        self.count = _ElidedLabel()
        # Beside the nodes panel on a 1024-pixel screen the row is narrow: the
        # count gives way (its tooltip keeps it whole), never the buttons.
        self.count.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.buttons: dict[str, QPushButton] = {}
        for key, text, tip in (
                ("view", "View", "Look at the selected series (double-click)"),
                ("folder", "Folder", "Open the selection's folder in the file manager"),
                ("send", "Send…", "Send the selection to a node (C-STORE)"),
                ("delete", "Delete…", "Delete the selection from this computer (asks first)")):
            button = QPushButton(text)
            button.setToolTip(tip)
            self.buttons[key] = button
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.upper)
        bar.addWidget(self.count, 1)
        for button in self.buttons.values():
            bar.addWidget(button)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.views["studies"])
        self.stack.addWidget(self.views["patients"])
        series = self.views["series"]
        series.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        series.verticalHeader().setDefaultSectionSize(THUMB_SIZE + 4)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(series)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)  # the series, with their thumbnails, get more
        self.progress = QProgressBar()
        self.progress.hide()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.form)
        column.addLayout(bar)
        column.addWidget(self.splitter, 1)
        column.addWidget(self.progress)
        column.addWidget(self.message)
        self._update_buttons()

    def _connect(self) -> None:
        self.form.search_requested.connect(self.refresh)
        self.buttons["view"].clicked.connect(self.open_selected)
        self.upper.currentChanged.connect(self._upper_changed)
        for name, view in self.views.items():
            view.selectionModel().selectionChanged.connect(
                lambda *_a, n=name: self._selection_changed(n))
            view.doubleClicked.connect(lambda index, n=name: self._double_clicked(n, index))

    # -- listing -------------------------------------------------------------------------
    def note_received(self) -> None:
        """The listener filed an instance: list again soon (one listing per burst)."""
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _refresh_if_shown(self) -> None:
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def refresh(self) -> None:
        """List the archive again with the form's filter (in the archive worker)."""
        query = self.form.query()
        if query is None:
            return
        self._stale = False
        if self._listing_busy:  # one listing at a time; the last asked for runs after
            self._again = True
            return
        self._listing_busy = True
        spawn(self._list(query))

    async def _list(self, query: Any) -> None:
        try:
            listing = await self.bridge.archive_listing(self.storage(), archive_filter(query))
        except InvalidValue as exc:
            self.show_message(str(exc))
            return
        except Exception as exc:  # a damaged or locked database: say so, keep the window
            self.show_message(f"Could not read the archive of {self.storage()}: {exc}")
            return
        finally:
            self._listing_busy = False
            if self._again:
                self._again = False
                self.refresh()
        self.show_listing(listing)

    def show_listing(self, listing: ArchiveListing) -> None:
        """Replace the tables' rows, keeping what the user had selected."""
        self.listing = listing
        self.show_message("")
        for name in ("patients", "studies"):
            kept = self.selected_keys(name)
            self.models[name].set_rows(getattr(listing, name))
            self._select(name, kept)
        self._show_series()
        self._fit_columns()
        size = sum(int(s["bytes"] or 0) for s in listing.studies)
        studies = len(listing.studies)
        self.count.setText(f"{studies} {'study' if studies == 1 else 'studies'}, "
                           f"{count(len(listing.patients), 'patient')}, {human_bytes(size)}")
        self.count.setToolTip(self.count.text())
        self._update_buttons()
        self.listed.emit()

    def _show_series(self) -> None:
        """The series of the rows selected above (all of them when none is)."""
        if self.listing is None:
            return
        upper = self.upper_name
        field = "study_uid" if upper == "studies" else "patient_id"
        chosen = set(self.selected_keys(upper))
        rows = [s for s in self.listing.series if not chosen or s[field] in chosen]
        kept = self.selected_keys("series")
        self.models["series"].set_rows(rows)
        self._select("series", kept)

    def _fit_columns(self) -> None:
        """Once per table, at the first listing with rows it shows: each column as
        wide as its first rows' text (:func:`fit_columns`, not Qt's measure of every
        role of every cell: 50 ms of the view's first open). The table behind the
        Studies/Patients tab is fitted when it is first shown."""
        shown = {"series", self.upper_name}
        for name, view in self.views.items():
            if name in shown and self.models[name].rowCount() and not view.property("fitted"):
                view.setProperty("fitted", True)
                fit_columns(view, self.models[name], FIT_ROWS, MAX_COLUMN)
        series = self.views["series"]  # the thumbnail beside the series number, whole
        series.setColumnWidth(0, max(series.columnWidth(0), THUMB_SIZE + 40))

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # -- selection -------------------------------------------------------------------------
    @property
    def upper_name(self) -> str:
        return "studies" if self.upper.currentIndex() == 0 else "patients"

    def selected_keys(self, name: str) -> list[str]:
        model = self.models[name]
        rows = sorted(i.row() for i in self.views[name].selectionModel().selectedRows())
        return [model.key_of(r) for r in rows]

    def _select(self, name: str, keys: list[str]) -> None:
        view, model = self.views[name], self.models[name]
        chosen = view.selectionModel()
        chosen.blockSignals(True)  # one series update, not one per restored row
        chosen.clearSelection()
        for key in keys:
            index = model.index_of(key)
            if index.isValid():
                view.selectionModel().select(
                    index, chosen.SelectionFlag.Select | chosen.SelectionFlag.Rows)
        chosen.blockSignals(False)
        view.viewport().update()

    def selection(self) -> SendSelection | None:
        """What the buttons act on: the series selected, else the studies or patients."""
        name = self.acting_on if self.selected_keys(self.acting_on) else self.upper_name
        keys = tuple(self.selected_keys(name))
        if not keys:
            return None
        return {"patients": SendSelection(patient_ids=keys),
                "studies": SendSelection(study_uids=keys),
                "series": SendSelection(series_uids=keys)}[name]

    def describe(self, selection: SendSelection) -> str:
        """In words for a question or a job: "2 studies of Doe, John"."""
        chosen = {*selection.patient_ids, *selection.study_uids, *selection.series_uids}
        listing = self.listing
        rows = [] if listing is None else listing.patients + listing.studies + listing.series
        names = sorted({person_name(row["patient_name"] or "") for row in rows
                        if chosen & {row.get("patient_id"), row.get("study_uid"),
                                     row.get("series_uid")}})
        who = f" of {', '.join(names[:2])}{' …' if len(names) > 2 else ''}" if names else ""
        return f"{selection.describe()}{who}"

    def _upper_changed(self, index: int) -> None:
        self.stack.setCurrentIndex(index)
        self.acting_on = self.upper_name
        self._show_series()
        self._fit_columns()
        self._update_buttons()

    def _selection_changed(self, name: str) -> None:
        self.acting_on = name
        if name != "series":
            self._show_series()
        self._update_buttons()

    def _update_buttons(self) -> None:
        some = self.selection() is not None
        for key in ("folder", "send", "delete"):
            self.buttons[key].setEnabled(some)
        self.buttons["view"].setEnabled(self.series_to_view() is not None)

    def series_to_view(self) -> dict[str, Any] | None:
        """The series the View button opens: the selected one, else the first shown."""
        model = self.models["series"]
        keys = self.selected_keys("series")
        number = model.row_of(keys[0]) if keys else (0 if model.rows else -1)
        return model.rows[number] if number >= 0 else None

    def open_selected(self) -> None:
        row = self.series_to_view()
        if row is not None:
            self.series_opened.emit(row)

    def open_from(self, name: str) -> None:
        """View from the table *name*: the selected series, or the first series of the
        selected studies or patients (the context menus' View, as a double-click)."""
        if name == "series":
            self.open_selected()
            return
        self._show_series()
        rows = self.models["series"].rows
        if rows:
            self.series_opened.emit(rows[0])

    def _double_clicked(self, name: str, index: QModelIndex) -> None:
        if name == "series":
            self.series_opened.emit(self.models["series"].rows[index.row()])
        else:  # a study or patient: its first series
            self.open_from(name)
