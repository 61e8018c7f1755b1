"""The batch view's review: each row resolved (C-FIND) before anything is fetched.

While the rows are resolved a bar counts them and Cancel stops; then the
counts per status and "Retrieve N studies", or Back to the list. Rows that
will not be fetched (not found, ambiguous) say so, with the studies an
ambiguous one matched in its tooltip; a found one whose studies are all on
disk already says so too.
"""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from qrscope.core.batch.items import ItemProgress, ItemStatus
from qrscope.ui.batch.models import ItemsModel, status_words

__all__ = ["ReviewPage", "studies_to_fetch"]


def studies_to_fetch(items: list[ItemProgress]) -> int:
    """Studies the run will ask for: those of found rows (ambiguous ones are not fetched)."""
    return sum(len(p.studies) for p in items if p.status is ItemStatus.FOUND)


class ReviewPage(QWidget):
    """Signals: ``back_requested()``, ``confirmed()``, ``cancel_requested()``."""

    back_requested = Signal()
    confirmed = Signal()
    cancel_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.model = ItemsModel(self)
        self.title = QLabel()
        self.bar = QProgressBar()
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self.cancel_requested)
        self.counts = QLabel()
        self.counts.setWordWrap(True)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.back = QPushButton("Back")
        self.back.clicked.connect(self.back_requested)
        self.retrieve = QPushButton("Retrieve")
        self.retrieve.setDefault(True)
        self.retrieve.clicked.connect(self.confirmed)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.bar)
        top.addWidget(self.cancel)
        bottom = QHBoxLayout()
        bottom.addWidget(self.counts, 1)
        bottom.addWidget(self.back)
        bottom.addWidget(self.retrieve)
        column = QVBoxLayout(self)
        column.addLayout(top)
        column.addWidget(self.table, 1)
        column.addLayout(bottom)

    def start(self, total: int, node: str) -> None:
        """Resolving *total* rows against *node*: the bar counts them."""
        self.model.reset([])
        self.total = total
        self.title.setText(f"Asking {node} for the studies of {total} row(s)…")
        self.bar.setRange(0, total)
        self.bar.setValue(0)
        self.bar.show()
        self.cancel.show()
        self.retrieve.setEnabled(False)
        self.counts.setText("")

    def add(self, progress: ItemProgress) -> None:
        self.model.put(progress)
        self.bar.setValue(len(self.model.rows))
        self._count()
        if len(self.model.rows) == 1:
            self._fit_columns()

    def ended(self, why: str, node: str) -> None:
        """Resolving ended: completely ('') or not (*why*); the user may confirm."""
        self.bar.hide()
        self.cancel.hide()
        self._fit_columns()
        done = len(self.model.rows)
        self.title.setText(f"{done} of {self.total} row(s) resolved on {node}"
                           + (f": stopped, {why}" if why else ""))
        studies = studies_to_fetch(self.model.rows)
        self.retrieve.setText(f"Retrieve {studies} stud{'y' if studies == 1 else 'ies'}")
        self.retrieve.setEnabled(not why and studies > 0)
        self._count()

    def _fit_columns(self) -> None:
        """Every column but the reason to its contents; the reason (last, stretched) takes
        the rest. Sizing it to its contents too would leave a band of empty grid on a
        wide screen."""
        for column in range(self.model.columnCount() - 1):
            self.table.resizeColumnToContents(column)

    def _count(self) -> None:
        numbers = Counter(status_words(p) for p in self.model.rows)
        instances = sum(p.expected or 0 for p in self.model.rows
                        if p.status is ItemStatus.FOUND)
        self.counts.setText(", ".join(f"{n} {words}" for words, n in numbers.items())
                            + (f"; {instances} instances" if instances else ""))
