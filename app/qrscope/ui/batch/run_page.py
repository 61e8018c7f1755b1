"""The batch view's run: the batch as it goes, and the user's hand on it.

Items and instances as bars with their numbers, the rate and the time left,
the pace now and its recent changes with why ("2 → 1 parallel, paused 30 s:
A702 ... from DEMOPACS"), the availability window's state, each item with
its status, reason and hint; Pause, Resume, Cancel (asked first) and the
report's place. Every line is rewritten from the latest state, so that what
stopped being true (paused, a back-off that ended) leaves the page.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from qrscope.core.batch.items import ItemProgress
from qrscope.core.batch.progress import BatchPhase, BatchProgress
from qrscope.core.batch.report import counts, report_paths
from qrscope.ui.batch.models import ItemsModel

__all__ = ["RunPage"]


class RunPage(QWidget):
    """Signals: ``pause_requested()``, ``resume_requested()``, ``cancel_requested()``
    (after the user agreed), ``new_requested()`` (back to the list page)."""

    pause_requested = Signal()
    resume_requested = Signal()
    cancel_requested = Signal()
    new_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.model = ItemsModel(self)
        self.report = Path()
        self.progress: BatchProgress | None = None
        """The last progress shown: its pause is counted down by :attr:`_tick`."""
        self._tick = QTimer(self, interval=1000)
        self._tick.timeout.connect(self._show_pace)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.items_bar, self.items_text = QProgressBar(), QLabel()
        self.items_words = QLabel()
        self.items_words.setWordWrap(True)
        self.instances_bar, self.instances_text = QProgressBar(), QLabel()
        self.rate = QLabel()
        self.pace = QLabel()
        self.pace.setWordWrap(True)
        self.window_state = QLabel()
        self.window_state.setWordWrap(True)
        self.changes = QListWidget()
        self.changes.setToolTip("The pace's recent changes, newest first, with why")
        # A change's reason is long (the PACS's status in words): it wraps to the
        # page's width rather than scrolling sideways on a 1024-pixel screen.
        self.changes.setWordWrap(True)
        self.changes.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.changes.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.report_text = QLabel()
        self.report_text.setWordWrap(True)
        self.open_folder = QPushButton("Open report folder")
        self.open_folder.clicked.connect(self._open_folder)
        self.pause = QPushButton("Pause")
        self.pause.setToolTip("No new retrieve starts; those running finish")
        self.pause.clicked.connect(self.pause_requested)
        self.resume = QPushButton("Resume")
        self.resume.clicked.connect(self.resume_requested)
        self.cancel = QPushButton("Cancel…")
        self.cancel.clicked.connect(self.cancel_requested)
        self.new = QPushButton("New batch")
        self.new.clicked.connect(self.new_requested)
        self._layout()

    def _layout(self) -> None:
        numbers = QGridLayout()
        numbers.addWidget(QLabel("Items"), 0, 0)
        numbers.addWidget(self.items_bar, 0, 1)
        numbers.addWidget(self.items_text, 0, 2)
        numbers.addWidget(QLabel("Instances"), 1, 0)
        numbers.addWidget(self.instances_bar, 1, 1)
        numbers.addWidget(self.instances_text, 1, 2)
        numbers.addWidget(self.items_words, 2, 0, 1, 3)
        numbers.setColumnStretch(1, 1)
        state = QVBoxLayout()
        state.setSpacing(2)
        for label in (self.rate, self.pace, self.window_state):
            state.addWidget(label)
        top = QHBoxLayout()
        top.addLayout(numbers, 3)
        top.addLayout(state, 2)
        # The changes under the items, the page's whole width: a change's line
        # ("2 → 1 parallel, paused 30 s: A702 ... from PACS") is long.
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.changes)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setSizes([300, 70])
        self.split = split
        bottom = QHBoxLayout()
        bottom.addWidget(self.report_text, 1)
        for button in (self.open_folder, self.pause, self.resume, self.cancel, self.new):
            bottom.addWidget(button)
        column = QVBoxLayout(self)
        column.addWidget(self.title)
        column.addLayout(top)
        column.addWidget(split, 1)
        column.addLayout(bottom)

    def start(self, title: str, items: list[ItemProgress], report: str) -> None:
        """A batch shown from its start (or as the store holds it, resumed)."""
        self.title.setText(title)
        self.model.reset(items)
        self.table.resizeColumnsToContents()
        # Room for the statuses to come ("not-found", "partial"), not only "pending".
        self.table.setColumnWidth(2, max(self.table.columnWidth(2),
                                         self.table.fontMetrics().horizontalAdvance(
                                             "not-found") + 16))
        self.report = Path(report) if report else Path()
        csv_file, json_file = report_paths(self.report) if report else (None, None)
        self.report_text.setText(f"Report: {csv_file} (and .json)" if csv_file else "")
        self.report_text.setToolTip(f"{csv_file}\n{json_file}" if csv_file else "")
        self.open_folder.setEnabled(bool(report))
        self.changes.clear()
        self.progress = None
        self.pace.setText("")
        self.window_state.setText("")
        self.rate.setText("")
        self.show_running(True, paused=False)
        self._count()

    def show_progress(self, progress: BatchProgress) -> None:
        """The batch as the core reports it: numbers, rate, pace, window, pause."""
        if progress.ended:
            return  # the job's end (show_end) says how it ended
        self.progress = progress
        counts_ = progress.counts
        finished = progress.items - counts_.get("pending", 0) - counts_.get("found", 0)
        self.items_bar.setRange(0, max(1, progress.items))
        self.items_bar.setValue(finished)
        words = ", ".join(f"{n} {s}" for s, n in counts_.items()
                          if n and s not in ("pending", "found"))
        self.items_text.setText(f"{finished}/{progress.items}")
        self.items_words.setText(words)
        self.show_instances(progress.instances_received, progress.instances_expected)
        self.rate.setText(_rate_words(progress))
        self.window_state.setText(_window_words(progress))
        self.show_running(True, paused=progress.paused_by_user)
        self.show_changes([str(c) for c in reversed(progress.pace_changes)])
        self._show_pace()

    def show_changes(self, lines: list[str]) -> None:
        """The pace's changes, newest first; each line's whole text also in its tooltip."""
        self.changes.clear()
        for line in lines:
            item = QListWidgetItem(line)
            item.setToolTip(line)
            self.changes.addItem(item)

    def _show_pace(self) -> None:
        """The pace now; a pause counted down, its line gone once it ended."""
        progress = self.progress
        if progress is None:
            self._tick.stop()
            return
        pace = progress.pace
        left = (pace.paused_until - time.monotonic()) if pace.paused_until else 0.0
        words = f"Pace: {pace.parallel} of {pace.max_parallel} at once"
        if progress.phase is BatchPhase.PAUSED_BY_USER:
            words += "; paused by you: no new retrieve starts"
        elif left > 0:
            words += f"; backing off, {left:.0f} s more: {pace.why}"
        self.pace.setText(words)
        self.pace.setToolTip(f"last change: {pace.why}" if pace.why else "")
        if left > 0:
            self._tick.start()
        else:
            self._tick.stop()

    def put(self, progress: ItemProgress) -> None:
        self.model.put(progress)
        self._count()

    def show_running(self, running: bool, *, paused: bool) -> None:
        """The buttons for a batch that runs (paused or not) or has ended."""
        self.pause.setVisible(running and not paused)
        self.resume.setVisible(running and paused)
        self.cancel.setVisible(running)
        self.new.setVisible(not running)

    def show_end(self, summary: str) -> None:
        self.title.setText(f"{self.title.text().split(':', 1)[0]}: {summary}")
        self.progress = None
        self._tick.stop()
        self.show_running(False, paused=False)
        self.rate.setText("")
        self.pace.setText("")
        self.window_state.setText("")

    def _count(self) -> None:
        rows = self.model.rows
        numbers = counts(rows)
        finished = len(rows) - numbers["pending"] - sum(
            1 for p in rows if p.status.value == "found")
        self.items_bar.setRange(0, max(1, len(rows)))
        self.items_bar.setValue(finished)
        words = ", ".join(f"{n} {s}" for s, n in numbers.items() if n and s != "pending")
        self.items_text.setText(f"{finished}/{len(rows)}")
        self.items_words.setText(words)
        expected = sum(p.expected or 0 for p in rows)
        received = sum(p.received for p in rows)
        self.show_instances(received, expected)

    def show_instances(self, received: int, expected: int | None) -> None:
        self.instances_bar.setRange(0, max(1, expected or 0))
        self.instances_bar.setValue(min(received, expected or 0))
        self.instances_text.setText(f"{received}/{expected if expected else '?'}")

    def _open_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.report.parent)))


def _rate_words(progress: BatchProgress) -> str:
    if progress.phase is BatchPhase.RESOLVING:
        return "Asking the PACS for each row's studies…"
    if progress.rate is None:
        return "Rate: none yet (no instance arrived in the last minute)"
    left = "" if progress.eta is None else f", about {_duration(progress.eta)} left"
    return f"{progress.rate:.1f} instances/s{left}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _window_words(progress: BatchProgress) -> str:
    if not progress.window:
        return ""
    if progress.window_open:
        return f"Window {progress.window}: open"
    opens = progress.window_next_open
    return f"Waiting for the window {progress.window}" + (
        f": opens {opens:%a %H:%M}" if opens is not None else "")
