"""The Qt binding and the garbage collector as the window relies on them."""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, Signal

from qrscope.ui.gui_gc import GuiThreadCollector

EMITS = 2000


class _Emitter(QObject):
    flag = Signal(bool)


def test_emitting_a_bool_signal_keeps_the_reference_count_of_true(qapp):
    # PySide6 6.12.0 released a reference to True on every emit it never took:
    # the window aborted once True's count ran out ("bool_dealloc").
    emitter = _Emitter()
    seen: list[bool] = []
    emitter.flag.connect(seen.append)
    emitter.flag.emit(True)  # whatever the first emit sets up
    seen.clear()
    gc.collect()
    before = sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(EMITS):
        emitter.flag.emit(True)
        emitter.flag.emit(False)
    seen.clear()
    gc.collect()
    after = sys.getrefcount(True), sys.getrefcount(False)
    # Other objects come and go meanwhile; the defect loses one per emit.
    assert after[0] > before[0] - EMITS // 10 and after[1] > before[1] - EMITS // 10


def test_cyclic_collection_runs_on_the_gui_thread_while_a_window_lives(qapp):
    assert gc.isenabled()
    collector = GuiThreadCollector()
    try:
        assert not gc.isenabled()  # no collection on whichever thread allocates
        for _ in range(gc.get_threshold()[0] + 10):
            cycle: list = []
            cycle.append(cycle)
        collector.collect_due()
        assert gc.get_count()[0] < gc.get_threshold()[0]
    finally:
        collector.stop()
    assert gc.isenabled()
