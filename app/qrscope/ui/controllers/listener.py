"""Our storage listener in the window: start, stop, follow the local AE settings, status."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QObject, Signal

from qrscope.core.profiles import LocalAE
from qrscope.core.receive.listener import ListenerError, StorageListener
from qrscope.diagnosis.hints import hint_for_listener_error
from qrscope.session import Session
from qrscope.ui.bridge import STARTING, STOPPED, STOPPING, CoreBridge, spawn

__all__ = ["ListenerControl"]

STOPPED_BY_USER = ("our listener is stopped (Stop listener was pressed): press Start "
                   "listener, then Retry failed")


class ListenerControl(QObject):
    """The one place that starts and stops the session's listener.

    Binding may block (a port another process holds, a slow name look-up)
    and stopping waits for associations, so both run in the bridge's
    listener worker; meanwhile the status line says "starting…" or
    "stopping…" and the window goes on. What the listener's state is comes
    from the bridge's ``listener_state`` reports, on the GUI thread, whoever
    started it (the user, a setting, a C-MOVE job's thread).

    A listener the user stopped stays stopped: a C-MOVE to us does not
    restart it behind their back (:meth:`ready_for_move` says why instead).

    Signals: ``hint(Hint)`` when it cannot start; ``status(ae_title, address,
    port, state, received, accept)`` after every change of state or reception,
    for the status line.
    """

    hint = Signal(object)
    status = Signal(str, str, int, str, int, str)

    def __init__(self, session: Session, bridge: CoreBridge,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.bridge = bridge
        self.stopped_by_user = False
        self.state = STOPPED
        bridge.listener_state.connect(self._reported)

    @property
    def running(self) -> StorageListener | None:
        listener = self.session.listener
        return listener if listener is not None and listener.is_running else None

    def start(self) -> asyncio.Task[bool]:
        """Start it in the listener worker; the task's result: it runs (a failure
        became a hint)."""
        self.stopped_by_user = False
        if self.running is None:
            self._show(STARTING)
        return spawn(self._start())

    async def _start(self) -> bool:
        try:
            await self.bridge.start_listener()
        except ListenerError:
            return False  # the bridge reported it: see _reported
        return True

    def stop(self) -> asyncio.Task[None]:
        """The user stopped it: it stays stopped until they start it again."""
        self.stopped_by_user = True
        self._show(STOPPING)
        return spawn(self.bridge.stop_listener())

    def toggle(self, start: bool) -> None:
        if start:
            self.start()
        else:
            self.stop()

    def ready_for_move(self) -> str:
        """Empty when a C-MOVE to us can be received; otherwise why not, in words.

        Called from a job's thread, never the GUI's: it starts the listener,
        there, when it is merely not running yet (first retrieve, or it failed
        earlier), never when the user stopped it.
        """
        if self.running is not None:
            return ""
        if self.stopped_by_user:
            return STOPPED_BY_USER
        try:
            self.bridge.start_listener_here()
        except ListenerError:
            return "our listener could not start (the bar under the results says why)"
        return ""

    def apply_local(self, local: LocalAE) -> asyncio.Task[bool]:
        """New local AE settings; a running listener restarts to follow them.

        The task's result: applied without a failed restart.
        """
        async def apply() -> bool:
            try:
                await self.bridge.apply_local(local)
            except ListenerError:
                return False
            return True

        return spawn(apply())

    def _reported(self, state: str, error: ListenerError | None) -> None:
        """The bridge's report of a change, on the GUI thread."""
        if error is not None:
            self.hint.emit(hint_for_listener_error(error, self.session.local))
        self._show(state)

    def _show(self, state: str) -> None:
        self.state = state
        self.update_status()

    def update_status(self) -> None:
        local = self.session.local
        listener = self.session.listener
        running = self.running
        port = running.port if running else local.listener_port
        self.status.emit(local.ae_title, local.bind_address, port, self.state,
                         listener.received if listener else 0, local.accept.value)
