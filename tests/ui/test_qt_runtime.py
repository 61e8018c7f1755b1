"""The Qt binding and the garbage collector as the window relies on them."""

from __future__ import annotations

import gc
import sys
import time

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


class _Node:
    """An object that can sit in a reference cycle and be watched with a weak reference."""

    def __init__(self) -> None:
        self.other: _Node | None = None


def test_long_lived_cycles_are_collected_once_the_window_is_quiet(qapp):
    """Young collections leave long-lived objects alone (they are frozen); a
    full collection finds their cycles when the window has nothing to do."""
    import weakref

    from qrscope.ui import gui_gc

    collector = GuiThreadCollector()
    try:
        collector.collect_all()  # everything so far is long-lived
        first, second = _Node(), _Node()
        first.other, second.other = second, first
        gone = weakref.ref(first)
        grown = [[] for _ in range(max(collector._long_lived, 1000))]  # new long-lived objects
        for _ in range(gc.get_threshold()[1] + 1):
            gc.collect(0)
        collector.collect_due()  # the middle generation: its survivors are frozen
        del first, second
        gc.collect(1)
        assert gone() is not None  # no young collection looks at frozen objects
        for _ in range(gui_gc.QUIET_TICKS):
            collector.collect_due()
        assert gone() is not None, "the user touched the window just now: not yet"
        collector.last_input -= gui_gc.INPUT_IDLE_S  # nobody touched it since
        for _ in range(gui_gc.QUIET_TICKS):
            collector.collect_due()
        assert gone() is None
        del grown
    finally:
        collector.stop()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_moving_pointer_puts_off_the_full_collection(qapp):
    from PySide6.QtCore import QPoint

    from qrscope.ui import gui_gc

    collector = GuiThreadCollector()
    try:
        collector.last_input -= 2 * gui_gc.INPUT_IDLE_S
        still = collector.last_input
        collector.collect_due()
        assert collector.last_input == still  # the pointer rested
        collector._pointer = collector._pointer + QPoint(5, 5)  # it was elsewhere a tick ago
        collector.collect_due()
        assert collector.last_input > still + gui_gc.INPUT_IDLE_S
    finally:
        collector.stop()


def test_the_collector_never_breaks_a_tuple_another_thread_is_building(qapp):
    """Counting the oldest generation with gc.get_objects() held a reference to
    every object in it, tuples that another thread was still filling included:
    CPython's tuple() then failed to resize one ("SystemError: bad argument to
    internal function"), as in pynetdicom's deepcopy of the demo PACS's
    contexts during a window test."""
    import threading

    from qrscope.ui import gui_gc

    failures: list[BaseException] = []
    stop = threading.Event()

    def build_tuples() -> None:
        def slowly():
            for item in range(50):
                time.sleep(0)  # let the GUI thread's collector run in between
                yield item

        while not stop.is_set():
            try:
                tuple(slowly())
            except SystemError as exc:
                failures.append(exc)
                return

    collector = GuiThreadCollector()
    builder = threading.Thread(target=build_tuples, daemon=True)
    builder.start()
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and not failures:
            for _ in range(gui_gc.YOUNG_BEFORE_FREEZE + 1):
                gc.collect(0)
            collector.collect_due()  # collects the middle generation, freezes survivors
            collector.collect_all()
    finally:
        stop.set()
        builder.join(5)
        collector.stop()
    assert failures == []


def test_a_young_freeze_counts_the_frozen_objects_once(qapp, monkeypatch):
    """Counting frozen objects walks all of them (a million after a large search): a
    young collection's freeze counts once, not before and after, and still counts
    the new long-lived objects, so the full collection comes when they have grown."""
    from qrscope.ui import gui_gc

    collector = GuiThreadCollector()
    try:
        collector.collect_all()
        walks = []
        counter = gc.get_freeze_count
        monkeypatch.setattr(gc, "get_freeze_count", lambda: walks.append(1) or counter())
        grown = [[] for _ in range(5000)]  # new long-lived objects
        for _ in range(gui_gc.YOUNG_BEFORE_FREEZE + 1):
            gc.collect(0)
        collector.collect_due()
        assert len(walks) == 1
        assert collector._grown >= len(grown)
    finally:
        monkeypatch.undo()
        collector.stop()
