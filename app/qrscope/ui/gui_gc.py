"""Cyclic garbage collection on the GUI thread only, while a window is open.

Python's cyclic collector runs in whichever thread happens to allocate when a
generation's threshold is crossed: with qrscope that is often a pynetdicom
or worker thread. A reference cycle that holds a Qt object (a widget, a
signal's closure, a model) is then destroyed on that thread, and Qt crashes
(a segmentation fault in "Garbage-collecting", seen in the window tests).
The usual remedy for PySide and PyQt applications with threads: switch the
automatic collector off while a window exists and collect from a timer on
the GUI thread. Reference counting, which frees most objects, is unaffected.

How long a collection holds the GUI thread grows with the objects it looks
at, and after a 10,000-study search there are about a million (the studies'
identifiers, the association log). A full collection then takes a quarter
of a second, and a middle-generation collection every 2.5 s took up to
75 ms, both far over the 50 ms a window may stall (benchmarks/window.py).
So:

* young collections run every 50 ms when due, so each looks at few
  objects; the objects that survive a few of them are frozen
  (``gc.freeze``), and no young collection looks at them again;
* a full collection, the only one that looks at frozen objects, runs when
  they have grown by a quarter since the last one (CPython's own rule for
  its oldest generation), and only when the window is not busy (no search
  or retrieve running, see :attr:`GuiThreadCollector.busy`), has allocated
  little for a few ticks, and the pointer has rested for
  :data:`INPUT_IDLE_S`; after ten minutes of waiting it runs anyway. With a
  10,000-study search open it takes over half a second: run as soon as the
  search ended, it froze the window just when the user reached for the
  results (a CPU profile of the GUI thread during the window benchmark
  found most of its time there).

Garbage cycles among long-lived objects wait for that full collection, as
they wait for CPython's oldest generation.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QCursor, QGuiApplication

__all__ = ["GuiThreadCollector"]

INTERVAL_MS = 50
YOUNG_BEFORE_FREEZE = 3
"""Young collections an object survives before it is frozen."""
QUIET_ALLOCATIONS = 2000
"""Fewer new objects than this within one interval: the window is idle."""
QUIET_TICKS = 4
"""Idle intervals in a row before a full collection."""
FULL_GROWTH = 0.25
"""Growth of the frozen objects that makes a full collection due."""
MOST_WAIT_S = 600.0
"""A due full collection waits at most this long for an idle moment."""
INPUT_IDLE_S = 10.0
"""The pointer still and no button down for this long: nobody is using the window."""


class GuiThreadCollector(QObject):
    """Owns the cyclic collector while it lives; :meth:`stop` hands it back."""

    _active = 0  # windows that rely on it (tests open several in one process)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        GuiThreadCollector._active += 1
        gc.disable()
        self.busy: Callable[[], bool] = lambda: False
        """Whether the window is working for the user now (the window sets it):
        a full collection waits until it is not."""
        self._long_lived = 0  # objects frozen by the last full collection
        self._grown = 0  # objects frozen since
        self._frozen = gc.get_freeze_count()  # frozen after our last freeze
        self._quiet = 0  # idle intervals in a row
        self._due_since: float | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start()
        self._stopped = False
        self.last_input = time.monotonic()
        """When the pointer last moved or a mouse button was down (seen at each tick).

        Polled rather than filtered: an event filter on the application would
        call into Python for every Qt event, each waiting for the interpreter
        while a search runs."""
        self._pointer = QCursor.pos()

    def _note_input(self) -> None:
        pointer = QCursor.pos()
        if pointer != self._pointer or QGuiApplication.mouseButtons() != Qt.MouseButton.NoButton:
            self.last_input = time.monotonic()
        self._pointer = pointer

    def collect_due(self) -> None:
        """Collect the young objects when their threshold is crossed, and
        everything when a full collection is due and the window idle."""
        self._note_input()
        counts, thresholds = gc.get_count(), gc.get_threshold()
        self._quiet = self._quiet + 1 if counts[0] < QUIET_ALLOCATIONS else 0
        if counts[1] >= YOUNG_BEFORE_FREEZE:
            gc.collect(1)
            # Everything older is frozen: the oldest generation holds just the
            # survivors of this collection, counted as freezing moves them.
            self._grown += self._freeze()
        elif counts[0] > thresholds[0]:
            gc.collect(0)
        if self._full_due():
            self.collect_all()

    def _full_due(self) -> bool:
        if self._grown <= FULL_GROWTH * self._long_lived:
            return False
        now = time.monotonic()
        if self._due_since is None:
            self._due_since = now
        if now - self._due_since > MOST_WAIT_S:
            return True
        return (self._quiet >= QUIET_TICKS and not self.busy()
                and now - self.last_input >= INPUT_IDLE_S)

    def collect_all(self) -> None:
        """A full collection, the frozen objects included."""
        gc.unfreeze()
        gc.collect()
        self._frozen = 0
        self._long_lived = self._freeze()
        self._grown = 0
        self._due_since = None

    def stop(self) -> None:
        """Collect everything once, here, and give the collector back (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._timer.stop()
        gc.unfreeze()
        gc.collect()
        GuiThreadCollector._active -= 1
        if GuiThreadCollector._active == 0:
            gc.enable()

    def _freeze(self) -> int:
        """Freeze every tracked object (``gc.freeze``); how many were newly frozen.

        Counted with ``gc.get_freeze_count``, never with ``gc.get_objects``: a
        list of the objects would hold a reference to each, a tuple that another
        thread is still filling included, and CPython's ``tuple()`` then fails
        to resize it ("SystemError: bad argument to internal function"; it
        killed the demo PACS's server thread in pynetdicom's ``deepcopy``).
        Counted once a freeze, against the count the last one left: the count
        walks every frozen object (a million after a 10,000-study search), and
        two walks a freeze were most of a young collection's time on the GUI
        thread while thumbnails were made (docs/PERFORMANCE.md). Another
        window's collector may have unfrozen meanwhile (tests open several):
        then nothing is counted as new.
        """
        gc.freeze()
        frozen = gc.get_freeze_count()
        newly, self._frozen = max(0, frozen - self._frozen), frozen
        return newly
