"""The built-in demo PACS in the window: started, restarted with a fault, selected."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from PySide6.QtCore import QObject, Signal

from qrscope.demo_pacs import describe
from qrscope.session import DEMO_NODE_NAME, Session
from qrscope.ui.bridge import CoreBridge, spawn
from qrscope.ui.controllers.listener import ListenerControl
from qrscope.ui.widgets.profile_editor import ProfileEditor

__all__ = ["DemoControl"]


class DemoControl(QObject):
    """Starts the session's demo PACS and keeps it in the node list.

    Restarting it takes most of a second (stopping a server, writing its
    samples), so it runs in a worker; :attr:`switching` is true meanwhile.

    Signals: ``message(str)`` for the status bar, ``restarted()`` when a
    fault the user picked is in force (the window clears its hint).
    """

    message = Signal(str)
    restarted = Signal()

    def __init__(self, session: Session, bridge: CoreBridge, listener: ListenerControl,
                 editor: ProfileEditor, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.bridge = bridge
        self.listener = listener
        self.editor = editor
        self.switching = False

    def first_start(self) -> asyncio.Task[None]:
        """Nothing configured: our listener plus the demo PACS, preselected.

        Both start in workers; the task ends when the demo PACS is selected.
        """
        self.switching = True

        async def start() -> None:
            try:
                if not await self.listener.start() and self.session.listener is None:
                    # The default port is taken: a free one, by number, so that what
                    # is saved is a port every command accepts (never 0).
                    local = replace(self.session.local,
                                    listener_port=self.session.free_listener_port())
                    await self.listener.apply_local(local)
                    await self.listener.start()
                node = await self.bridge.start_demo_pacs(None)
            finally:
                self.switching = False
            self.editor.refresh(select=node.name)
            self.message.emit("Using the built-in demo PACS: press Search to see its studies")

        return spawn(start())

    def offer(self) -> None:
        """Start it in the background and list it, without selecting it: with
        nodes of one's own, it stays one click away."""
        self.use_fault(None, select=False)

    def select(self) -> None:
        """The demo PACS, started if need be, as the current node."""
        if self.session.demo_pacs is not None:
            self.editor.select_node(DEMO_NODE_NAME)
        else:
            self.use_fault(self.session.demo_fault)

    def use_fault(self, fault: str | None, select: bool = True) -> None:
        """Restart the demo PACS with *fault* (``None``: a polite PACS)."""
        self.switching = True
        if select:
            self.message.emit("Restarting the demo PACS…")

        async def switch() -> None:
            try:
                node = await self.bridge.start_demo_pacs(fault)
            finally:
                self.switching = False
            self.editor.refresh(select=node.name if select else None)
            if not select:
                return
            self.restarted.emit()
            extra = (f" (it answers only to '{node.ae_title}': change the node's AE title to "
                     "see the rejection)" if fault == "reject-called-aet" else "")
            self.message.emit(
                f"Demo PACS: {describe(fault)}{extra}" if fault else "Demo PACS behaves normally")

        spawn(switch())
