"""Our listener is bound and stopped off the GUI thread: the window goes on meanwhile.

Each test makes the core's start or stop wait until the GUI thread's own
timer has fired a few times; had the start or stop run on the GUI thread,
the timer could not fire and the wait would end unreleased.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt, QTimer
from tests.window_site import close_window, make_window

from qrscope.core.dicom.records import QueryLevel
from qrscope.core.jobs import JobState
from qrscope.core.profiles import RemoteNode, RetrieveMethod
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.ui.bridge import CoreBridge
from qrscope.ui.controllers.listener import ListenerControl

TICKS = 3
"""Timer events the GUI thread must run while the core waits."""
RELEASE_TIMEOUT = 10.0
"""Only so that a frozen GUI ends the test instead of hanging it."""


class GuiHeartbeat:
    """A QTimer on the GUI thread that releases the core's wait after TICKS ticks."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.ticks_while_waiting = 0
        self.timer = QTimer(interval=10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        if self.entered.is_set() and not self.released.is_set():
            self.ticks_while_waiting += 1
            if self.ticks_while_waiting >= TICKS:
                self.released.set()

    def slowed(self, real: Callable[[StorageListener], None]
               ) -> Callable[[StorageListener], None]:
        """*real*, waiting first until the GUI thread's timer has fired TICKS times."""
        def slow(listener: StorageListener) -> None:
            self.entered.set()
            self.released.wait(RELEASE_TIMEOUT)
            real(listener)

        return slow


@pytest.fixture
def heartbeat(qapp) -> Iterator[GuiHeartbeat]:
    beat = GuiHeartbeat()
    yield beat
    beat.timer.stop()


def test_starting_the_listener_leaves_the_window_running(qtbot, window, monkeypatch,
                                                        heartbeat):
    button = window.jobs.listener_button
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # stop
    qtbot.waitUntil(lambda: "stopped" in window.jobs.listener_label.text(), timeout=5000)
    monkeypatch.setattr(StorageListener, "start", heartbeat.slowed(StorageListener.start))
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # start, slowly
    qtbot.waitUntil(heartbeat.entered.is_set, timeout=10000)
    assert "starting…" in window.jobs.listener_label.text()
    assert not button.isEnabled()
    qtbot.waitUntil(lambda: "running" in window.jobs.listener_label.text(), timeout=15000)
    assert heartbeat.ticks_while_waiting >= TICKS, "the GUI thread waited for the bind"
    assert window.session.listener.is_running and button.isEnabled()


def test_new_local_settings_restart_the_listener_off_the_gui_thread(qtbot, window,
                                                                   monkeypatch, heartbeat):
    assert window.session.listener.is_running
    monkeypatch.setattr(StorageListener, "stop", heartbeat.slowed(StorageListener.stop))
    new_title = replace(window.session.local, ae_title="ELSEWHERE")
    applied = window.apply_local(new_title)
    qtbot.waitUntil(heartbeat.entered.is_set, timeout=10000)
    qtbot.waitUntil(applied.done, timeout=15000)
    assert applied.result()
    assert heartbeat.ticks_while_waiting >= TICKS, "the GUI thread waited for the stop"
    assert window.session.listener.is_running
    qtbot.waitUntil(lambda: "ELSEWHERE" in window.jobs.listener_label.text()
                    and "running" in window.jobs.listener_label.text(), timeout=5000)


def test_closing_stops_the_listener_without_freezing_the_window(qtbot, qt_loop, tmp_path,
                                                               monkeypatch, heartbeat):
    window = make_window(qtbot, tmp_path)
    listener = window.session.listener
    monkeypatch.setattr(StorageListener, "stop", heartbeat.slowed(StorageListener.stop))
    window.close()
    qtbot.waitUntil(heartbeat.entered.is_set, timeout=10000)
    assert window.isVisible() and not window.ended  # still stopping
    close_window(qtbot, window)
    assert heartbeat.ticks_while_waiting >= TICKS, "the GUI thread waited for the stop"
    assert not listener.is_running


def test_a_move_job_starts_the_listener_in_its_own_thread(qtbot, qt_loop, tmp_path,
                                                         monkeypatch):
    """A C-MOVE queued from the window needs our listener; when it is not running
    (its port was busy at start), the job's thread starts it, not the GUI's, and
    the window hears of it on its own thread."""
    import socket

    started_on: list[threading.Thread] = []
    status_on: list[threading.Thread] = []
    real_start = StorageListener.start
    real_status = ListenerControl.update_status

    def start(listener: StorageListener) -> None:
        started_on.append(threading.current_thread())
        real_start(listener)

    def update_status(control: ListenerControl) -> None:
        status_on.append(threading.current_thread())
        real_status(control)

    node = RemoteNode(name="Nowhere", ae_title="NOWHERE", host="127.0.0.1", port=1)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        window = make_window(qtbot, tmp_path, nodes=[node], listener_port=port)
    try:
        assert "error" in window.jobs.listener_label.text()
        monkeypatch.setattr(StorageListener, "start", start)
        monkeypatch.setattr(ListenerControl, "update_status", update_status)
        row = window.retrieves.submit(node, RetrieveScope(QueryLevel.STUDY, "1.2.3"),
                                      RetrieveMethod.MOVE)
        qtbot.waitUntil(lambda: row.job_state.is_final, timeout=30000)
        assert started_on and threading.main_thread() not in started_on
        assert window.session.listener.is_running
        qtbot.waitUntil(lambda: "running" in window.jobs.listener_label.text(), timeout=5000)
        assert set(status_on) == {threading.main_thread()}
        assert row.job_state is JobState.FAILED  # nothing listens at the node's port
        assert "not started" not in row.why
    finally:
        close_window(qtbot, window)


def test_the_bridge_never_binds_the_listener_on_the_gui_thread(qtbot, window):
    bridge: CoreBridge = window.bridge
    with pytest.raises(RuntimeError, match="GUI thread"):
        bridge.start_listener_here()
