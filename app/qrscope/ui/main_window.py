"""The qrscope window: nodes on the left, the PACS search, the local archive or the
batches in the middle (a tab each), jobs and log below."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import (
    QByteArray,
    QMargins,
    QSettings,
    Qt,
    QTimer,
    qVersion,
)
from PySide6.QtGui import QCloseEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from qrscope.core.jobs import JobStore, jobs_path_beside
from qrscope.core.net.connection import AssociationFailure
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.receive.reception import ReceivedInstance
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.core.send.selection import SendSelection
from qrscope.core.send.types import SendOutcome
from qrscope.diagnosis.doctor import DoctorReport
from qrscope.diagnosis.hints import Hint, hint_for_failure
from qrscope.diagnosis.pacs_entries import MoveDestinationEntry
from qrscope.diagnosis.retrieve_hints import (
    hint_for_find_result,
    hint_for_refused_caller,
    hint_for_unexpected,
    hints_for_retrieve,
)
from qrscope.diagnosis.send_hints import hints_for_send
from qrscope.diagnosis.sequence import build_sequence
from qrscope.diagnosis.support_bundle import write_support_bundle
from qrscope.session import Session
from qrscope.ui.batch.place import BatchPlace
from qrscope.ui.bridge import RUNNING, CoreBridge, spawn
from qrscope.ui.controllers.demo import DemoControl
from qrscope.ui.controllers.hint_actions import HintActions
from qrscope.ui.controllers.jobs import RetrieveJobs
from qrscope.ui.controllers.listener import ListenerControl
from qrscope.ui.gui_gc import GuiThreadCollector
from qrscope.ui.job_words import count, images_here
from qrscope.ui.local.place import CurrentPageStack, LocalPlace
from qrscope.ui.menus import about_text, install_menus
from qrscope.ui.models.jobs_model import JobRow
from qrscope.ui.screen_fit import NATURAL_SIZE, fits_a_screen, fitted_geometry
from qrscope.ui.widgets.admin_card import AdminCardDialog
from qrscope.ui.widgets.already_here import AGAIN, MISSING, AlreadyHereDialog
from qrscope.ui.widgets.doctor_dialog import DoctorDialog
from qrscope.ui.widgets.hint_bar import HintBar
from qrscope.ui.widgets.log_panel import LogPanel
from qrscope.ui.widgets.profile_editor import ProfileEditor
from qrscope.ui.widgets.retrieve_panel import RetrievePanel
from qrscope.ui.widgets.search_panel import SearchPanel
from qrscope.ui.widgets.sequence_dialog import SequenceDialog

__all__ = ["MainWindow"]

_LOGGER = logging.getLogger(__name__)


STATUS_MS = 200
"""How often, at most, the listener's count is redrawn while images arrive."""

class MainWindow(QMainWindow):
    def __init__(self, session: Session, settings: QSettings | None = None) -> None:
        super().__init__()
        self.collector = GuiThreadCollector(self)  # before any worker thread exists
        self.session = session
        self.settings = settings or QSettings("qrscope", "qrscope")
        self.setWindowTitle("qrscope")
        self.resize(NATURAL_SIZE)
        self._placed = False
        """The first show has fitted the window to its screen (or kept a saved place)."""
        self._restored = False
        self.bridge = CoreBridge(session, self)
        self.hints = HintBar()
        self.editor = ProfileEditor(session.profiles)
        self.search = SearchPanel(self.bridge, self.editor.current_node, lambda: session.local)
        self.listener = ListenerControl(session, self.bridge, self)
        self.job_store = JobStore(jobs_path_beside(session.store.path))
        self.retrieves = RetrieveJobs(self.bridge, self.listener, session.profiles,
                                      self.job_store, self)
        self.jobs = RetrievePanel(self.retrieves.model)
        self.listener.status.connect(self.jobs.show_listener)
        self.log_panel = LogPanel()
        self.hint_actions = HintActions(self)
        self.demo = DemoControl(session, self.bridge, self.listener, self.editor, self)
        self.local = LocalPlace(self.bridge, session, self.editor.current_node, self)
        self.batches = BatchPlace(self.bridge, session, self.retrieves,
                                  self.editor.current_node, self)
        self.last_doctor: DoctorReport | None = None
        self._hint_of: dict[str, Hint] = {}
        """The hint each source (the search, the listener) showed last: taken
        away when that source has done well since, if it is still showing."""
        self.already_here: AlreadyHereDialog | None = None
        self.admin_card: AdminCardDialog | None = None
        self.question: QMessageBox | None = None
        """The open question (many studies to queue, quit with jobs), if any."""
        self._quit_agreed = False
        self._closing = False
        self._closed = False
        self._save_timer = QTimer(self, singleShot=True, interval=500)
        self._save_timer.timeout.connect(self.save_profiles)
        # The listener's line shows the count received: redrawn a few times a
        # second, not for each of a thousand images (a rich-text label relaid).
        self._status_timer = QTimer(self, singleShot=True, interval=STATUS_MS)
        self._status_timer.timeout.connect(self.listener.update_status)
        self._build()
        self._connect()
        # A full garbage collection holds the GUI thread for a while: not
        # while the user waits for results (weakly: no cycle with the window).
        window = weakref.ref(self)
        self.collector.busy = lambda: (w := window()) is not None and w.working()
        self.fault_actions = install_menus(self)
        self.statusBar().showMessage("; ".join(self.job_store.warnings) or "Ready")

    # -- layout ------------------------------------------------------------------
    def _build(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)
        # The hint goes under the browser: a new hint shrinks the results from
        # below instead of moving every row the user is pointing at.
        self.places = CurrentPageStack()
        self.places.addWidget(self.search)
        self.places.addWidget(self.local.view)
        self.places.addWidget(self.batches.view)
        self.place_tabs = self.local.place_tabs(self.places)
        # On the menu bar's row: a row of its own would take the height a
        # 768-pixel screen keeps for the results and the jobs.
        self.menuBar().setCornerWidget(self.place_tabs, Qt.Corner.TopRightCorner)
        layout.addWidget(self.places, 1)
        layout.addWidget(self.hints)
        self.setCentralWidget(central)
        self.nodes_dock = QDockWidget("Connections", self)
        self.nodes_dock.setObjectName("nodesDock")
        self.nodes_dock.setWidget(self._nodes_panel())
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.nodes_dock)
        self.bottom = QTabWidget()
        self.bottom.addTab(self.jobs, "Jobs")
        self.bottom.addTab(self.log_panel, "Association log")
        self.bottom_dock = QDockWidget("Retrieve and log", self)
        self.bottom_dock.setObjectName("bottomDock")
        self.bottom_dock.setWidget(self.bottom)
        # The tabs name what is there; a title bar would take a jobs row.
        self.bottom_dock.setTitleBarWidget(QWidget())
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.bottom_dock)
        # Sizes for a first start (a saved layout replaces them): the browser
        # gets most of a 1024x768 screen, the jobs room for five rows.
        # The nodes panel has the whole height (its Apply button is never under
        # the jobs); the jobs and log sit under the browser only.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.resizeDocks([self.nodes_dock], [340], Qt.Orientation.Horizontal)
        self.resizeDocks([self.bottom_dock], [250], Qt.Orientation.Vertical)

    def _nodes_panel(self) -> QWidget:
        """The editor, scrolled, over a bar with Verify and the C-MOVE doctor.

        The editor is taller than a 768-pixel screen with its security
        fields: it scrolls rather than forcing the window's height. Checking
        the selected node is what the panel is most used for, so those two
        buttons stay in view under it whatever the scroll.
        """
        self.nodes_scroller = scroller = QScrollArea()
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QFrame.Shape.NoFrame)
        scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroller.setMinimumWidth(self.editor.minimumSizeHint().width()
                                 + scroller.verticalScrollBar().sizeHint().width())
        scroller.setWidget(self.editor)
        verify = QPushButton("Verify (C-ECHO)")
        verify.setToolTip("Check that the selected node answers, and how fast (Ctrl+E)")
        verify.clicked.connect(self.editor.request_verify)
        doctor = QPushButton("C-MOVE doctor…")
        doctor.setToolTip("Check everything a C-MOVE to the selected node needs (Ctrl+D)")
        doctor.clicked.connect(self.open_doctor)
        bar = QHBoxLayout()
        bar.setContentsMargins(9, 4, 9, 4)
        bar.addWidget(verify)
        bar.addWidget(doctor)
        bar.addStretch(1)
        self.node_checks = (verify, doctor)
        panel = QWidget()
        column = QVBoxLayout(panel)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(scroller, 1)
        column.addLayout(bar)
        return panel

    def _connect(self) -> None:
        self.bridge.events_logged.connect(self.log_panel.add_many)
        self.retrieves.finished.connect(self._job_finished)
        self.listener.hint.connect(lambda hint: self._show_hint_of("listener", hint))
        self.listener.status.connect(self._listener_state)
        self.bridge.instance_received.connect(self._instance_received)
        self.bridge.caller_refused.connect(
            lambda refused: self.hints.show_hint(hint_for_refused_caller(refused)))
        self.editor.verify_requested.connect(
            lambda node: spawn(self.verify(node)))
        self.editor.local_changed.connect(self.apply_local)
        self.editor.nodes_changed.connect(self.save_soon)
        self.editor.current_node_changed.connect(self._node_changed)
        self.search.retrieve_requested.connect(self.retrieve)
        self.search.failed.connect(
            lambda failure, node: self._show_hint_of(
                "search", hint_for_failure(failure, node, self.session.local)))
        self.search.find_failed.connect(
            lambda result, node: self._show_hint_of(
                "search", hint_for_find_result(result, node, self.session.local)))
        self.search.answered.connect(lambda: self._clear_hint_of("search"))
        self.search.status.connect(self.statusBar().showMessage)
        self.jobs.cancel_requested.connect(self.retrieves.cancel)
        self.jobs.retry_requested.connect(self.retry_job)
        self.jobs.diagram_requested.connect(self.show_sequence)
        self.jobs.listener_toggle_requested.connect(self.listener.toggle)
        self.jobs.folder_message.connect(self.statusBar().showMessage)
        self.hints.action_requested.connect(self.hint_actions.act)
        self.demo.message.connect(self.statusBar().showMessage)
        self.demo.restarted.connect(self.hints.clear)
        self.log_panel.debug.toggled.connect(self._set_debug)
        self.bridge.instance_received.connect(lambda _i: self.local.view.note_received())
        self.local.view.status.connect(self.statusBar().showMessage)
        self.local.commands.send_requested.connect(self.send)
        self.local.commands.changed.connect(self.search.refresh_local_marks)
        self.batches.status.connect(self.statusBar().showMessage)

    # -- the demo PACS (DemoControl does the work; the menus call these) ------------
    @property
    def demo_switching(self) -> bool:
        return self.demo.switching

    def use_demo_fault(self, fault: str | None) -> None:
        self.demo.use_fault(fault)

    def select_demo(self) -> None:
        self.demo.select()

    def offer_demo(self) -> None:
        self.demo.offer()

    def use_demo(self) -> asyncio.Task[None]:
        """First start: our listener and the demo PACS, in workers (the task's end)."""
        return self.demo.first_start()

    @property
    def ended(self) -> bool:
        """Closed, its listener stopped and its session saved."""
        return self._closed

    def working(self) -> bool:
        """A search or a retrieve is running."""
        return self.search.searching or self.retrieves.running

    def show_tab(self, index: int) -> None:
        self.bottom_dock.show()
        self.bottom.setCurrentIndex(index)

    def show_place(self, index: int) -> None:
        """The PACS search (0), the local archive (1) or the batches (2)."""
        self.place_tabs.setCurrentIndex(index)

    def open_batch_list(self) -> None:
        self.show_place(2)
        self.batches.open_file()

    def show_status(self, text: str) -> None:
        self.statusBar().showMessage(text)

    def show_nodes(self) -> None:
        self.nodes_dock.show()

    def about(self) -> None:
        QMessageBox.about(self, "About qrscope", about_text())

    @staticmethod
    def about_text() -> str:
        return about_text()

    def _instance_received(self, instance: ReceivedInstance) -> None:
        if not self._status_timer.isActive():
            self._status_timer.start()
        if instance.job_id is None:
            known = {n.ae_title for n in self.session.profiles.nodes}
            self.hints.show_hint(hint_for_unexpected(instance, known))

    def _set_debug(self, on: bool) -> None:
        """PDU-level recording for what starts from now on (the listener too)."""
        self.bridge.debug = on
        listener = self.session.listener
        if listener is not None:
            listener.set_debug(on)

    # -- nodes and listener ------------------------------------------------------
    def _node_changed(self, node: RemoteNode | None) -> None:
        if node is not None:
            self.statusBar().showMessage(f"Node: {node.name} ({node.ae_title}@{node.host}:"
                                         f"{node.port})")

    async def verify(self, node: RemoteNode) -> None:
        try:
            result = await self.bridge.verify(node, self.session.local)
        except AssociationFailure as exc:
            self.editor.show_verify_result(exc.message, False)
            self.statusBar().showMessage(f"Verify {node.name}: {exc.message}")
            self.show_failure(exc, node)
            return
        ok = result.ok
        text = (f"OK: answered in {result.echo_ms:.1f} ms (association "
                f"{result.association_ms:.1f} ms)" if ok else f"C-ECHO failed: {result.status}")
        self.editor.show_verify_result(text, ok)
        self.statusBar().showMessage(f"Verify {node.name}: {text}")
        if ok:
            self.hints.clear()

    def open_doctor(self) -> DoctorDialog | None:
        """Check the selected node end to end in a dialog.

        The listener must run (it receives the test C-MOVE): it is started
        first if need be; if it cannot start, the dialog closes and the hint
        says why.
        """
        node = self.editor.current_node()
        if node is None:
            return None
        dialog = DoctorDialog(node.name, self)
        dialog.show()

        async def run() -> None:
            if self.listener.running is None and not await self.listener.start():
                dialog.close()
                return
            listener = self.session.listener
            assert listener is not None
            report = await self.bridge.doctor(node, self.session.local, listener,
                                              dialog.step_done.emit)
            dialog.show_report(report)
            self.last_doctor = report
            if report.verdict is not None:
                self.hints.show_hint(report.verdict)

        spawn(run())
        return dialog

    def open_admin_card(self) -> None:
        """The entry the selected node's administrator must add, with our real address.

        Finding that address may resolve the node's host name, so it runs in
        a worker; the dialog opens when it is known (``self.admin_card``).
        """
        node = self.editor.current_node()
        if node is None:
            return
        listener = self.session.listener
        port = listener.port if listener and listener.is_running else \
            self.session.local.listener_port
        ae_title = node.move_destination or self.session.local.ae_title

        async def show() -> None:
            address = await self.bridge.address_towards(node)
            self.admin_card = AdminCardDialog(MoveDestinationEntry(ae_title, address, port),
                                              node.name, self)
            self.admin_card.show()

        spawn(show())

    def start_listener(self) -> asyncio.Task[bool]:
        """Start our listener in a worker; the task's result: it runs."""
        return self.listener.start()

    def apply_local(self, local: LocalAE) -> asyncio.Task[bool]:
        """New local AE settings, saved once the listener follows them (in a worker)."""
        async def apply() -> bool:
            applied = await self.listener.apply_local(local)
            if applied:
                self.save_soon()
            return applied

        return spawn(apply())

    def save_soon(self) -> None:
        """Save once typing pauses: one file write per edit, not one per keystroke."""
        self._save_timer.start()

    def save_profiles(self) -> None:
        try:
            self.session.store.save(self.session.nodes_to_save())
        except OSError as exc:
            self.statusBar().showMessage(f"Could not save the profiles: {exc}")

    # -- retrieving --------------------------------------------------------------
    def retrieve(self, scopes: list[tuple[RetrieveScope, str]], method_name: str) -> None:
        """Retrieve the selection from the node its results came from.

        Never the node selected in the list now: the user may have clicked
        another since the search. More studies than the local setting allows
        are asked about first; what is already on disk is asked about too.
        """
        node = self.search.results_node
        if node is None:
            return
        limit = self.session.local.confirm_retrieves_above
        if len(scopes) > limit:
            self._ask(f"Retrieve {len(scopes)} studies from {node.name}?",
                      f"This queues {len(scopes)} retrieves (more than {limit}, the limit "
                      "set under This workstation). They run two at a time on the node.",
                      "Queue them", lambda: self._queue(node, scopes, method_name))
            return
        self._queue(node, scopes, method_name)

    def _ask(self, text: str, detail: str, yes: str, then: Callable[[], None]) -> None:
        """A question that does not block the event loop; *then* runs on *yes*."""
        box = QMessageBox(QMessageBox.Icon.Question, "qrscope", text, parent=self)
        box.setInformativeText(detail)
        agree = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(agree)
        box.finished.connect(lambda _r: then() if box.clickedButton() is agree else None)
        self.question = box
        box.open()

    def _queue(self, node: RemoteNode, scopes: list[tuple[RetrieveScope, str]],
               method_name: str) -> None:
        method = RetrieveMethod(method_name) if method_name else node.retrieve_method
        here = self.search.already_here(scopes)
        self.retrieves.submit_many(node, [(s, label) for s, label in scopes if s not in here],
                                   method)
        if here:
            lines = [images_here(label, *here[scope]) for scope, label in scopes
                     if scope in here]
            self.already_here = AlreadyHereDialog(lines, self)
            self.already_here.chosen.connect(
                lambda choice: self._retrieve_local(choice, node, method,
                                                    [s for s in scopes if s[0] in here]))
            self.already_here.open()
        self._show_jobs_unless_reading_the_log()

    def _retrieve_local(self, choice: str, node: RemoteNode, method: RetrieveMethod,
                        scopes: list[tuple[RetrieveScope, str]]) -> None:
        if choice == AGAIN:
            for scope, label in scopes:
                self.retrieves.submit(node, scope, method, f"{label}, again")
        elif choice == MISSING:
            for scope, label in scopes:
                spawn(self._fetch_missing(node, method, scope, label))

    async def _fetch_missing(self, node: RemoteNode, method: RetrieveMethod,
                             scope: RetrieveScope, label: str) -> None:
        self.statusBar().showMessage(f"Asking {node.name} what {label} holds…")
        try:
            parts = await self.bridge.missing(node, self.session.local, scope)
        except AssociationFailure as exc:
            self.show_failure(exc, node)
            return
        if parts is None:  # the PACS did not list every instance: ask for all of it
            parts = [scope]
        if not parts:
            self.statusBar().showMessage(f"{label}: everything is already here")
            return
        for part in parts:
            what = ("" if part is scope else
                    f": the {count(len(part.instance_uids), 'missing image')} of one series")
            self.retrieves.submit(node, part, method, f"{label}{what}")

    def send(self, node: RemoteNode, selection: SendSelection, label: str) -> None:
        """Queue a send of the archive's *selection* (the Local view's Send to…)."""
        self.retrieves.submit_send(node, selection, label)
        self._show_jobs_unless_reading_the_log()

    def _job_finished(self, row: JobRow) -> None:
        self.listener.update_status()
        self.search.refresh_local_marks()
        self.local.view.note_received()
        outcome = row.outcome
        node = self.retrieves.node_of(row)
        if row.send_outcome is not None and node is not None:
            self._send_finished(row, row.send_outcome, node)
            return
        if outcome is None or node is None:
            self.statusBar().showMessage(f"{row.what}: {row.why}")
            return
        listener = self.session.listener
        hints = hints_for_retrieve(outcome, node, self.session.local,
                                   listener_port=listener.port if listener else None)
        if hints:
            self.hints.show_hint(hints[0], row.job_id)
        self.statusBar().showMessage(f"{row.job_id}: {outcome.status}, "
                                     f"{len(outcome.stored)} received")

    def _send_finished(self, row: JobRow, outcome: SendOutcome, node: RemoteNode) -> None:
        hints = hints_for_send(outcome, node, self.session.local)
        if hints:
            self.hints.show_hint(hints[0], row.job_id)
        self.statusBar().showMessage(f"{row.job_id}: {row.why}")

    def retry_job(self, job_id: str) -> None:
        self.retrieves.retry(job_id)
        self._show_jobs_unless_reading_the_log()

    def again_with(self, job_id: str, method: RetrieveMethod) -> None:
        self.retrieves.again_with(job_id, method)
        self._show_jobs_unless_reading_the_log()

    def _show_jobs_unless_reading_the_log(self) -> None:
        """A new job shows the jobs, but never takes the log away from a user
        watching it (Ctrl+J shows the jobs; the status line says it is queued)."""
        if self.bottom_dock.isVisible() and self.bottom.currentWidget() is self.log_panel:
            self.statusBar().showMessage("Job queued: Ctrl+J shows the jobs")
            return
        self.show_tab(0)

    def save_support_bundle(self, path: str = "") -> str:
        """The log, settings, last doctor run, the selected job's sequence, versions."""
        if not path:
            # Offered in the home folder: the process's working folder is
            # wherever the launcher happened to start it.
            path, _ = QFileDialog.getSaveFileName(self, "Save support bundle",
                                                  str(Path.home() / "qrscope-support.zip"),
                                                  "Zip (*.zip)")
        if not path:
            return ""
        job = self.jobs.selected()
        write_support_bundle(
            Path(path), self.session.log, self.session.local, self.editor.current_node(),
            doctor=self.last_doctor, job_id=job.job_id if job else None,
            hints=[self.hints.hint] if self.hints.hint else [],
            extra_versions={"Qt": qVersion(), "PySide6": pyside_version})
        self.statusBar().showMessage(f"Support bundle saved to {path}")
        return path

    def show_sequence(self, job_id: str) -> SequenceDialog:
        row = self.retrieves.model.rows[self.retrieves.model.row_of(job_id)]
        diagram = build_sequence(self.session.log, job_id, f"{job_id}: {row.what}")
        dialog = SequenceDialog(diagram, self)
        dialog.show()
        return dialog

    # -- hints ---------------------------------------------------------------------
    def show_failure(self, failure: AssociationFailure, node: RemoteNode) -> None:
        self.hints.show_hint(hint_for_failure(failure, node, self.session.local))

    def _show_hint_of(self, source: str, hint: Hint) -> None:
        self._hint_of[source] = hint
        self.hints.show_hint(hint)

    def _clear_hint_of(self, source: str) -> None:
        """*source* did well: its last hint is no longer true (another's stays)."""
        hint = self._hint_of.pop(source, None)
        if hint is not None and self.hints.hint is hint:
            self.hints.clear()

    def _listener_state(self, _ae: str, _address: str, _port: int, state: str,
                        *_rest: object) -> None:
        if state == RUNNING:
            self._clear_hint_of("listener")

    # -- state ---------------------------------------------------------------------
    def restore_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and fits_a_screen(self.settings.value("window/frame")):
            self._restored = self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        splitter = self.settings.value("window/results_splitter")
        if isinstance(splitter, QByteArray):
            self.search.splitter.restoreState(splitter)
        last = self.settings.value("last/node")
        if isinstance(last, str):
            self.editor.select_node(last)
        search = self.settings.value("last/search")
        if isinstance(search, dict):
            self.search.form.restore(search)

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/frame", self.frameGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/results_splitter", self.search.splitter.saveState())
        node = self.editor.current_node()
        if node is not None:
            self.settings.setValue("last/node", node.name)
        self.settings.setValue("last/search", self.search.form.state())
        self.settings.sync()

    def _quit(self) -> None:
        self._quit_agreed = True
        self.close()

    def showEvent(self, event: QShowEvent) -> None:
        """The first show: the window on its screen whole (created, its frame is known)."""
        if not self._placed:
            self._placed = True
            self._fit_to_screen()
        super().showEvent(event)

    def _fit_to_screen(self) -> None:
        """A saved place if it fits the screen now; else the screen's free area, up
        to :data:`NATURAL_SIZE` (with no window manager, the whole screen)."""
        available = self.screen().availableGeometry()
        if self._restored and available.contains(self.frameGeometry()):
            return
        frame = self.frameGeometry()
        inside = self.geometry()
        margins = QMargins(inside.left() - frame.left(), inside.top() - frame.top(),
                           frame.right() - inside.right(), frame.bottom() - inside.bottom())
        self.setGeometry(fitted_geometry(NATURAL_SIZE, available, margins))

    def resizeEvent(self, event: QResizeEvent) -> None:
        """A tall window shows a hint whole; a 768-pixel one keeps room for results."""
        super().resizeEvent(event)
        self.hints.set_lines(4 if self.height() < 900 else 8)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Quit; with jobs queued or running, ask first (they resume at the next start)."""
        unfinished = self.retrieves.unfinished
        if unfinished and not self._quit_agreed:
            event.ignore()
            self._ask(f"{unfinished} retrieve(s) are queued or running.",
                      "Quit now, and they will resume at the next start of qrscope, "
                      "fetching only what is not here yet.", "Quit", self._quit)
            return
        if self._closed:
            super().closeEvent(event)
            return
        # Stopping the listener waits for its associations: in a worker, the
        # window open (and disabled) until it has stopped, then closed again.
        event.ignore()
        if self._closing:
            return
        self._closing = True
        self.save_state()
        self.retrieves.shutdown()
        self.batches.shutdown()
        self.setEnabled(False)
        self.statusBar().showMessage("Stopping the listener…")
        if _loop_usable():
            spawn(self._close_session())
        else:  # no event loop left to keep running (torn down): nothing to freeze
            self.session.close()
            self._closed_down()

    async def _close_session(self) -> None:
        try:
            await self.bridge.close_session()
        finally:
            self._closed_down()

    def _closed_down(self) -> None:
        """The session is closed: the last of the window's end, then the close itself."""
        self.bridge.shutdown()
        self.job_store.close()
        self.collector.stop()
        self._closed = True
        self.close()


def _loop_usable() -> bool:
    """An event loop is set and open, so a task spawned now will run."""
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        return False
    return not loop.is_closed()

