"""The real window, offscreen, with its own profiles, settings and ports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt

from qrscope.core.dicom.records import QueryLevel
from qrscope.core.profile_store import Profiles, ProfileStore
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.ui.app import build_window
from qrscope.ui.main_window import MainWindow
from tests.demo_site import free_port


def make_window(qtbot, tmp_path: Path, nodes: list[RemoteNode] | None = None,
                listener_port: int | None = None, **settings: Any) -> MainWindow:
    """The window with *nodes*, our listener on *listener_port* (a free one if None),
    and any other of This workstation's *settings* (LocalAE fields)."""
    store = ProfileStore(tmp_path / "profiles.json")
    local = LocalAE(listener_port=listener_port or free_port(), bind_address="127.0.0.1",
                    storage_folder=tmp_path / "received", **settings)
    store.save(Profiles(local=local, nodes=list(nodes or [])))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = build_window(store, settings)
    # pytest-qt closes and deletes the widgets it knows before the fixtures end;
    # the window's close waits for its listener to stop in a worker, so it is
    # closed the user's way first, while the event loop still runs.
    qtbot.addWidget(window, before_close_func=lambda w: close_window(qtbot, w))
    window.show()
    wait_until_started(qtbot, window)
    return window


def wait_until_started(qtbot, window: MainWindow) -> None:
    """The listener and the demo PACS start in workers: wait until both have."""
    qtbot.waitUntil(lambda: not window.demo_switching
                    and window.listener.state not in ("starting", "stopping"), timeout=10000)


def use_fault(qtbot, window: MainWindow, fault: str | None) -> None:
    """Pick a fault in the Demo menu and wait until the demo PACS has restarted."""
    window.fault_actions[fault].trigger()
    qtbot.waitUntil(lambda: not window.demo_switching, timeout=10000)


def search_studies(qtbot, window: MainWindow) -> None:
    """Press Search and wait until the study search has ended."""
    form = window.search.form
    qtbot.mouseClick(form.search, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: form.search.isEnabled() and "stud" in window.search.count.text()
                    and "so far" not in window.search.count.text(), timeout=20000)


def retrieve_first_study(qtbot, window: MainWindow, method: str):
    """Retrieve the first study listed; wait for the job's outcome and return its row."""
    window.search.views[QueryLevel.STUDY].selectRow(0)
    window.search.retrieve_selection(method)
    rows = window.jobs.model.rows
    qtbot.waitUntil(lambda: rows and rows[-1].outcome is not None, timeout=30000)
    return rows[-1]


def close_window(qtbot, window: MainWindow) -> None:
    """Close the window as the user does, answering "Quit" if it asks (jobs unfinished)."""
    from PySide6.QtWidgets import QMessageBox

    window.close()
    box = window.question
    if window.isVisible() and isinstance(box, QMessageBox) and box.isVisible():
        quit_button = next(b for b in box.buttons() if b.text() == "Quit")
        qtbot.mouseClick(quit_button, Qt.MouseButton.LeftButton)
    # The listener stops in a worker; the window closes when it has.
    qtbot.waitUntil(lambda: window.ended and not window.isVisible(), timeout=10000)
