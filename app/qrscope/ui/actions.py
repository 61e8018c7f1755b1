"""What the menus and the hint bar's buttons may ask of the window.

The window builds its menus and its hint handler, so they must not import
the window back: each gets the window as one of these interfaces, the few
parts and operations it uses, and nothing else of it. ``MainWindow``
provides both (structurally: it does not name them).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from PySide6.QtWidgets import QDockWidget, QMenuBar

from qrscope.core.profiles import LocalAE, RetrieveMethod
from qrscope.session import Session
from qrscope.ui.widgets.hint_bar import HintBar
from qrscope.ui.widgets.log_panel import LogPanel
from qrscope.ui.widgets.profile_editor import ProfileEditor
from qrscope.ui.widgets.search_panel import SearchPanel

__all__ = ["HintTarget", "MenuTarget"]


class HintTarget(Protocol):
    """The window as the hint bar's buttons see it (``HintActions``)."""

    session: Session
    editor: ProfileEditor
    hints: HintBar

    def show_status(self, text: str) -> None:
        """A line in the status bar."""

    def show_nodes(self) -> None:
        """The node editor's panel, shown if the user had closed it."""

    def apply_local(self, local: LocalAE) -> Awaitable[bool]:
        """New local AE settings (the listener follows them, off the GUI thread)."""

    def start_listener(self) -> Awaitable[bool]:
        """Start our listener (off the GUI thread); ``False``: it could not start."""

    def retry_job(self, job_id: str) -> None:
        """Ask again for what the job is missing."""

    def again_with(self, job_id: str, method: RetrieveMethod) -> None:
        """The job's whole request again, by *method*."""

    def save_soon(self) -> None:
        """Save the profiles once editing pauses."""

    def save_profiles(self) -> None:
        """Save the profiles now (a hint's change is in the file when the bar says so)."""


class MenuTarget(Protocol):
    """The window as its menus see it (``install_menus``)."""

    editor: ProfileEditor
    search: SearchPanel
    log_panel: LogPanel
    nodes_dock: QDockWidget
    bottom_dock: QDockWidget

    def menuBar(self) -> QMenuBar:
        """The bar the menus go in; it owns their actions."""

    def close(self) -> bool:
        """Quit, as the window's close button does."""

    def open_doctor(self) -> object:
        """The C-MOVE doctor for the selected node."""

    def open_admin_card(self) -> None:
        """The entry the selected node's administrator must add."""

    def show_place(self, index: int) -> None:
        """Show the PACS search (0), the local archive (1) or the batches (2)."""

    def open_batch_list(self) -> None:
        """The batches, and the file dialog for a list."""

    def show_tab(self, index: int) -> None:
        """Show the jobs (0) or the association log (1)."""

    def select_demo(self) -> None:
        """The built-in demo PACS as the current node."""

    def use_demo_fault(self, fault: str | None) -> None:
        """Restart the demo PACS with *fault* (``None``: a polite PACS)."""

    def save_support_bundle(self, path: str = "") -> str:
        """Ask where, then write the support bundle; the path written, or empty."""

    def about(self) -> None:
        """The About box."""
