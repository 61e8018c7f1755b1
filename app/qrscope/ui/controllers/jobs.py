"""The window's retrieve jobs: a Qt face on the core's job service.

Every job lives in :class:`qrscope.core.jobs.JobService` (ids, queues per
node, the record on disk, resume); this controller only asks it for jobs,
passes on cancel, and keeps the rows of :class:`JobTableModel` in step with
the changes and progress the service reports, which the bridge re-emits on
the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from qrscope.core.batch.items import BatchItem, BatchSpec, ItemProgress, ItemStatus
from qrscope.core.batch.progress import BatchProgress
from qrscope.core.jobs import RETRIEVES_PER_NODE, JobRecord, JobService, JobState
from qrscope.core.jobs.records import JobKind
from qrscope.core.jobs.store import JobStore
from qrscope.core.profile_store import Profiles
from qrscope.core.profiles import RemoteNode, RetrieveMethod
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve.outcome import RetrieveOutcome
from qrscope.core.retrieve.types import RetrieveProgress, RetrieveScope
from qrscope.core.send.selection import SendSelection
from qrscope.core.send.types import SendProgress
from qrscope.diagnosis.retrieve_hints import hints_for_retrieve
from qrscope.ui.bridge import CoreBridge
from qrscope.ui.controllers.listener import ListenerControl
from qrscope.ui.job_words import count, describe_outcome, describe_scope
from qrscope.ui.models.jobs_model import BatchCounts, JobRow, JobTableModel

__all__ = ["RETRIEVES_PER_NODE", "RetrieveJobs"]


class RetrieveJobs(QObject):
    """The window's view of the job service: rows, and the user's requests to it.

    The rows of :attr:`model` show the service's jobs; nothing here keeps a
    job's state beyond them. A job names its node by name and the service
    gives it the node *as it is when it starts*, so a retry after fixing a
    port goes to the new port.

    Signals: ``finished(JobRow)`` when a job ends (also one that never
    started), ``added(JobRow)`` when one is queued.
    """

    finished = Signal(object)
    added = Signal(object)

    def __init__(self, bridge: CoreBridge, listener: ListenerControl, profiles: Profiles,
                 store: JobStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.listener = listener
        self.profiles = profiles
        self.model = JobTableModel(self)
        on_change, on_progress = bridge.job_callbacks()
        on_item, on_batch = bridge.batch_callbacks()
        self.service = JobService(
            store, bridge.log, local=lambda: profiles.local, listener=self._listener_for,
            nodes=lambda: list(profiles.nodes), on_change=on_change, on_progress=on_progress,
            on_send_progress=on_progress, debug=lambda: bridge.debug,
            batch_hint=self._batch_hint, on_batch_item=on_item, on_batch_progress=on_batch)
        bridge.job_changed.connect(self._changed)
        bridge.job_progress.connect(self._progress)
        bridge.batch_progress.connect(self._batch_progress)

    # -- asking ----------------------------------------------------------------------
    def submit(self, node: RemoteNode, scope: RetrieveScope, method: RetrieveMethod,
               label: str = "") -> JobRow:
        """Queue a retrieve of *scope* from *node*; it starts when the node has a slot."""
        return self.submit_many(node, [(scope, label)], method)[0]

    def submit_many(self, node: RemoteNode, scopes: list[tuple[RetrieveScope, str]],
                    method: RetrieveMethod) -> list[JobRow]:
        """Queue several retrieves from one node at once (one write, one insertion)."""
        records = self.service.submit_many(
            node, [(scope, label or describe_scope(scope)) for scope, label in scopes], method)
        return self._rows_for(records)

    def submit_batch(self, node: RemoteNode, method: RetrieveMethod, spec: BatchSpec,
                     items: list[BatchItem | ItemProgress], label: str,
                     storage_folder: Path | None = None) -> JobRow:
        """Queue a batch: one job (one row), or the same batch's job on record taken up
        again (the same list to the same node resumes where it stopped; its items the
        store holds unresolved take the resolution of *items*, the user's review)."""
        known = self.service.store.find_batch(spec.key, node.name)
        live = self.service.get(known.job_id) if known is not None else None
        if live is not None and not live.state.is_final:  # it runs here already
            return self._rows_for([live])[0]
        if known is not None:
            _keep_review(self.service.store, known.job_id, items)
        taken = self.service.take(known.job_id) if known is not None else None
        record = taken if taken is not None and not isinstance(taken, str) else \
            self.service.submit_batch(node, method, spec, items, label,
                                      storage_folder=storage_folder)
        return self._rows_for([record])[0]

    def submit_send(self, node: RemoteNode, selection: SendSelection, label: str) -> JobRow:
        """Queue a send of the archive's *selection* to *node* (C-STORE), in its queue."""
        return self._rows_for([self.service.submit_send(node, selection, label)])[0]

    def resume(self) -> list[JobRow]:
        """Take up the jobs a previous run left queued or running (see JobService.resume)."""
        return self._rows_for(self.service.resume())

    def retry(self, job_id: str) -> list[JobRow]:
        """Ask again for exactly what the job is missing, from the node as it is now."""
        row = self.model.find(job_id)
        if row is not None and row.kind is JobKind.SEND:
            return self._retry_send(row)
        if row is not None and row.kind is JobKind.BATCH:
            return self._retry_batch(row)
        if row is None or row.scope is None:
            return []
        node = self._node_named(row.node)
        if node is None:
            return []
        scope = row.scope
        scopes = row.outcome.retry_scopes(scope) if row.outcome is not None else [scope]
        label = row.what.removeprefix("retry: ")
        return self.submit_many(node, [(part, f"retry: {label}" if part is scope else
                                        f"retry: {_missing(part)} of {label}")
                                       for part in scopes], row.retrieve_method)

    def _retry_send(self, row: JobRow) -> list[JobRow]:
        """The instances the send failed to store; all of it if it never connected."""
        record = self.service.retry_failed(row.job_id)
        node = self._node_named(row.node)
        if record is None and row.send is not None and node is not None:
            record = self.service.submit_send(node, row.send, f"retry: {row.what}")
        return self._rows_for([record]) if record is not None else []

    def _retry_batch(self, row: JobRow) -> list[JobRow]:
        """The batch's items not done (failed, partial, never reached) run again, in the
        batch's own job and row, as ``qrscope jobs retry`` does."""
        record = self.service.retry_failed(row.job_id)
        if record is None:
            return []
        self.model.update(row.job_id, job_state=record.state, why="", batch=None)
        self._changed(record)
        self.added.emit(row)  # shown again on the batch view's run page
        return [row]

    def again_with(self, job_id: str, method: RetrieveMethod) -> JobRow | None:
        """The job's whole request again, by *method*, from the node as it is now."""
        row = self.model.find(job_id)
        node = self._node_named(row.node) if row is not None else None
        if row is None or row.scope is None or node is None:
            return None
        return self.submit(node, row.scope, method, f"{row.what} by {_method_words(method)}")

    def cancel(self, job_id: str) -> None:
        """Cancel exactly the job *job_id*: running (C-CANCEL) or queued."""
        self.service.cancel(job_id)

    def _node_named(self, name: str) -> RemoteNode | None:
        """The node as the profiles hold it now (a job keeps only the name)."""
        return next((n for n in self.profiles.nodes if n.name == name), None)

    def _listener_for(self, _folder: str) -> StorageListener | str:
        """The service's question before a C-MOVE to us: the listener, or why not."""
        why = self.listener.ready_for_move()
        running = self.listener.running
        return why or running or "our listener is not running"

    def _batch_hint(self, outcome: RetrieveOutcome) -> str:
        """The id of the hint for a batch item's retrieve (its job id is the batch's,
        a dot and a number), from a worker thread."""
        node = self.service.node_of(outcome.job_id.partition(".")[0])
        if node is None:
            return ""
        listener = self.listener.running
        found = hints_for_retrieve(outcome, node, self.profiles.local,
                                   listener_port=listener.port if listener else None)
        return found[0].id if found else ""

    def node_of(self, row: JobRow) -> RemoteNode | None:
        """The node a row's job talks to: the one it started with while it runs,
        otherwise the profile as it is now."""
        return self.service.node_of(row.job_id) or self._node_named(row.node)

    @property
    def running(self) -> bool:
        """Some retrieve is running (not merely queued)."""
        return self.service.running > 0

    @property
    def unfinished(self) -> int:
        """Jobs queued or running: what a quit leaves for the next start."""
        return self.service.unfinished

    def running_on(self, node_name: str) -> int:
        return self.service.running_on(node_name)

    def shutdown(self) -> None:
        """Window closing: what runs stops, and it and what waits resume at the next start."""
        self.service.shutdown()

    # -- the service's reports, on the GUI thread -------------------------------------
    def _rows_for(self, records: list[JobRecord]) -> list[JobRow]:
        """The rows of *records*, added to the model if they are not in it yet."""
        new = [_row(r) for r in records if self.model.row_of(r.job_id) < 0]
        self.model.add_many(new)
        for row in new:
            self.added.emit(row)
        rows = [self.model.find(r.job_id) for r in records]
        for record in records:  # changes reported before the rows existed
            self._changed(self.service.get(record.job_id) or record)
        return [r for r in rows if r is not None]

    def _changed(self, record: JobRecord) -> None:
        row = self.model.find(record.job_id)
        if row is None or row.job_state.is_final:
            return
        changes: dict[str, object] = {"job_state": record.state}
        if record.state.is_final and record.kind is JobKind.SEND:
            changes["send_outcome"] = record.send_outcome
            changes["why"] = record.summary
        elif record.state.is_final and record.kind is JobKind.BATCH:
            changes["batch"] = BatchCounts.of_items(self.service.store.batch_items(
                record.job_id))
            changes["why"] = record.summary
        elif record.state.is_final:
            outcome = record.outcome
            changes["outcome"] = outcome
            changes["why"] = describe_outcome(outcome) if outcome is not None else \
                record.summary
            stored = outcome.stored if outcome is not None else []
            folders = sorted({str(r.stored.path.parent.parent) for r in stored if r.stored})
            changes["folder"] = folders[0] if folders else ""
        self.model.update(record.job_id, **changes)
        if record.state.is_final:
            self.finished.emit(row)

    def _batch_progress(self, progress: BatchProgress) -> None:
        row = self.model.find(progress.job_id)
        if row is not None and not row.job_state.is_final and not progress.ended:
            self.model.update(progress.job_id, why=_batch_words(progress),
                              batch=BatchCounts.of_progress(progress))

    def _progress(self, progress: RetrieveProgress | SendProgress) -> None:
        row = self.model.find(progress.job_id)
        if row is None or row.job_state is not JobState.RUNNING:
            return
        if isinstance(progress, SendProgress):
            self.model.update(progress.job_id, send_progress=progress)
        else:
            self.model.update(progress.job_id, progress=progress)


def _keep_review(store: JobStore, job_id: str, items: list[BatchItem | ItemProgress]) -> None:
    """Batch *job_id*'s items not resolved yet take the review's answer in *items*."""
    reviewed = {p.index: p for p in items if isinstance(p, ItemProgress)
                and p.status is not ItemStatus.PENDING}
    for stored in store.batch_items(job_id):
        answer = reviewed.get(stored.index)
        if (stored.status is ItemStatus.PENDING and answer is not None
                and answer.item == stored.item):
            store.record_item(job_id, answer)


def _batch_words(progress: BatchProgress) -> str:
    """A batch's row's Why while it runs: where its items and instances stand."""
    open_ = progress.items - progress.counts.get("pending", 0) - progress.counts.get("found", 0)
    return (f"{open_}/{progress.items} items, {progress.instances_received}/"
            f"{progress.instances_expected} instances; {progress.note}")


def _row(record: JobRecord) -> JobRow:
    """A new row, queued: its state as it is now is applied by ``_changed``."""
    if record.kind is JobKind.SEND:
        return JobRow(job_id=record.job_id, what=record.label, node=record.node_name,
                      method="C-STORE", kind=JobKind.SEND, send=record.send)
    return JobRow(job_id=record.job_id, what=record.label or describe_scope(record.scope),
                  node=record.node_name, method=_method_words(record.method),
                  scope=record.scope, retrieve_method=record.method, kind=record.kind)


def _method_words(method: RetrieveMethod) -> str:
    return "C-MOVE" if method is RetrieveMethod.MOVE else "C-GET"


def _missing(part: RetrieveScope) -> str:
    return count(len(part.instance_uids), "missing instance")
