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

from PySide6.QtCore import QObject, QSize, Qt
from PySide6.QtWidgets import QStackedWidget, QTabBar

from qrscope.core.profiles import RemoteNode
from qrscope.session import Session
from qrscope.ui.bridge import CoreBridge, spawn
from qrscope.ui.local.commands import LocalCommands
from qrscope.ui.local.thumbs import ThumbnailLoader
from qrscope.ui.local.view import THUMB_SIZE, LocalView
from qrscope.ui.local.viewer import ViewerDialog

__all__ = ["LocalPlace"]


class CurrentPageStack(QStackedWidget):
    """The window's places (PACS search, local archive, batches), sized by the page shown.

    A plain QStackedWidget asks for the largest minimum of all its pages: the
    batch run page's would then keep the jobs dock from growing while the
    PACS search is shown, on a 1024x768 screen.
    """

    def sizeHint(self) -> QSize:
        page = self.currentWidget()
        return page.sizeHint() if page is not None else super().sizeHint()

    def minimumSizeHint(self) -> QSize:
        page = self.currentWidget()
        return page.minimumSizeHint() if page is not None else super().minimumSizeHint()


class LocalPlace(QObject):
    def __init__(self, bridge: CoreBridge, session: Session,
                 current_node: Callable[[], RemoteNode | None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.view = LocalView(bridge, self.storage)
        self.commands = LocalCommands(self.view, bridge, lambda: list(session.profiles.nodes),
                                      current_node)
        self.bridge = bridge
        self.thumbnails = ThumbnailLoader(bridge, self.view.models["series"], self.storage,
                                          THUMB_SIZE)
        self.viewers: list[ViewerDialog] = []
        """The viewer windows open now (closed ones leave the list)."""
        self.view.series_opened.connect(self.open_viewer)
        self.commands.deleted.connect(self._deleted)

    def open_viewer(self, series: dict[str, Any]) -> None:
        """A viewer of *series*, once its instances are read (in the archive worker)."""
        spawn(self._open_viewer(series))

    async def _open_viewer(self, series: dict[str, Any]) -> None:
        instances = await self.bridge.series_instances(self.storage(), series["series_uid"])
        if not instances:
            self.view.status.emit("That series is no longer on this computer")
            return
        viewer = ViewerDialog(self.bridge, series, instances, self.view.window())
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.finished.connect(lambda _r, v=viewer: self._closed(v))
        self.viewers.append(viewer)
        viewer.show()

    def _closed(self, viewer: ViewerDialog) -> None:
        if viewer in self.viewers:
            self.viewers.remove(viewer)

    def _deleted(self, series_uids: set[str]) -> None:
        """A viewer of a deleted series shows files that are gone: it closes."""
        for viewer in list(self.viewers):
            if viewer.series["series_uid"] in series_uids:
                viewer.close()
                self._closed(viewer)

    @staticmethod
    def place_tabs(places: QStackedWidget) -> QTabBar:
        """The switch between the PACS search, the local archive and the batches, pages
        of *places*."""
        tabs = QTabBar()
        tabs.setDrawBase(False)
        tabs.setExpanding(False)
        for text, tip in (("PACS search", "Search the selected node (Ctrl+1)"),
                          ("Local archive", "What this computer holds: look at it, send it "
                                            "on, delete it (Ctrl+2)"),
                          ("Batches", "Retrieve a list of studies (a spreadsheet, pasted "
                                      "accession numbers), reviewed first (Ctrl+3)")):
            tabs.setTabToolTip(tabs.addTab(text), tip)
        tabs.currentChanged.connect(places.setCurrentIndex)
        tabs.currentChanged.connect(lambda _index: places.updateGeometry())
        return tabs

    def storage(self) -> Path:
        """The archive the view shows: the storage folder as the settings say now."""
        return Path(self.session.local.storage_folder)
