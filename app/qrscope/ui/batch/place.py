"""The batch view put together: list, review, run; and what it asks of the core.

The window holds one :class:`BatchPlace` and shows :attr:`BatchPlace.view`
as its "Batches" place. The list is read and resolved off the GUI thread
(:class:`~qrscope.ui.batch.bridge.BatchWorker`); the batch itself is one job
of the window's job service (:class:`~qrscope.ui.controllers.jobs.RetrieveJobs`),
so that it is in the jobs table, is counted by the quit question, and
resumes at the next start; its items come back through the bridge's
:attr:`~qrscope.ui.bridge.CoreBridge.batch_item`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QMessageBox, QStackedWidget

from qrscope.core.batch.input import BatchInput, BatchInputError
from qrscope.core.batch.items import BatchItem, BatchSpec, ItemProgress
from qrscope.core.batch.progress import BatchProgress
from qrscope.core.batch.window import AvailabilityWindow, WindowError
from qrscope.core.jobs import JobRecord
from qrscope.core.jobs.records import JobKind
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.session import Session
from qrscope.ui.batch.bridge import BatchWorker
from qrscope.ui.batch.input_page import InputPage
from qrscope.ui.batch.models import ALREADY_HERE
from qrscope.ui.batch.review_page import ReviewPage
from qrscope.ui.batch.run_page import RunPage
from qrscope.ui.bridge import CoreBridge, spawn
from qrscope.ui.controllers.jobs import RetrieveJobs
from qrscope.ui.models.jobs_model import JobRow

__all__ = ["BatchPlace", "BatchView"]


class BatchView(QStackedWidget):
    """The three pages; ``shown()`` each time the place is shown (the nodes may
    have changed meanwhile)."""

    shown = Signal()

    def __init__(self, pages: tuple[InputPage, ReviewPage, RunPage]) -> None:
        super().__init__()
        self.input, self.review, self.run = pages
        for page in pages:
            self.addWidget(page)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.shown.emit()


class BatchPlace(QObject):
    """Signals: ``status(str)`` for the status bar."""

    status = Signal(str)

    def __init__(self, bridge: CoreBridge, session: Session, retrieves: RetrieveJobs,
                 current_node: Callable[[], RemoteNode | None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.session = session
        self.retrieves = retrieves
        self.current_node = current_node
        self.worker = BatchWorker(bridge.log, self)
        self.view = BatchView((InputPage(), ReviewPage(), RunPage()))
        self.batch: BatchInput | None = None
        self._source: str | Path = ""
        """The file read last, or the text pasted."""
        self._resolving = 0
        self.job_id = ""
        """The batch job the run page shows ('' none yet)."""
        self.question: QMessageBox | None = None
        self._connect()
        self._nodes()

    def _connect(self) -> None:
        page, review, run = self.view.input, self.view.review, self.view.run
        self.view.shown.connect(self._nodes)
        page.open_requested.connect(lambda path: self.read(Path(path)))
        page.paste_read.connect(lambda: self.read(page.paste.toPlainText()))
        page.columns_changed.connect(lambda: self.read(self._source, page.mapping()))
        page.review_requested.connect(self.review)
        review.cancel_requested.connect(self.worker.cancel)
        review.back_requested.connect(lambda: self._page(0))
        review.confirmed.connect(self.submit)
        run.cancel_requested.connect(self._ask_cancel)
        run.pause_requested.connect(lambda: self.pause(True))
        run.resume_requested.connect(lambda: self.pause(False))
        run.new_requested.connect(lambda: self._page(0))
        self.worker.resolved.connect(self._resolved)
        self.worker.resolve_ended.connect(self._resolve_ended)
        self.bridge.batch_item.connect(self._item)
        self.bridge.batch_progress.connect(self._progress)
        self.bridge.job_changed.connect(self._job_changed)
        self.retrieves.added.connect(self._added)

    def _page(self, index: int) -> None:
        self.view.setCurrentIndex(index)

    def _nodes(self) -> None:
        """The node list as the profiles hold it now; the selected one preselected
        when the list page is showing (a choice being made is kept)."""
        page = self.view.input
        chosen = page.selected_node()
        page.set_nodes(list(self.session.profiles.nodes), chosen or self.current_node())
        if not page.folder.text():
            page.set_folder(str(self.session.local.storage_folder))

    # -- the list ------------------------------------------------------------------------
    def open_file(self) -> None:
        """File > Open batch list…: the list page, and the file dialog."""
        self._page(0)
        self.view.input.choose_file()

    def read(self, source: str | Path, columns: dict[str, str] | None = None) -> None:
        """Read a file (a path) or pasted text (a string), off the GUI thread."""
        if not source:
            return
        self._source = source
        spawn(self._read(source, columns or {}))

    async def _read(self, source: str | Path, columns: dict[str, str]) -> None:
        page = self.view.input
        try:
            if isinstance(source, Path):
                batch = await self.worker.read_file(source, columns)
            else:
                batch = await self.worker.read_text(source, columns)
        except BatchInputError as exc:
            self.batch = None
            page.show_error(f"Nothing can start: {exc}", exc.headers)
            return
        self.batch = batch
        page.show_input(batch)

    # -- the review ----------------------------------------------------------------------
    def _options(self) -> tuple[RemoteNode, RetrieveMethod, LocalAE] | str:
        """What the list page chose, or why it cannot be used."""
        page = self.view.input
        node = page.selected_node()
        if node is None:
            return "Choose a node (add one under Connections)"
        window = page.window.text().strip()
        if window:
            try:
                AvailabilityWindow.parse(window)
            except WindowError as exc:
                return f"Window {window!r}: {exc}"
        method = page.selected_method()
        local = self.session.local
        if method is RetrieveMethod.GET and page.folder.text().strip():
            local = replace(local, storage_folder=Path(page.folder.text().strip()))
        return node, method, local

    def review(self) -> None:
        options = self._options()
        if isinstance(options, str) or self.batch is None:
            self.view.input.show_error(options if isinstance(options, str) else
                                       "Open or paste a list first")
            return
        node, _method, local = options
        self.view.review.start(len(self.batch.items), node.name)
        self._page(1)
        self._resolving = self.worker.resolve(node, local, list(self.batch.items),
                                              debug=self.bridge.debug)

    def _resolved(self, run: int, progress: ItemProgress) -> None:
        if run == self._resolving:
            self.view.review.add(progress)

    def _resolve_ended(self, run: int, why: str) -> None:
        options = self._options()
        if run == self._resolving and not isinstance(options, str):
            self.view.review.ended(why, options[0].name)

    # -- the run -------------------------------------------------------------------------
    def submit(self) -> JobRow | None:
        """The reviewed list as one batch job (the same list to the same node resumes)."""
        options = self._options()
        if isinstance(options, str) or self.batch is None:
            return None
        node, method, local = options
        page, batch = self.view.input, self.batch
        folder = Path(local.storage_folder)
        spec = BatchSpec(key=batch.digest, source=batch.source,
                         report=str(folder / f"batch-{batch.digest[:12]}.csv"),
                         max_parallel=page.parallel.value(), window=page.window.text().strip())
        name = Path(batch.source).name if batch.source != "pasted" else "pasted list"
        row = self.retrieves.submit_batch(node, method, spec, self._reviewed(batch),
                                          f"batch {name}", storage_folder=folder)
        self.follow(row.job_id)
        self.status.emit(f"{row.job_id}: batch of {len(batch.items)} queued on {node.name}")
        return row

    def _reviewed(self, batch: BatchInput) -> list[BatchItem | ItemProgress]:
        """Each row as the review resolved it (the run fetches what the user confirmed
        and resolves it no second time); a row the review did not reach, as read."""
        reviewed = {p.index: p for p in self.view.review.model.rows}
        return [_as_reviewed(reviewed[n]) if n in reviewed else item
                for n, item in enumerate(batch.items)]

    def follow(self, job_id: str) -> None:
        """Show batch job *job_id* on the run page, its items as the store holds them."""
        record = self.retrieves.service.get(job_id)
        if record is None or record.batch is None:
            return
        self.job_id = job_id
        items = self.retrieves.service.store.batch_items(job_id)
        self.view.run.start(f"{job_id}: {record.label} from {record.node_name}", items,
                            record.batch.report)
        if record.state.is_final:
            self.view.run.show_end(record.summary)
        elif (progress := self.retrieves.service.batch_progress(job_id)) is not None:
            self.view.run.show_progress(progress)
        self._page(2)

    def _added(self, row: JobRow) -> None:
        """A batch resumed at the start (or taken up) is shown when none is; the one
        shown, run again (Retry failed), is shown from its new start."""
        if row.kind is JobKind.BATCH and self.job_id in ("", row.job_id):
            self.follow(row.job_id)

    def _item(self, job_id: str, progress: ItemProgress) -> None:
        if job_id == self.job_id:
            self.view.run.put(progress)

    def _progress(self, progress: BatchProgress) -> None:
        if progress.job_id == self.job_id:
            self.view.run.show_progress(progress)

    def pause(self, on: bool) -> None:
        """Pause the batch shown (no new retrieve starts) or let it go on."""
        service = self.retrieves.service
        if on:
            service.pause(self.job_id)
        else:
            service.resume_paused(self.job_id)
        self.view.run.show_running(True, paused=service.is_paused(self.job_id))
        progress = service.batch_progress(self.job_id)
        if progress is not None:
            self.view.run.show_progress(progress)

    def _job_changed(self, record: JobRecord) -> None:
        if record.job_id == self.job_id and record.state.is_final:
            self.view.run.show_end(record.summary)

    def _ask_cancel(self) -> None:
        """Cancel asks first: a night's batch is not lost to a slip of the mouse."""
        box = QMessageBox(QMessageBox.Icon.Question, "qrscope", "Cancel this batch?",
                          parent=self.view.window())
        box.setInformativeText("Running retrieves are stopped (C-CANCEL); what arrived "
                               "stays. Opening the same list again resumes it.")
        stop = box.addButton("Cancel batch", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep running", QMessageBox.ButtonRole.RejectRole)
        job_id = self.job_id
        box.finished.connect(lambda _r: self.retrieves.cancel(job_id)
                             if box.clickedButton() is stop else None)
        self.question = box
        box.open()

    def shutdown(self) -> None:
        """The window closes: a resolve stops; the batch job is the job service's."""
        self.worker.shutdown()


def _as_reviewed(progress: ItemProgress) -> ItemProgress:
    """A reviewed row for the job, without the review's own note that its studies are
    here already (the run finds that out again, and says ``skipped``)."""
    return progress.but(reason="") if progress.reason == ALREADY_HERE else progress
