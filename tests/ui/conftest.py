"""Fixtures for the window tests (their 1024x768 screen: ``qapp_args`` in
tests/conftest.py, since whichever test first makes the application sets it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.window_site import close_window, make_window

from qrscope.ui.main_window import MainWindow


@pytest.fixture
def window(qtbot, qt_loop, tmp_path) -> Iterator[MainWindow]:
    """A first start: no nodes configured, so the built-in demo PACS is used."""
    win = make_window(qtbot, tmp_path)
    yield win
    close_window(qtbot, win)
