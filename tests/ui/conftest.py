"""Fixtures for the window tests, on a 1024x768 screen.

The window tests run on Qt's offscreen platform, whose one screen is 800x800
unless a configuration file says otherwise: its plugin reads the screens from
the JSON file named by ``-platform offscreen:configfile=FILE`` (Qt 6,
qoffscreenintegration.cpp). Its screen here is the smallest the window is
made for, 1024x768, so every test sees what a user of such a screen sees
without resizing the window itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from tests.window_site import close_window, make_window

from qrscope.ui.main_window import MainWindow

SCREEN = (1024, 768)


@pytest.fixture(scope="session")
def qapp_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Offscreen: the screen above; another platform (Xvfb, a desktop): its own."""
    if os.environ.get("QT_QPA_PLATFORM", "offscreen") != "offscreen":
        return ["qrscope-tests"]
    width, height = SCREEN
    screen = {"name": "tests", "x": 0, "y": 0, "width": width, "height": height,
              "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
    config = tmp_path_factory.mktemp("qt") / "screens.json"
    # Xvfb without a window manager: no frame around the window.
    config.write_text(json.dumps({"screens": [screen], "windowFrameMargins": False}),
                      encoding="utf-8")
    return ["qrscope-tests", "-platform", f"offscreen:configfile={config}"]


@pytest.fixture
def window(qtbot, qt_loop, tmp_path) -> Iterator[MainWindow]:
    """A first start: no nodes configured, so the built-in demo PACS is used."""
    win = make_window(qtbot, tmp_path)
    yield win
    close_window(qtbot, win)
