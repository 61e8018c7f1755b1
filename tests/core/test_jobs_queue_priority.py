"""The job queue: single retrieves go ahead of batch items; a node's own parallel limit.

The retrieve itself is replaced by a fake runner that records when each job
starts and holds it until the test lets it go: what is tested is the queue,
not the network.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from qrscope.core.jobs import JobService, JobState, JobStore
from qrscope.core.jobs.service import JobPriority
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.retrieve.types import RetrieveScope

WAIT = 10.0  # seconds a condition may take before the test fails (never reached when well)


class FakeRunner:
    """Stands in for ``JobService._retrieve``: counts what runs, holds each job."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.started: list[str] = []
        self.running = 0
        self.most_at_once = 0
        self._release: dict[str, threading.Event] = {}

    def __call__(self, record, run, local, listener, destination):
        with self.changed:
            self.started.append(record.label)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            gate = self._release.setdefault(record.label, threading.Event())
            self.changed.notify_all()
        gate.wait(WAIT)
        with self.changed:
            self.running -= 1
            self.changed.notify_all()
        return None  # nothing had to be asked for: the job ends a success

    def release(self, label: str) -> None:
        with self.changed:
            self._release.setdefault(label, threading.Event()).set()

    def wait_started(self, count: int) -> list[str]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.started) >= count, WAIT), self.started
            return list(self.started)


@pytest.fixture
def runner(monkeypatch) -> FakeRunner:
    fake = FakeRunner()
    monkeypatch.setattr(JobService, "_retrieve", fake)
    return fake


@pytest.fixture
def make_service(tmp_path) -> Iterator:
    made: list[JobService] = []

    def make(nodes: list[RemoteNode], per_node: int = 2) -> JobService:
        service = JobService(JobStore(tmp_path / f"jobs{len(made)}.sqlite3"), AssociationLog(),
                             local=lambda: LocalAE(storage_folder=tmp_path / "in"),
                             nodes=lambda: nodes, per_node=per_node)
        made.append(service)
        return service

    yield make
    for service in made:
        service.shutdown()


def _node(limit: int = 0) -> RemoteNode:
    return RemoteNode(name="PACS", ae_title="PACS", host="127.0.0.1", port=104,
                      max_parallel_retrieves=limit)


def _scopes(*labels: str) -> list[tuple[RetrieveScope, str]]:
    return [(RetrieveScope.study(f"1.2.3.{n}"), label) for n, label in enumerate(labels, 1)]


def test_a_single_retrieve_asked_later_starts_before_queued_batch_items(runner, make_service):
    node = _node(limit=1)
    service = make_service([node])
    batch = [f"batch {n}" for n in range(5)]
    service.submit_many(node, _scopes(*batch), RetrieveMethod.GET, priority=JobPriority.BATCH)
    assert runner.wait_started(1) == ["batch 0"]
    service.submit(node, RetrieveScope.study("1.2.3.99"), RetrieveMethod.GET, label="single")
    for label in ["batch 0", "single", *batch[1:]]:
        runner.release(label)
    assert service.wait(WAIT)
    assert runner.started == ["batch 0", "single", *batch[1:]]
    assert runner.most_at_once == 1


def test_without_a_priority_a_retrieve_is_a_single_one_and_waits_its_turn(runner, make_service):
    node = _node(limit=1)
    service = make_service([node])
    service.submit_many(node, _scopes("first", "second"), RetrieveMethod.GET)
    runner.wait_started(1)
    service.submit(node, RetrieveScope.study("1.2.3.99"), RetrieveMethod.GET, label="third")
    for label in ("first", "second", "third"):
        runner.release(label)
    assert service.wait(WAIT)
    assert runner.started == ["first", "second", "third"]


def test_a_nodes_own_limit_is_honoured(runner, make_service):
    node = _node(limit=2)
    service = make_service([node], per_node=4)
    labels = [f"job {n}" for n in range(6)]
    records = service.submit_many(node, _scopes(*labels), RetrieveMethod.GET,
                                  priority=JobPriority.BATCH)
    assert sorted(runner.wait_started(2)) == labels[:2]  # the two run at once: any order
    assert service.running_on("PACS") == 2
    for label in labels:
        runner.release(label)
    assert service.wait(WAIT)
    assert runner.most_at_once == 2 and sorted(runner.started) == labels
    assert {service.get(r.job_id).state for r in records} == {JobState.SUCCESS}


def test_without_a_limit_of_its_own_a_node_gets_the_services(runner, make_service):
    node = _node()
    service = make_service([node], per_node=3)
    labels = [f"job {n}" for n in range(5)]
    service.submit_many(node, _scopes(*labels), RetrieveMethod.GET)
    assert sorted(runner.wait_started(3)) == labels[:3]
    for label in labels:
        runner.release(label)
    assert service.wait(WAIT)
    assert runner.most_at_once == 3


def test_a_queued_batch_item_is_cancelled_exactly(runner, make_service):
    node = _node(limit=1)
    service = make_service([node])
    records = service.submit_many(node, _scopes("a", "b", "c"), RetrieveMethod.GET,
                                  priority=JobPriority.BATCH)
    runner.wait_started(1)
    assert service.cancel(records[1].job_id)
    for label in ("a", "c"):
        runner.release(label)
    assert service.wait(WAIT)
    assert runner.started == ["a", "c"]
    assert service.get(records[1].job_id).state is JobState.CANCELLED


def test_a_queued_jobs_priority_survives_a_restart(runner, tmp_path):
    node = _node(limit=1)
    path = tmp_path / "jobs.sqlite3"
    first = JobService(JobStore(path), AssociationLog(),
                       local=lambda: LocalAE(storage_folder=tmp_path / "in"),
                       nodes=lambda: [node])
    first.submit_many(node, _scopes("batch 0", "batch 1"), RetrieveMethod.GET,
                      priority=JobPriority.BATCH)
    runner.wait_started(1)
    first.shutdown()
    first.store.close()
    runner.release("batch 0")
    again = JobService(JobStore(path), AssociationLog(),
                       local=lambda: LocalAE(storage_folder=tmp_path / "in"),
                       nodes=lambda: [node])
    try:
        runner.release("batch 1")
        resumed = again.resume()
        assert [r.priority for r in resumed] == [JobPriority.BATCH, JobPriority.BATCH]
        assert again.wait(WAIT)
    finally:
        again.shutdown()
