"""When the window was first drawn usable, for the launch benchmark (``benchmarks/launch.py``).

With ``QRSCOPE_REPORT_FIRST_PAINT=FILE`` set, the window writes to FILE the
monotonic clock (``CLOCK_MONOTONIC``, comparable between processes on Linux)
at two paints: the first of any part of the window (``first_paint``), and the
first of the node list once it has a node in it (``usable``: the user can
pick a node and search). Then it closes the way the user's close does, so
the demo PACS's samples and the profiles are cleaned up and saved as after a
real session. Without the variable nothing is installed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QListWidget, QWidget

__all__ = ["ENV", "FirstPaintReport", "report_first_paint"]

ENV = "QRSCOPE_REPORT_FIRST_PAINT"


class FirstPaintReport(QObject):
    """Watches the paints of *window* (application-wide filter) until *nodes* is drawn
    with rows, then writes the times to *path* and closes the window."""

    def __init__(self, window: QWidget, nodes: QListWidget, path: Path) -> None:
        super().__init__(window)
        self.window = window
        self.nodes = nodes
        self.path = path
        self.times: dict[str, float] = {}
        QApplication.instance().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and isinstance(watched, QWidget) \
                and watched.window() is self.window:
            now = time.clock_gettime(time.CLOCK_MONOTONIC)
            self.times.setdefault("first_paint", now)
            if watched is self.nodes.viewport() and self.nodes.count() > 0:
                self.times["usable"] = now
                QApplication.instance().removeEventFilter(self)
                self.path.write_text(json.dumps(self.times), encoding="utf-8")
                # After this paint is flushed to the screen, as the user's close.
                QTimer.singleShot(0, self.window.close)
        return False


def report_first_paint(window: QWidget, nodes: QListWidget) -> FirstPaintReport | None:
    """Install the report when ``QRSCOPE_REPORT_FIRST_PAINT`` names a file."""
    path = os.environ.get(ENV)
    return FirstPaintReport(window, nodes, Path(path)) if path else None
