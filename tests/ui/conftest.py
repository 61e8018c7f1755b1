"""The real window, offscreen, on a qasync loop, with its own profiles, settings and ports."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import qasync
from PySide6.QtCore import QSettings
from tests.demo_site import free_port

from qrscope.core.profile_store import Profiles, ProfileStore
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.ui.app import build_window
from qrscope.ui.main_window import MainWindow


@pytest.fixture
def qt_loop(qapp) -> Iterator[asyncio.AbstractEventLoop]:
    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()  # now, while its Qt objects exist; at exit they are gone


def make_window(qtbot, tmp_path: Path, nodes: list[RemoteNode] | None = None,
                listener_port: int | None = None) -> MainWindow:
    store = ProfileStore(tmp_path / "profiles.json")
    local = LocalAE(listener_port=listener_port or free_port(), bind_address="127.0.0.1",
                    storage_folder=tmp_path / "received")
    store.save(Profiles(local=local, nodes=list(nodes or [])))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = build_window(store, settings)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def window(qtbot, qt_loop, tmp_path) -> Iterator[MainWindow]:
    """A first start: no nodes configured, so the built-in demo PACS is used."""
    win = make_window(qtbot, tmp_path)
    yield win
    win.close()
