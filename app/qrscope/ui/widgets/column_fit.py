"""Columns as wide as their cells' text, measured without asking Qt for every role.

Qt's ``resizeColumnsToContents`` asks the model for seven roles of every
cell it measures: it held the GUI thread for 45 ms on 200 studies and 0.6 s
on 1000 in the search results (benchmarks/window.py --profile), and 50 ms
of the Local view's first open (benchmarks/thumbnails.py). Measuring the
cells' display text with the view's font metrics gives the same widths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QTableView

__all__ = ["MAX_COLUMN_WIDTH", "UID_COLUMN_WIDTH", "FittedModel", "fit_columns"]

MAX_COLUMN_WIDTH = 320
UID_COLUMN_WIDTH = 160


class _Keyed(Protocol):
    key: str


class FittedModel(Protocol):
    """What :func:`fit_columns` reads: the columns (by key) and each cell's text."""

    @property
    def columns(self) -> Sequence[_Keyed]: ...

    def rowCount(self, parent: object = ...) -> int: ...

    def columnCount(self, parent: object = ...) -> int: ...

    def cell_text(self, row: int, column: int) -> str: ...


def fit_columns(view: QTableView, model: FittedModel, sample_rows: int,
                max_width: int = MAX_COLUMN_WIDTH) -> None:
    """Each column as wide as its contents (UIDs and long texts capped; the
    tooltip has the whole value), so short columns leave room for long ones.

    Measured on *sample_rows* rows from the top of the view, as Qt's
    ``resizeColumnsToContents`` would with that precision, but from the
    cells' text.
    """
    header = view.horizontalHeader()
    metrics = QFontMetricsF(view.font())
    top = max(0, view.rowAt(0))
    rows = range(top, min(model.rowCount(), top + sample_rows))
    # A pixel more than Qt's own measure: its layout rounds text widths in
    # 1/64ths of a pixel, which can end a pixel above ours.
    padding = _cell_padding(view, model, top) + 1 if rows else 0
    for number, column in enumerate(model.columns):
        texts = {model.cell_text(row, number) for row in rows}
        widest = max((math.ceil(metrics.horizontalAdvance(t)) for t in texts), default=-1)
        width = max(widest + padding if rows else 0, header.sectionSizeHint(number))
        cap = UID_COLUMN_WIDTH if column.key.endswith("uid") else max_width
        view.setColumnWidth(number, min(width, cap))


def _cell_padding(view: QTableView, model: FittedModel, row: int) -> int:
    """What the style adds to a cell's text width: Qt's measure of one cell
    (the top row's widest text) less the text's own width."""
    metrics = QFontMetricsF(view.font())
    widths = [math.ceil(metrics.horizontalAdvance(model.cell_text(row, c)))
              for c in range(model.columnCount())]
    column = max(range(len(widths)), key=widths.__getitem__)
    header = view.horizontalHeader()
    precision = header.resizeContentsPrecision()
    header.setResizeContentsPrecision(1)
    try:
        return view.sizeHintForColumn(column) - widths[column]
    finally:
        header.setResizeContentsPrecision(precision)
