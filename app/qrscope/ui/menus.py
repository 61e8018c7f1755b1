"""The window's menus: every action with its shortcut, so each is found in one place."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QObject, qVersion
from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from qrscope.core.engine import choice as engine
from qrscope.demo_pacs import FAULTS
from qrscope.diagnosis.support_bundle import versions
from qrscope.ui.actions import MenuTarget

__all__ = ["about_text", "install_menus"]


def about_text() -> str:
    found = versions()  # the core's list, so the widgets need not import pynetdicom
    return (f"<b>qrscope {found['qrscope']}</b><br>DICOM query/retrieve that explains "
            f"failures.<br><br>Qt {qVersion()} (PySide6 {pyside_version})<br>"
            f"pynetdicom {found['pynetdicom']}<br>pydicom {found['pydicom']}<br>"
            f"engine: {html.escape(engine.current().describe())}")


def _action(owner: QObject, menu: Any, text: str, slot: Callable[[], object],
            shortcut: Any = None) -> QAction:
    action = QAction(text, owner)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.triggered.connect(lambda _=False: slot())
    menu.addAction(action)
    return action


def install_menus(w: MenuTarget) -> dict[str | None, QAction]:
    """Build the menu bar; returns the Demo menu's fault actions by fault name.

    The bar owns the actions (it lives as long as the window); the window
    comes in as :class:`MenuTarget`, so this module never imports it.
    """
    bar = w.menuBar()
    file = bar.addMenu("&File")
    _action(bar, file, "Open batch list…", w.open_batch_list, "Ctrl+B")
    file.addSeparator()
    _action(bar, file, "Import nodes…", w.editor.import_nodes)
    _action(bar, file, "Export node…", w.editor.export_nodes)
    _action(bar, file, "Export log…", w.log_panel.export)
    file.addSeparator()
    _action(bar, file, "Quit", w.close, QKeySequence.StandardKey.Quit)
    node = bar.addMenu("&Node")
    _action(bar, node, "Add node", w.editor.add_node, "Ctrl+N")
    _action(bar, node, "Verify (C-ECHO)", w.editor.request_verify, "Ctrl+E")
    _action(bar, node, "C-MOVE doctor…", w.open_doctor, "Ctrl+D")
    _action(bar, node, "Admin card…", w.open_admin_card)
    search = bar.addMenu("&Search")
    _action(bar, search, "Search", w.search.search, "Ctrl+F")
    _action(bar, search, "Cancel search", w.search.cancel)
    retrieve = bar.addMenu("&Retrieve")
    _action(bar, retrieve, "Retrieve selection", lambda: w.search.retrieve_selection(""),
            "Ctrl+R")
    _action(bar, retrieve, "Retrieve with C-MOVE", lambda: w.search.retrieve_selection("move"),
            "Ctrl+M")
    _action(bar, retrieve, "Retrieve with C-GET", lambda: w.search.retrieve_selection("get"),
            "Ctrl+G")
    view = bar.addMenu("&View")
    _action(bar, view, "PACS search", lambda: w.show_place(0), "Ctrl+1")
    _action(bar, view, "Local archive", lambda: w.show_place(1), "Ctrl+2")
    _action(bar, view, "Batches", lambda: w.show_place(2), "Ctrl+3")
    view.addSeparator()
    view.addAction(w.nodes_dock.toggleViewAction())
    view.addAction(w.bottom_dock.toggleViewAction())
    _action(bar, view, "Association log", lambda: w.show_tab(1), "Ctrl+L")
    _action(bar, view, "Jobs (retrieves, sends, batches)", lambda: w.show_tab(0), "Ctrl+J")
    faults = _demo_menu(w, bar, bar.addMenu("&Demo"))
    help_menu = bar.addMenu("&Help")
    _action(bar, help_menu, "Save support bundle…", lambda: w.save_support_bundle())
    _action(bar, help_menu, "About qrscope", w.about)
    return faults


FAULT_WORDS: dict[str, str] = {
    "unknown-destination": "Refuse C-MOVE: does not know our AE title",
    "unreachable-destination": "Send C-MOVE images to a port where nothing listens",
    "reject-called-aet": "Reject a wrong called AE title (then set the node's AE title "
                         "to something else)",
    "reject-calling-aet": "Reject us: accept only callers it knows",
    "no-cget": "Offer no C-GET",
    "slow-responses": "Answer slowly, like an archive on tape",
    "abort-mid-transfer": "Abort a retrieve after two images",
    "final-before-images": "Say a C-MOVE is done, then send the images",
    "empty-success": "Answer success and send nothing",
    "empty-success-then-images": "Answer success with no counts, then send the images",
    "fewer-images": "Report every image sent, deliver only half",
    "out-of-resources": "Refuse every retrieve: out of resources",
}
"""What each fault does, in words for the menu; ``FAULTS`` has the detail (tooltip)."""


def _demo_menu(w: MenuTarget, owner: QObject, menu: Any) -> dict[str | None, QAction]:
    """Use the built-in demo PACS, and make it misbehave on purpose to learn each failure."""
    menu.setToolTipsVisible(True)
    _action(owner, menu, "Select the demo PACS", w.select_demo)
    menu.addSeparator()
    group = QActionGroup(owner)
    actions: dict[str | None, QAction] = {}
    for fault, text in ((None, "Behave like a good PACS"), *FAULTS.items()):
        words = FAULT_WORDS.get(fault, text) if fault else text
        action = QAction(words, owner, checkable=True)
        action.setToolTip(f"{fault}: {text}" if fault else text)
        action.setChecked(fault is None)
        action.triggered.connect(lambda _=False, f=fault: w.use_demo_fault(f))
        group.addAction(action)
        menu.addAction(action)
        actions[fault] = action
    return actions
