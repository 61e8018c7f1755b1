"""The Local view's parts put together for the window: view, commands, viewers.

The window holds one :class:`LocalPlace`, shows :attr:`LocalPlace.view` in
its "Local archive" tab and connects :attr:`LocalPlace.commands`'
``send_requested`` to its job queue; everything else of the Local view
lives here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QStackedWidget, QTabBar

from qrscope.core.profiles import RemoteNode
from qrscope.session import Session
from qrscope.ui.bridge import CoreBridge
from qrscope.ui.local.commands import LocalCommands
from qrscope.ui.local.view import LocalView

__all__ = ["LocalPlace"]


class LocalPlace(QObject):
    def __init__(self, bridge: CoreBridge, session: Session,
                 current_node: Callable[[], RemoteNode | None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.view = LocalView(bridge, self.storage)
        self.commands = LocalCommands(self.view, bridge, lambda: list(session.profiles.nodes),
                                      current_node)
        self.viewers: list[Any] = []
        """The viewer windows open now (closed ones leave the list)."""

    @staticmethod
    def place_tabs(places: QStackedWidget) -> QTabBar:
        """The switch between the PACS search and the local archive, pages of *places*."""
        tabs = QTabBar()
        tabs.setDrawBase(False)
        tabs.setExpanding(False)
        for text, tip in (("PACS search", "Search the selected node (Ctrl+1)"),
                          ("Local archive", "What this computer holds: look at it, send it "
                                            "on, delete it (Ctrl+2)")):
            tabs.setTabToolTip(tabs.addTab(text), tip)
        tabs.currentChanged.connect(places.setCurrentIndex)
        return tabs

    def storage(self) -> Path:
        """The archive the view shows: the storage folder as the settings say now."""
        return Path(self.session.local.storage_folder)
