"""The batch view's first page: the list (opened or pasted), its columns, and how to
fetch it (node, method, folder, window, parallel retrieves).

The page only gathers; :class:`~qrscope.ui.batch.place.BatchPlace` reads the
list (off the GUI thread) and shows what it read, or the error with its row,
in :attr:`InputPage.message`; nothing can be reviewed until a list was read.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from qrscope.core.batch.input import KEYS, BatchInput
from qrscope.core.profiles import RemoteNode, RetrieveMethod

__all__ = ["NOT_USED", "InputPage"]

NOT_USED = "(not used)"
FILES = "Lists (*.csv *.tsv *.tab *.xlsx *.xlsm *.txt);;All files (*)"
_ROLE_WORDS = {"AccessionNumber": "Accession number", "PatientID": "Patient ID",
               "StudyInstanceUID": "Study Instance UID", "StudyDate": "Study date",
               "Modality": "Modality"}


class InputPage(QWidget):
    """Signals: ``open_requested(str)`` a file chosen, ``paste_read()`` the pasted
    text to read, ``columns_changed()`` a column named by hand, ``review_requested()``."""

    open_requested = Signal(str)
    paste_read = Signal()
    columns_changed = Signal()
    review_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.open_button = QPushButton("Open list…")
        self.open_button.setToolTip("A CSV, TSV, Excel (.xlsx) or text file: one row per "
                                    "study (File > Open batch list…)")
        self.open_button.clicked.connect(self.choose_file)
        self.read_button = QPushButton("Read pasted list")
        self.read_button.clicked.connect(self.paste_read)
        self.paste = QPlainTextEdit()
        self.paste.setPlaceholderText(
            "Paste here: one accession number or Study Instance UID a line, or rows "
            "copied from a spreadsheet (with their header row)")
        self.message = QLabel("Open a list or paste one")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.roles: dict[str, QComboBox] = {}
        self.columns = self._columns_box()
        self.node = QComboBox()
        self.method = QComboBox()
        self.method.addItem("C-MOVE", RetrieveMethod.MOVE)
        self.method.addItem("C-GET", RetrieveMethod.GET)
        self.method.currentIndexChanged.connect(self._method_changed)
        self.folder = QLineEdit()
        self.folder_button = QPushButton("…")
        self.folder_button.clicked.connect(self._choose_folder)
        self.window = QLineEdit()
        self.window.setPlaceholderText("any time, or e.g. 20:00-06:00")
        self.parallel = QSpinBox()
        self.parallel.setRange(1, 16)
        self.review = QPushButton("Review…")
        self.review.setToolTip("Ask the PACS for each row's studies (C-FIND); nothing is "
                               "fetched before you confirm")
        self.review.setEnabled(False)
        self.review.clicked.connect(self.review_requested)
        self._layout()

    def _layout(self) -> None:
        left = QVBoxLayout()
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.read_button)
        buttons.addStretch(1)
        left.addLayout(buttons)
        left.addWidget(self.paste, 1)
        form = QFormLayout()
        form.addRow("Node", self.node)
        form.addRow("Method", self.method)
        folder = QHBoxLayout()
        folder.addWidget(self.folder, 1)
        folder.addWidget(self.folder_button)
        form.addRow("Folder", folder)
        form.addRow("Window", self.window)
        form.addRow("At once", self.parallel)
        right = QVBoxLayout()
        right.addWidget(self.columns)
        right.addLayout(form)
        right.addStretch(1)
        top = QHBoxLayout()
        top.addLayout(left, 3)
        top.addLayout(right, 2)
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(self.review, 0, Qt.AlignmentFlag.AlignBottom)
        column = QVBoxLayout(self)
        column.addLayout(top, 1)
        column.addLayout(bottom)

    def _columns_box(self) -> QGroupBox:
        """A role per row, each with the column it is read from (shown for a table)."""
        box = QGroupBox("Columns")
        grid = QGridLayout(box)
        grid.setVerticalSpacing(2)
        for row, keyword in enumerate(KEYS):
            combo = QComboBox()
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
            combo.activated.connect(lambda _i: self.columns_changed.emit())
            grid.addWidget(QLabel(_ROLE_WORDS[keyword]), row, 0)
            grid.addWidget(combo, row, 1)
            self.roles[keyword] = combo
        box.setVisible(False)
        return box

    # -- what the place sets -----------------------------------------------------------
    def set_nodes(self, nodes: list[RemoteNode], current: RemoteNode | None) -> None:
        """The configured nodes; *current* selected, with its method, window and limit."""
        self.node.clear()
        for node in nodes:
            self.node.addItem(node.name, node)
        if current is not None:
            self.node.setCurrentIndex(max(0, self.node.findText(current.name)))
            self.method.setCurrentIndex(max(0, self.method.findData(current.retrieve_method)))
            self.window.setText(current.availability_window)
            self.parallel.setValue(current.max_parallel_retrieves or 2)

    def show_input(self, batch: BatchInput) -> None:
        """What was read: the columns and their roles (for a table), the rows, warnings."""
        self.columns.setVisible(bool(batch.headers))
        for keyword, combo in self.roles.items():
            combo.clear()
            combo.addItems([NOT_USED, *batch.headers])
            combo.setCurrentText(batch.mapping.get(keyword, NOT_USED))
        rows = f"{len(batch.items)} row(s) read from {batch.source}"
        self.message.setText("\n".join((rows, *batch.warnings)))
        self.message.setStyleSheet("")
        self.review.setEnabled(True)

    def show_error(self, text: str, headers: tuple[str, ...] = ()) -> None:
        """The input cannot be used (a bad date, no identifier column): nothing starts.
        A table's *headers*, when no column was taken for an identifier, are offered
        to be named by hand."""
        if headers:
            self.columns.setVisible(True)
            for combo in self.roles.values():
                combo.clear()
                combo.addItems([NOT_USED, *headers])
        self.message.setText(text)
        self.message.setStyleSheet("color: #b3261e;")
        self.review.setEnabled(False)

    def mapping(self) -> dict[str, str]:
        """{DICOM keyword: header} as the combos name them now (a table's only)."""
        if self.columns.isHidden():
            return {}
        return {k: c.currentText() for k, c in self.roles.items()
                if c.currentText() and c.currentText() != NOT_USED}

    def selected_node(self) -> RemoteNode | None:
        node = self.node.currentData()
        return node if isinstance(node, RemoteNode) else None

    def selected_method(self) -> RetrieveMethod:
        return RetrieveMethod(self.method.currentData())

    def set_folder(self, folder: str) -> None:
        self.folder.setText(folder)
        self._method_changed()

    # -- the user's choices --------------------------------------------------------------
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open batch list", "", FILES)
        if path:
            self.open_requested.emit(path)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the batch",
                                                  self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _method_changed(self) -> None:
        """A C-MOVE comes to our listener, which stores in the storage folder: the
        folder is chosen only for a C-GET."""
        by_get = self.method.currentData() == RetrieveMethod.GET
        self.folder.setEnabled(by_get)
        self.folder_button.setEnabled(by_get)
        self.folder.setToolTip("" if by_get else "C-MOVE: the images come to our listener, "
                               "which stores them in the storage folder")
