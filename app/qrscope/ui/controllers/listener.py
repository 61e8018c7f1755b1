"""Our storage listener in the window: start, stop, follow the local AE settings, status."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from qrscope.core.profiles import LocalAE
from qrscope.core.receive.listener import ListenerError, StorageListener
from qrscope.diagnosis.hints import hint_for_listener_error
from qrscope.session import Session
from qrscope.ui.bridge import CoreBridge, spawn

__all__ = ["ListenerControl"]

STOPPED_BY_USER = ("our listener is stopped (Stop listener was pressed): press Start "
                   "listener, then Retry failed")


class ListenerControl(QObject):
    """The one place that starts and stops the session's listener.

    A listener the user stopped stays stopped: a C-MOVE to us does not
    restart it behind their back (:meth:`ready_for_move` says why instead).

    Signals: ``hint(Hint)`` when it cannot start; ``status(ae_title, address,
    port, state, received, accept)`` after every start, stop or reception, for
    the status line.
    """

    hint = Signal(object)
    status = Signal(str, str, int, str, int, str)

    def __init__(self, session: Session, bridge: CoreBridge,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.bridge = bridge
        self.stopped_by_user = False
        self.error = False
        self._stopped = threading.Event()  # set while no stop is under way
        self._stopped.set()

    @property
    def running(self) -> StorageListener | None:
        listener = self.session.listener
        return listener if listener is not None and listener.is_running else None

    def start(self) -> bool:
        """Start it (if it is not running); a failure becomes a hint and ``False``."""
        # A stop still under way holds the port for a moment: binding now would
        # say "in use" of our own listener. Only a Start pressed at once waits.
        self._stopped.wait(5)
        try:
            listener = self.session.start_listener()
        except ListenerError as exc:
            self.error = True
            self.hint.emit(hint_for_listener_error(exc, self.session.local))
            self.update_status()
            return False
        self.error = False
        self.stopped_by_user = False
        self.bridge.watch_listener(listener)
        self.session.demo_knows_listener()
        self.update_status()
        return True

    def stop(self) -> None:
        """The user stopped it: it stays stopped until they start it again.

        Stopping aborts every association and waits up to a second for their
        threads, so it runs in a worker: the window says "stopping" meanwhile.
        """
        self.stopped_by_user = True
        if not self._stopped.is_set():
            return  # already stopping
        self._stopped.clear()

        def stop_now() -> None:
            try:
                self.session.stop_listener()
            finally:
                self._stopped.set()

        async def stop_then_show() -> None:
            try:
                await self.bridge.run(stop_now)
            finally:
                self.update_status()

        self.update_status()
        spawn(stop_then_show())

    def toggle(self, start: bool) -> None:
        if start:
            self.start()
        else:
            self.stop()

    def ready_for_move(self) -> str:
        """Empty when a C-MOVE to us can be received; otherwise why not, in words.

        Starts the listener when it is merely not running yet (first retrieve,
        or it failed earlier), never when the user stopped it.
        """
        if self.running is not None:
            return ""
        if self.stopped_by_user:
            return STOPPED_BY_USER
        if self.start():
            return ""
        return "our listener could not start (see the explanation above the results)"

    def apply_local(self, local: LocalAE) -> bool:
        """New local AE settings; a running listener restarts to follow them."""
        try:
            self.session.set_local(local)
        except ListenerError as exc:
            self.error = True
            self.hint.emit(hint_for_listener_error(exc, local))
            self.update_status()
            return False
        self.error = False
        if self.running is not None:
            self.bridge.watch_listener(self.running)
        self.session.demo_knows_listener()
        self.update_status()
        return True

    def update_status(self) -> None:
        local = self.session.local
        listener = self.session.listener
        running = self.running
        if not self._stopped.is_set():
            state = "stopping"
        else:
            state = "running" if running else ("error" if self.error else "stopped")
        port = running.port if running else local.listener_port
        self.status.emit(local.ae_title, local.bind_address, port, state,
                         listener.received if listener else 0, local.accept.value)
