"""Our storage listener in the window: start, stop, follow the local AE settings, status."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from qrscope.core.diagnosis.hints import hint_for_listener_error
from qrscope.core.listener import ListenerError, StorageListener
from qrscope.core.profiles import LocalAE
from qrscope.core.session import Session
from qrscope.ui.bridge import CoreBridge

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

    @property
    def running(self) -> StorageListener | None:
        listener = self.session.listener
        return listener if listener is not None and listener.is_running else None

    def start(self) -> bool:
        """Start it (if it is not running); a failure becomes a hint and ``False``."""
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
        """The user stopped it: it stays stopped until they start it again."""
        self.stopped_by_user = True
        self.session.stop_listener()
        self.update_status()

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
        state = "running" if running else ("error" if self.error else "stopped")
        port = running.port if running else local.listener_port
        self.status.emit(local.ae_title, local.bind_address, port, state,
                         listener.received if listener else 0, local.accept.value)
