"""Start the qrscope window on a qasync event loop."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from qrscope.core.profile_store import ProfileStore
from qrscope.diagnosis.hints import hint_for_profile_problems
from qrscope.session import Session
from qrscope.ui.first_paint import report_first_paint
from qrscope.ui.main_window import MainWindow
from qrscope.ui.resources import icon_path

__all__ = ["build_window", "run_gui"]

_LOGGER = logging.getLogger(__name__)


def build_window(store: ProfileStore | None = None,
                 settings: QSettings | None = None) -> MainWindow:
    """The window over a session; on first start (no profiles yet) the demo PACS is used."""
    session = Session(store or ProfileStore())
    window = MainWindow(session, settings)
    window.setWindowIcon(QIcon(str(icon_path("qrscope.svg"))))
    ready = None
    if session.first_start or not session.profiles.nodes:
        ready = window.use_demo()
    else:
        window.start_listener()
        window.offer_demo()
    window.restore_state()
    # Jobs queued or running when qrscope last ended (quit, crash) run again; a
    # C-MOVE among them starts the listener from its own thread if need be.
    if ready is None:
        window.retrieves.resume()
    else:  # they may be the demo PACS's: once it is up, on its new port
        ready.add_done_callback(lambda _task: window.retrieves.resume())
    if session.profiles.problems:
        window.hints.show_hint(hint_for_profile_problems(session.profiles.problems,
                                                         str(session.store.path)))
    return window


def _choose_keyring_early() -> None:
    """Have :mod:`keyring` pick the system's backend now, in a worker thread.

    Its first use probes every backend it knows (on Linux, the macOS one
    looks for its library with ``ctypes.util.find_library``, which runs
    ``ldconfig``): about 0.1 s. The node list asks it whether the selected
    node has a passcode stored, on the GUI thread, when the first node is
    selected; chosen here meanwhile, that question is answered at once
    (issue 21). A failure is left for that real use to report.
    """
    def choose() -> None:
        import keyring

        try:
            keyring.get_keyring()
        except Exception:  # reported where the keyring is really used
            _LOGGER.debug("the keyring backend could not be chosen early", exc_info=True)

    threading.Thread(target=choose, daemon=True, name="keyring-early").start()


def run_gui(argv: list[str] | None = None, *, quit_after: float | None = None) -> int:
    """Run the window until it closes; *quit_after* seconds: close it then, the way the
    user's close does (``qrscope gui --quit-after``, for smoke tests of an installed copy)."""
    import qasync

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pynetdicom").propagate = False
    _choose_keyring_early()
    app = QApplication.instance() or QApplication(argv or sys.argv)
    app.setApplicationName("qrscope")
    app.setOrganizationName("qrscope")
    # Wayland compositors match the window to qrscope.desktop (its icon, its name) by this.
    app.setDesktopFileName("qrscope")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    closing = asyncio.Event()
    app.aboutToQuit.connect(closing.set)
    window = build_window()
    report_first_paint(window, window.editor.list)  # its parent, the window, keeps it
    window.show()
    if quit_after is not None:
        QTimer.singleShot(round(quit_after * 1000), window.close)
    with loop:
        loop.run_until_complete(closing.wait())
    # Tear the Qt objects down while Python is still whole: left to the
    # interpreter's final garbage collection, PySide6 may crash on exit.
    window.deleteLater()
    app.processEvents()
    del window
    return 0
