"""The window on its screen: the size a first start takes, and whether a saved place fits."""

from __future__ import annotations

from PySide6.QtCore import QMargins, QPoint, QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

__all__ = ["NATURAL_SIZE", "fits_a_screen", "fitted_geometry"]

NATURAL_SIZE = QSize(1400, 900)
"""The first window's size where the screen has room: results, nodes and jobs
side by side without scrolling. A smaller screen gets the window at its size."""


def fitted_geometry(natural: QSize, available: QRect,
                    frame: QMargins | None = None) -> QRect:
    """The window's geometry (inside its frame) on a screen whose free area is *available*.

    As large as *natural* where the screen has room, never larger than the
    screen (its frame included), centred in the free area: on a 1024x768
    screen the window is the screen, with every button on it.
    """
    frame = frame or QMargins()
    extra = QSize(frame.left() + frame.right(), frame.top() + frame.bottom())
    outer = (natural + extra).boundedTo(available.size())
    corner = available.topLeft() + QPoint((available.width() - outer.width()) // 2,
                                          (available.height() - outer.height()) // 2)
    return QRect(corner + QPoint(frame.left(), frame.top()), outer - extra)


def fits_a_screen(frame: object) -> bool:
    """A saved window, frame and all, lies within the free area of a screen there now.

    Qt's own restore squeezes a window saved on a larger screen to a size of
    its own, and a window saved before its frame was recorded is not known
    to fit: both open fitted to the screen instead.
    """
    if not isinstance(frame, QRect):
        return False
    screen = QGuiApplication.screenAt(frame.center())
    return screen is not None and screen.availableGeometry().contains(frame)


def fit_dialog(dialog: QWidget, natural: QSize) -> None:
    """Size *dialog* as *natural* where its screen has room, never past the screen's
    free area (a 1024x768 screen keeps a 900-pixel-wide dialog whole)."""
    screen = dialog.screen() or QGuiApplication.primaryScreen()
    available = screen.availableGeometry() if screen is not None else QRect(0, 0, 1024, 768)
    dialog.resize(natural.boundedTo(available.size()))
