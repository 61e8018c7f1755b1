"""Cyclic garbage collection on the GUI thread only, while a window is open.

Python's cyclic collector runs in whichever thread happens to allocate when a
generation's threshold is crossed: with qrscope that is often a pynetdicom
or worker thread. A reference cycle that holds a Qt object (a widget, a
signal's closure, a model) is then destroyed on that thread, and Qt crashes
(a segmentation fault in "Garbage-collecting", seen in the window tests).
The usual remedy for PySide and PyQt applications with threads: switch the
automatic collector off while a window exists and collect from a timer on
the GUI thread, generation by generation, as the automatic collector would
have. Reference counting, which frees most objects, is unaffected.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

__all__ = ["GuiThreadCollector"]

INTERVAL_MS = 250


class GuiThreadCollector(QObject):
    """Owns the cyclic collector while it lives; :meth:`stop` hands it back."""

    _active = 0  # windows that rely on it (tests open several in one process)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        GuiThreadCollector._active += 1
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start()
        self._stopped = False

    def collect_due(self) -> None:
        """Collect the generations whose thresholds the allocations since have crossed."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        generation = -1
        for number in range(3):
            if counts[number] > thresholds[number]:
                generation = number
        if generation >= 0:
            gc.collect(generation)

    def stop(self) -> None:
        """Collect everything once, here, and give the collector back (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._timer.stop()
        gc.collect()
        GuiThreadCollector._active -= 1
        if GuiThreadCollector._active == 0:
            gc.enable()
