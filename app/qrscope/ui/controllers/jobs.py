"""The window's retrieve jobs: one registry, a queue per node, retry and switch of method."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from qrscope.core.profile_store import Profiles
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveOutcome, RetrieveProgress, RetrieveScope
from qrscope.ui.bridge import CoreBridge
from qrscope.ui.controllers.listener import ListenerControl
from qrscope.ui.job_words import describe_outcome, describe_scope
from qrscope.ui.models.jobs_model import JobRow, JobTableModel

__all__ = ["RETRIEVES_PER_NODE", "RetrieveJobs"]

RETRIEVES_PER_NODE = 2
"""Retrieves that run at once against one node; the others wait their turn.

A PACS is shared by every workstation of a department: ten studies selected
at once must not become ten parallel C-MOVEs, and two keep the pipe full.
"""

_KEYS = itertools.count(1)


@dataclass
class _Running:
    job: RetrieveJob
    node: RemoteNode


class RetrieveJobs(QObject):
    """Owns every retrieve job of the window, queued, running and done.

    The rows of :attr:`model` are the one registry: nothing else keeps a
    job's node, scope or outcome. A job names its node by name and is given
    the node *as it is when it starts*, so a retry after fixing a port goes
    to the new port. Jobs wait in a queue per node and at most
    :data:`RETRIEVES_PER_NODE` run at once on each.

    Signals: ``finished(JobRow)`` when a job ends (also one that never
    started), ``added(JobRow)`` when one is queued.
    """

    finished = Signal(object)
    added = Signal(object)

    def __init__(self, bridge: CoreBridge, listener: ListenerControl, profiles: Profiles,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.listener = listener
        self.profiles = profiles
        self.model = JobTableModel(self)
        self._queues: dict[str, deque[JobRow]] = {}
        self._running: dict[str, _Running] = {}  # core job id → the job and its node
        bridge.job_progress.connect(self._progress)
        bridge.job_finished.connect(self._finished)

    # -- asking ----------------------------------------------------------------------
    def submit(self, node: RemoteNode, scope: RetrieveScope, method: RetrieveMethod,
               label: str = "") -> JobRow:
        """Queue a retrieve of *scope* from *node*; it starts when the node has a slot."""
        row = JobRow(key=f"q{next(_KEYS)}", what=label or describe_scope(scope),
                     node=node.name, method=_method_words(method), scope=scope,
                     retrieve_method=method)
        self.model.add(row)
        self._queues.setdefault(node.name, deque()).append(row)
        self.added.emit(row)
        self._pump(node.name)
        return row

    def retry(self, job_id: str) -> list[JobRow]:
        """Ask again for exactly what the job is missing, from the node as it is now."""
        row = self.model.find(job_id)
        if row is None or row.scope is None:
            return []
        node = self._node_named(row.node)
        if node is None:
            return []
        scope = row.scope
        scopes = row.outcome.retry_scopes(scope) if row.outcome is not None else [scope]
        label = row.what.removeprefix("retry: ")
        return [self.submit(node, part, row.retrieve_method,
                            f"retry: {label}" if part is scope else
                            f"retry: {len(part.instance_uids)} missing instance(s) of {label}")
                for part in scopes]

    def again_with(self, job_id: str, method: RetrieveMethod) -> JobRow | None:
        """The job's whole request again, by *method*, from the node as it is now."""
        row = self.model.find(job_id)
        node = self._node_named(row.node) if row is not None else None
        if row is None or row.scope is None or node is None:
            return None
        return self.submit(node, row.scope, method,
                           f"{row.what} by {_method_words(method)}")

    def cancel(self, job_id: str) -> None:
        """Cancel a running job (C-CANCEL), or take a queued one out of its queue."""
        running = self._running.get(job_id)
        if running is not None:
            running.job.cancel()
            return
        row = self.model.find(job_id)
        if row is not None and row.queued:
            self._queues.get(row.node, deque()).remove(row)
            self._end_unstarted(row, "cancelled before it started")

    def _node_named(self, name: str) -> RemoteNode | None:
        """The node as the profiles hold it now (a job keeps only the name)."""
        return next((n for n in self.profiles.nodes if n.name == name), None)

    def _local(self) -> LocalAE:
        return self.profiles.local

    def node_of(self, row: JobRow) -> RemoteNode | None:
        """The node a row's job talks to: the one it started with while it runs,
        otherwise the profile as it is now."""
        running = self._running.get(row.job_id)
        return running.node if running is not None else self._node_named(row.node)

    @property
    def running(self) -> bool:
        """Some retrieve is running (not merely queued)."""
        return bool(self._running)

    def running_on(self, node_name: str) -> int:
        return sum(1 for r in self._running.values() if r.node.name == node_name)

    def shutdown(self) -> None:
        """Window closing: cancel what runs, forget what waits."""
        self._queues.clear()
        for running in list(self._running.values()):
            running.job.cancel()

    # -- running -----------------------------------------------------------------------
    def _pump(self, node_name: str) -> None:
        queue = self._queues.get(node_name)
        while queue and self.running_on(node_name) < RETRIEVES_PER_NODE:
            self._start(queue.popleft())

    def _start(self, row: JobRow) -> None:
        node = self._node_named(row.node)
        if node is None:
            self._end_unstarted(row, f"the node '{row.node}' no longer exists")
            return
        assert row.scope is not None
        local = self._local()
        to_us = row.retrieve_method is RetrieveMethod.MOVE and (
            not node.move_destination or node.move_destination == local.ae_title)
        if to_us:
            why = self.listener.ready_for_move()
            if why:
                self._end_unstarted(row, f"not started: {why}")
                return
        job, _future = self.bridge.start_retrieve(
            node, local, row.scope, row.retrieve_method,
            self.listener.running if to_us else None)
        self._running[job.job_id] = _Running(job, node)
        self.model.update(row.key, job_id=job.job_id)

    def _end_unstarted(self, row: JobRow, why: str) -> None:
        self.model.update(row.key, not_started=why, why=why)
        self.finished.emit(row)

    def _progress(self, progress: RetrieveProgress) -> None:
        self.model.update(progress.job_id, progress=progress)

    def _finished(self, job_id: str, outcome: RetrieveOutcome) -> None:
        running = self._running.pop(job_id, None)
        folders = sorted({str(r.stored.path.parent.parent) for r in outcome.stored if r.stored})
        self.model.update(job_id, outcome=outcome, why=describe_outcome(outcome),
                          folder=folders[0] if folders else "")
        row = self.model.find(job_id)
        if row is not None:
            self.finished.emit(row)
        if running is not None:
            self._pump(running.node.name)


def _method_words(method: RetrieveMethod) -> str:
    return "C-MOVE" if method is RetrieveMethod.MOVE else "C-GET"
