"""A table view over a model written in Python, painted in one hold of the interpreter lock.

Qt calls a Python model's ``data()`` for several roles of every visible
cell, and its ``rowCount``/``columnCount`` for every index: a repaint of
the association log makes about 440 calls into Python. From Qt's event
loop, which runs without the interpreter lock, each call takes the lock on
its own, and while a large search or retrieve runs, other threads hold it
(decoding responses, filing instances): each hand-over can wait the whole
switch interval (5 ms). Once the results tables painted without Python, the
log's repaints were what remained in each late turn of a 10,000-study
search: about 440 calls, 50-190 ms (benchmarks/window.py --calls).

Here the paint enters Python once: ``paintEvent`` is a Python method, and
Qt's painting runs inside it, so the model's calls find the lock already
held. (The results tables go further and keep their cells on Qt's side,
``models/results_model.py``; the log and the jobs keep Python models, the
log because it may hold 200,000 events.)
"""

from __future__ import annotations

from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QTableView

__all__ = ["PythonModelView"]


class PythonModelView(QTableView):
    """A ``QTableView`` whose painting calls its Python model with the lock held."""

    def paintEvent(self, event: QPaintEvent) -> None:
        """Paint as ``QTableView`` does, from within Python (see the module)."""
        super().paintEvent(event)
