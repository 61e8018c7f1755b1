"""The retrieve panel: listener status, the job queue with progress, cancel, retry, open folder."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QPainter, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qrscope.core.jobs.records import JobKind
from qrscope.ui.models.jobs_model import PROGRESS_COLUMN, WIDEST_PROGRESS, JobRow, JobTableModel
from qrscope.ui.widgets.python_model_view import PythonModelView

__all__ = ["RetrievePanel"]

WHAT_MIN_WIDTH = 330


class _ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column as a bar with the counts on it."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        fraction = index.data(Qt.ItemDataRole.UserRole)
        bar = QStyleOptionProgressBar()
        bar.rect = QRect(option.rect.adjusted(2, 2, -2, -2))  # type: ignore[attr-defined]
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int((fraction or 0) * 1000) if fraction is not None else 0
        bar.text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        bar.textVisible = True
        if fraction is None:  # total not known yet: an empty bar with the counts
            bar.maximum = 0 if index.data(Qt.ItemDataRole.DisplayRole) else 1000
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


def _retry_words(row: JobRow | None) -> str:
    """What Retry failed does for *row*'s job, or why it cannot apply to it."""
    if row is None or row.kind is not JobKind.BATCH:
        return "Retrieve again only what did not arrive"
    if row.retryable:
        return "Run the batch again for its failed and partial items (and any not reached)"
    if not row.state.is_final:
        return "The batch is still running: its failed items can be retried once it ends"
    return ("Nothing to retry: every item of the batch is done, skipped, not found or "
            "ambiguous (a not-found or ambiguous row needs the list fixed, not a retry)")


class RetrievePanel(QWidget):
    """Signals: ``cancel_requested(job_id)``, ``retry_requested(job_id)``,
    ``listener_toggle_requested(bool start)``."""

    cancel_requested = Signal(str)
    retry_requested = Signal(str)
    diagram_requested = Signal(str)
    listener_toggle_requested = Signal(bool)
    folder_message = Signal(str)

    def __init__(self, model: JobTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.listener_label = QLabel()
        self.listener_label.setToolTip("Our storage listener: where a C-MOVE sends the images")
        self.listener_label.setWordWrap(True)  # two lines rather than a wider window
        self.listener_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                          QSizePolicy.Policy.Preferred)
        self.listener_button = QPushButton("Start listener")
        self.listener_button.setToolTip("Start or stop the storage listener")
        self.listener_button.clicked.connect(
            lambda: self.listener_toggle_requested.emit(not self._listening))
        self._listening = False
        self.view = PythonModelView()
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(PROGRESS_COLUMN, _ProgressDelegate(self.view))
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.verticalHeader().hide()
        header = self.view.horizontalHeader()
        header.setStretchLastSection(False)
        # What was asked, how it went and why come first; node, method, rate
        # and time left after them (scrolled to on a narrow screen).
        for visual, logical in enumerate((0, 1, 4, PROGRESS_COLUMN, 8, 2, 3, 6, 7)):
            header.moveSection(header.visualIndex(logical), visual)
        for column, width in enumerate((55, 330, 100, 70, 75, 160, 60, 50, 220)):
            self.view.setColumnWidth(column, width)
        # The bar's text on one line, with the style's margins either side.
        self.view.setColumnWidth(PROGRESS_COLUMN, max(160, self.view.fontMetrics()
                                 .horizontalAdvance(WIDEST_PROGRESS) + 16))
        self.view.verticalHeader().setDefaultSectionSize(
            self.view.fontMetrics().lineSpacing() + 8)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.model.dataChanged.connect(self._update_buttons)
        self.model.rowsInserted.connect(self._show_new_job)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Cancel the selected retrieve (C-CANCEL)")
        self.cancel.clicked.connect(lambda: self._emit_for_selected(self.cancel_requested))
        self.retry = QPushButton("Retry failed")
        self.retry.clicked.connect(lambda: self._emit_for_selected(self.retry_requested))
        self.diagram = QPushButton("Sequence…")
        self.diagram.setToolTip("Both associations of the retrieve on one time axis")
        self.diagram.clicked.connect(lambda: self._emit_for_selected(self.diagram_requested))
        self.open = QPushButton("Open folder")
        self.open.setToolTip("Show the received files")
        self.open.clicked.connect(self.open_folder)
        self.open_url = QDesktopServices.openUrl
        """How a folder is opened; ``False`` where no file manager is registered."""
        self.folder = QLineEdit()
        self.folder.setReadOnly(True)
        self.folder.setMinimumWidth(80)
        self.folder.setPlaceholderText("Where the selected job's files are")
        self.folder.setToolTip("The folder of the selected job's files: select and copy")
        self.copy_folder = QToolButton()
        self.copy_folder.setText("Copy path")
        self.copy_folder.setToolTip("Copy the folder's path to the clipboard")
        self.copy_folder.clicked.connect(self._copy_folder)
        top = QHBoxLayout()
        top.addWidget(self.listener_label, 1)
        top.addWidget(self.listener_button)
        buttons = QHBoxLayout()
        for button in (self.cancel, self.retry, self.diagram, self.open):
            buttons.addWidget(button)
        buttons.addWidget(self.folder, 1)
        buttons.addWidget(self.copy_folder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        self._update_buttons()

    def show_listener(self, ae_title: str, address: str, port: int, state: str,
                      received: int, accept: str = "known") -> None:
        self._listening = state == "running"
        # Starting or stopping runs in a worker: the button waits for its end.
        moving = state in ("starting", "stopping")
        colour = {"running": "#2e7d32", "error": "#c62828"}.get(state, "#757575")
        word = f"{state}…" if moving else state
        where = {"0.0.0.0": "all interfaces", "::": "all interfaces",
                 "127.0.0.1": "this computer only", "::1": "this computer only"}.get(
                     address, address)
        who = "known nodes" if accept == "known" else "any caller"
        # One short line (the jobs table needs the height); the tooltip says it all.
        self.listener_label.setText(
            f"Listener <b>{ae_title}</b> {address}:{port}, storing from {who} — "
            f"<span style='color:{colour}'><b>{word}</b></span> — {received} received")
        self.listener_label.setToolTip(
            f"Our storage listener, where a C-MOVE sends the images: AE title {ae_title}, "
            f"listening on {where} ({address}) port {port}, storing from {who}")
        self.listener_button.setText("Stop listener" if self._listening else "Start listener")
        self.listener_button.setEnabled(not moving)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """What was asked for takes the room the other columns leave (never less
        than it needs to name patient and study on a 1024-pixel screen)."""
        super().resizeEvent(event)
        others = sum(self.view.columnWidth(c) for c in range(self.model.columnCount())
                     if c != 1 and not self.view.isColumnHidden(c))
        self.view.setColumnWidth(1, max(WHAT_MIN_WIDTH, self.view.viewport().width() - others))

    def _show_new_job(self, _parent: object, _first: int, last: int) -> None:
        """The job just asked for (the newest of several) is selected and in view,
        so Cancel acts on it."""
        self.view.selectRow(last)
        self.view.scrollTo(self.model.index(last, 0))

    def selected(self) -> JobRow | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.rows[rows[0].row()] if rows else None

    def _emit_for_selected(self, signal: Signal) -> None:
        row = self.selected()
        if row is not None:
            signal.emit(row.job_id)  # type: ignore[attr-defined]

    def _update_buttons(self, *_args: object) -> None:
        row = self.selected()
        self.cancel.setEnabled(row is not None and not row.state.is_final)
        self.retry.setEnabled(bool(row and row.retryable))
        self.retry.setToolTip(_retry_words(row))
        self.open.setEnabled(bool(row and row.folder))
        self.copy_folder.setEnabled(bool(row and row.folder))
        self.folder.setText(row.folder if row else "")
        self.diagram.setEnabled(bool(row and row.state.is_final))

    def open_folder(self) -> None:
        """Open the folder in the file manager; where there is none, say where it is."""
        row = self.selected()
        if row is None or not row.folder:
            return
        if not self.open_url(QUrl.fromLocalFile(row.folder)):
            self.folder.setText(row.folder)
            self.folder.selectAll()
            self.folder.setFocus()
            self.folder.setToolTip("No file manager opened it: the path is selected, "
                                   "Ctrl+C copies it")
            self.folder_message.emit(f"No file manager is set up to open folders; the files "
                                     f"are in {row.folder} (selected beside the button)")

    def _copy_folder(self) -> None:
        QGuiApplication.clipboard().setText(self.folder.text())
        self.folder_message.emit(f"Copied {self.folder.text()} to the clipboard")
