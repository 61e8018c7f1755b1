"""What the Local view does to its selection: open its folder, send it on, delete it.

Each starts from :meth:`LocalView.selection` (series if the user selected
series last, else studies or patients). A delete is counted in the archive
worker first and asked about with what and how much it removes; it then
runs there, file by file with its rows (:mod:`qrscope.core.archive.delete`),
its progress under the tables. A send goes to the job service as a job of
the node's queue (the window submits it: ``send_requested``).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QPoint, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QWidget,
)

from qrscope.core.archive.delete import DeleteReport
from qrscope.core.profiles import RemoteNode
from qrscope.core.send.selection import SendSelection
from qrscope.ui.bridge import CoreBridge, spawn
from qrscope.ui.job_words import count
from qrscope.ui.local.listing import DeletePlan, human_bytes
from qrscope.ui.local.view import LocalView

__all__ = ["LocalCommands", "SendDialog"]


class SendDialog(QDialog):
    """Choose the node to send to (the configured nodes, the selected one first)."""

    def __init__(self, what: str, nodes: list[RemoteNode], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send to a node")
        self.nodes = nodes
        self.node = QComboBox()
        for node in nodes:
            self.node.addItem(f"{node.name}  ({node.ae_title}@{node.host}:{node.port})")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.send = buttons.addButton("Send", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(QLabel(f"Send {what} by C-STORE to:"))
        form.addRow("Node", self.node)
        form.addRow(buttons)

    def chosen(self) -> RemoteNode:
        return self.nodes[self.node.currentIndex()]


class LocalCommands(QObject):
    """Signals: ``send_requested(RemoteNode, SendSelection, label)``, ``changed()``
    (files were deleted: what shows them must look again), ``deleted(set)`` (the
    Series Instance UIDs a delete removed)."""

    send_requested = Signal(object, object, str)
    changed = Signal()
    deleted = Signal(object)

    def __init__(self, view: LocalView, bridge: CoreBridge,
                 nodes: Callable[[], list[RemoteNode]],
                 current: Callable[[], RemoteNode | None]) -> None:
        super().__init__(view)
        self.view = view
        self.bridge = bridge
        self.nodes = nodes
        self.current = current
        self.open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl
        self.question: QMessageBox | None = None
        self.send_dialog: SendDialog | None = None
        self.deleting = False
        view.buttons["folder"].clicked.connect(self.open_folder)
        view.buttons["send"].clicked.connect(self.ask_send)
        view.buttons["delete"].clicked.connect(self.ask_delete)
        bridge.delete_progress.connect(self._delete_progress)
        for name, table in view.views.items():
            table.customContextMenuRequested.connect(
                lambda pos, n=name: self.context_menu(n, pos))

    def context_menu(self, name: str, pos: QPoint) -> QMenu | None:
        table = self.view.views[name]
        if not table.indexAt(pos).isValid():
            return None
        self.view.acting_on = name
        menu = QMenu(table)  # what the buttons do, each on what was right-clicked
        menu.addAction("View", lambda: self.view.open_from(name))
        menu.addAction("Open folder", self.open_folder)
        menu.addAction("Send to…", self.ask_send)
        menu.addSeparator()
        menu.addAction("Delete…", self.ask_delete)
        menu.popup(table.viewport().mapToGlobal(pos))
        return menu

    # -- open folder -------------------------------------------------------------------
    def open_folder(self) -> None:
        selection = self.view.selection()
        if selection is not None:
            spawn(self._open_folder(selection))

    async def _open_folder(self, selection: SendSelection) -> None:
        folder = await self.bridge.folder_of(self.view.storage(), selection)
        if folder is None:
            self.view.status.emit("Nothing of the selection is on this computer any more")
            return
        if not self.open_url(QUrl.fromLocalFile(str(folder))):
            self.view.show_message(f"No file manager opened the folder; the files are in "
                                   f"{folder}")
            return
        self.view.status.emit(f"Opened {folder}")

    # -- send --------------------------------------------------------------------------
    def ask_send(self) -> None:
        selection = self.view.selection()
        nodes = list(self.nodes())
        if selection is None:
            return
        if not nodes:
            self.view.show_message("No node to send to: add one under Connections first.")
            return
        current = self.current()
        if current is not None and current in nodes:
            nodes.remove(current)
            nodes.insert(0, current)
        what = self.view.describe(selection)
        dialog = SendDialog(what, nodes, self.view)
        dialog.accepted.connect(
            lambda: self.send_requested.emit(dialog.chosen(), selection,
                                             f"send {what} to {dialog.chosen().name}"))
        self.send_dialog = dialog
        dialog.open()

    # -- delete ------------------------------------------------------------------------
    def ask_delete(self) -> None:
        selection = self.view.selection()
        if selection is not None and not self.deleting:
            spawn(self._ask_delete(selection))

    async def _ask_delete(self, selection: SendSelection) -> None:
        root = self.view.storage()
        plan = await self.bridge.delete_plan(root, selection)
        if not plan.rows:
            self.view.status.emit("Nothing of the selection is on this computer any more")
            self.changed.emit()
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "qrscope",
                          f"Delete {self.view.describe(selection)} from this computer?",
                          parent=self.view)
        box.setInformativeText(
            f"{count(plan.instances, 'image')} ({human_bytes(plan.size)}) of {plan.studies} "
            f"{'study' if plan.studies == 1 else 'studies'} in {root}. The files are removed "
            "and come back here only by retrieving them again; files indexed where they were "
            "imported from are only taken off the list.")
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(
            lambda _r: spawn(self._delete(plan)) if box.clickedButton() is delete else None)
        self.question = box
        box.open()

    async def _delete(self, plan: DeletePlan) -> None:
        self.deleting = True
        view = self.view
        view.progress.setRange(0, len(plan.rows))
        view.progress.setValue(0)
        view.progress.setFormat(f"Deleting %v of {len(plan.rows)} files…")
        view.progress.show()
        view.buttons["delete"].setEnabled(False)
        try:
            report = await self.bridge.delete(view.storage(), plan)
        except Exception as exc:  # the database was locked or damaged: say so
            view.show_message(f"The delete stopped: {exc}")
            report = None
        finally:
            self.deleting = False
            view.progress.hide()
        if report is not None:
            view.status.emit(_deleted_words(report))
            if report.failed:
                path, reason = report.failed[0]
                view.show_message(f"{count(len(report.failed), 'file')} could not be "
                                  f"deleted, e.g. {path}: {reason}")
        view.refresh()
        self.deleted.emit({str(r["series_uid"]) for r in plan.rows})
        self.changed.emit()

    def _delete_progress(self, done: int, _total: int) -> None:
        self.view.progress.setValue(done)


def _deleted_words(report: DeleteReport) -> str:
    kept = (f"; {count(len(report.kept_outside), 'file')} outside the storage folder only "
            "taken off the list" if report.kept_outside else "")
    return f"Deleted {count(report.files_removed, 'file')}, " \
           f"{human_bytes(report.bytes_removed)}{kept}"
