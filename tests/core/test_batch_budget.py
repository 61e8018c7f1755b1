"""A batch in the job service: one node budget with single jobs, pause and resume, progress.

The network is not the point here: the runner's C-FINDs and retrieves are
replaced by fakes that record what runs at once and hold each retrieve until
the test lets it go (as tests/core/test_jobs_queue_priority.py does for
single jobs). The runner, the service's queue and its slot lending are real.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

import pytest

from qrscope.core.batch import ahead as ahead_module
from qrscope.core.batch import runner as runner_module
from qrscope.core.batch.items import BatchItem, BatchSpec, FoundStudy, ItemStatus
from qrscope.core.batch.progress import BatchPhase, BatchProgress
from qrscope.core.batch.resolve import Resolution
from qrscope.core.jobs import JobService, JobState, JobStore
from qrscope.core.jobs.queues import LentSlots
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.receive.reception import ReceivedInstance
from qrscope.core.receive.storage import StoredInstance
from qrscope.core.retrieve.plan import PlannedInstance, RetrievePlan
from qrscope.core.retrieve.types import (
    RetrieveOutcome,
    RetrieveProgress,
    RetrieveScope,
    RetrieveState,
)

WAIT = 10.0  # seconds a condition may take before the test fails (never reached when well)
PER_STUDY = 3


class Node:
    """What runs against the fake node: batch retrieves and single jobs, counted together."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.started: list[str] = []
        self.paused_when_started: dict[str, bool] = {}
        self.running = 0
        self.most_at_once = 0
        self.on_disk: dict[str, set[str]] = {}
        self._gates: dict[str, threading.Event] = {}
        self.service: JobService | None = None
        self.batch_id = ""
        self.asking = 0
        self.lent = 0
        self.returned = 0
        self.planned: list[str] = []
        self.held: set[str] = set()
        """Studies whose resolving waits until ``release("resolve " + study)``."""

    def begin(self, label: str) -> threading.Event:
        with self.changed:
            self.started.append(label)
            if self.service is not None and self.batch_id:
                self.paused_when_started[label] = self.service.is_paused(self.batch_id)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.changed.notify_all()
            return self._gates.setdefault(label, threading.Event())

    def gate(self, label: str) -> threading.Event:
        with self.changed:
            return self._gates.setdefault(label, threading.Event())

    def end(self) -> None:
        with self.changed:
            self.running -= 1
            self.changed.notify_all()

    def release(self, *labels: str) -> None:
        with self.changed:
            for label in labels:
                self._gates.setdefault(label, threading.Event()).set()

    def wait_for(self, condition) -> None:
        with self.changed:
            assert self.changed.wait_for(condition, WAIT), (self.started, self.running)


def _uids(study: str) -> list[str]:
    return [f"{study}.{n}" for n in range(PER_STUDY)]


@pytest.fixture
def node(monkeypatch) -> Node:
    fake = Node()

    class Resolver:
        cancelled = False

        def __init__(self, *args, **kwargs) -> None:
            pass

        def cancel(self) -> None:
            self.cancelled = True

        def resolve(self, item: BatchItem) -> Resolution:
            if item.study_uid in fake.held:
                fake.gate(f"resolve {item.study_uid}").wait(WAIT)
            return Resolution(ItemStatus.FOUND, (FoundStudy(item.study_uid, instances=PER_STUDY),))

        def resolve_all(self, items: Iterable[BatchItem]) -> Iterator[Resolution]:
            return (self.resolve(item) for item in items)

    class Planner:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def cancel(self) -> None:
            pass

        def learn(self, scope: RetrieveScope) -> RetrievePlan:
            with fake.changed:
                fake.planned.append(scope.study_uid)
                fake.changed.notify_all()
            return RetrievePlan(scope, tuple(PlannedInstance(uid, "1.2", f"{scope.study_uid}.0")
                                             for uid in _uids(scope.study_uid)), complete=True)

    class Retrieve:
        def __init__(self, node, local, log, scope, *, method, on_progress=None, job_id="",
                     **kwargs) -> None:
            self.scope, self.method, self.job_id = scope, method, job_id
            self.on_progress = on_progress
            self._cancelled = False

        def cancel(self) -> None:
            self._cancelled = True
            fake.release(self.scope.study_uid)

        def run(self) -> RetrieveOutcome:
            study = self.scope.study_uid
            gate = fake.begin(study)
            gate.wait(WAIT)
            fake.end()
            if self._cancelled:
                return RetrieveOutcome(job_id=self.job_id, method=self.method, cancelled=True)
            received = []
            for count, uid in enumerate(_uids(study), 1):
                fake.on_disk.setdefault(study, set()).add(uid)
                received.append(ReceivedInstance(
                    uid, "1.2", "1.2.840.10008.1.2.1", "PACS", "US", "127.0.0.1", "a",
                    stored=StoredInstance(None, uid, "1.2", study, "", "", 1)))
                self.on_progress(RetrieveProgress(self.job_id, RetrieveState.RUNNING, None,
                                                  count, 0, 0, count, 1.0))
            return RetrieveOutcome(job_id=self.job_id, method=self.method, status="success",
                                   received=received)

    def single(service, record, run, local, listener, destination):
        gate = fake.begin(record.label)
        gate.wait(WAIT)
        fake.end()
        return None

    monkeypatch.setattr(runner_module, "Resolver", Resolver)
    monkeypatch.setattr(ahead_module, "RetrievePlanner", Planner)  # learns the items' plans
    monkeypatch.setattr(runner_module, "RetrieveJob", Retrieve)
    monkeypatch.setattr(runner_module, "local_instance_uids",
                        lambda _folder, study: set(fake.on_disk.get(study, ())))
    lend, give_back = LentSlots.acquire, LentSlots.release

    def acquire(self, cancel) -> bool:
        with fake.changed:
            fake.asking += 1
            fake.changed.notify_all()
        ok = lend(self, cancel)
        with fake.changed:
            fake.lent += ok
            fake.changed.notify_all()
        return ok

    def release(self) -> None:
        give_back(self)
        with fake.changed:
            fake.returned += 1
            fake.changed.notify_all()

    monkeypatch.setattr(LentSlots, "acquire", acquire)
    monkeypatch.setattr(LentSlots, "release", release)
    monkeypatch.setattr(JobService, "_retrieve", single)
    return fake


@pytest.fixture
def make_service(tmp_path) -> Iterator:
    made: list[JobService] = []

    def make(pacs: RemoteNode, **options) -> JobService:
        service = JobService(JobStore(tmp_path / f"jobs{len(made)}.sqlite3"), AssociationLog(),
                             local=lambda: LocalAE(storage_folder=tmp_path / "in"),
                             nodes=lambda: [pacs], **options)
        made.append(service)
        return service

    yield make
    for service in made:
        service.shutdown()


def _pacs(limit: int) -> RemoteNode:
    return RemoteNode(name="PACS", ae_title="PACS", host="127.0.0.1", port=104,
                      max_parallel_retrieves=limit)


def _items(*studies: str) -> list[BatchItem]:
    return [BatchItem(row=n, study_uid=study) for n, study in enumerate(studies, 2)]


def _batch(service: JobService, node: Node, pacs: RemoteNode, studies: list[str],
           parallel: int) -> str:
    record = service.submit_batch(pacs, RetrieveMethod.GET,
                                  BatchSpec(key="k", max_parallel=parallel), _items(*studies))
    node.service, node.batch_id = service, record.job_id
    return record.job_id


def test_a_batch_and_single_retrieves_share_the_nodes_limit_single_ones_first(
        node, make_service):
    pacs = _pacs(limit=2)
    service = make_service(pacs)
    studies = [f"1.2.{n}" for n in range(1, 5)]
    job = _batch(service, node, pacs, studies, parallel=4)  # the pace would allow 4
    node.wait_for(lambda: node.running == 2)
    single = service.submit(pacs, RetrieveScope.study("9.9"), RetrieveMethod.GET, label="single")
    assert service.get(single.job_id).state is JobState.QUEUED, "the node's two slots are taken"
    first = node.started[0]
    node.release(first)
    node.wait_for(lambda: "single" in node.started)
    assert node.started[2] == "single", "the freed slot went to the single retrieve"
    node.release("single", *studies)
    assert service.wait(WAIT)
    assert node.most_at_once == 2, "never more than the node's limit, batch and single together"
    assert service.get(job).state is JobState.SUCCESS
    assert service.get(single.job_id).state is JobState.SUCCESS


def test_the_pace_bounds_the_batchs_share_of_the_budget(node, make_service):
    pacs = _pacs(limit=3)
    service = make_service(pacs)
    studies = [f"1.2.{n}" for n in range(1, 4)]
    _batch(service, node, pacs, studies, parallel=1)
    node.wait_for(lambda: node.running == 1)
    service.submit_many(pacs, [(RetrieveScope.study("9.1"), "a"),
                               (RetrieveScope.study("9.2"), "b")], RetrieveMethod.GET)
    node.wait_for(lambda: node.running == 3)  # the batch's one and both single ones
    node.release("a", "b", *studies)
    assert service.wait(WAIT)
    assert node.most_at_once == 3


def test_a_paused_batch_starts_no_retrieve_until_resumed(node, make_service):
    pacs = _pacs(limit=1)
    seen: list[BatchProgress] = []
    service = make_service(pacs, on_batch_progress=seen.append)
    studies = ["1.2.1", "1.2.2", "1.2.3"]
    job = _batch(service, node, pacs, studies, parallel=2)
    node.wait_for(lambda: node.running == 1 and node.asking == 2)  # the next one waits
    assert service.pause(job)
    progress = service.batch_progress(job)
    assert progress.paused_by_user and progress.note == "paused by the user"
    node.release(node.started[0])  # the retrieve in flight finishes
    # The next item was waiting for the slot: it gets it, sees the pause, gives it back.
    node.wait_for(lambda: node.lent == 2 and node.returned == 2)
    assert len(node.started) == 1  # whichever item's thread took the slot first
    assert service.resume_paused(job) and not service.is_paused(job)
    node.release(*studies)
    assert service.wait(WAIT)
    assert service.get(job).state is JobState.SUCCESS
    assert node.paused_when_started == {s: False for s in studies}, (
        "no retrieve started while the batch was paused")
    assert any(p.phase is BatchPhase.PAUSED_BY_USER for p in seen)


def test_pausing_what_is_not_a_running_batch_does_nothing(node, make_service):
    pacs = _pacs(limit=1)
    service = make_service(pacs)
    single = service.submit(pacs, RetrieveScope.study("9.9"), RetrieveMethod.GET, label="s")
    assert not service.pause(single.job_id)
    assert not service.pause("j999")
    assert not service.resume_paused(single.job_id)
    node.release("s")
    assert service.wait(WAIT)


def test_a_cancelled_batch_ends_at_once_its_items_kept_for_the_next_run(node, make_service):
    pacs = _pacs(limit=2)
    service = make_service(pacs)
    studies = ["1.2.1", "1.2.2", "1.2.3"]
    job = _batch(service, node, pacs, studies, parallel=2)
    node.wait_for(lambda: node.running == 2)
    assert service.cancel(job)
    assert service.wait(WAIT)
    assert service.get(job).state is JobState.CANCELLED
    assert [p.status for p in service.store.batch_items(job)] == [ItemStatus.FOUND] * 3
    assert len(node.started) == 2, "no item started after the cancel"


def test_progress_counts_match_the_items_and_the_eta_waits_for_a_rate(node, make_service):
    pacs = _pacs(limit=1)
    seen: list[BatchProgress] = []
    service = make_service(pacs, on_batch_progress=seen.append)
    studies = ["1.2.1", "1.2.2"]
    job = _batch(service, node, pacs, studies, parallel=1)
    node.release(*studies)
    assert service.wait(WAIT)
    items = service.store.batch_items(job)
    for progress in seen:
        assert sum(progress.counts.values()) == progress.items == 2
    before = [p for p in seen if p.instances_received == 0]
    assert before and all(p.rate is None and p.eta is None for p in before)
    last = seen[-1]
    assert last.ended and last.counts["done"] == 2
    assert last.instances_received == sum(p.received for p in items) == 2 * PER_STUDY
    assert last.instances_expected == 2 * PER_STUDY
    assert last.rate is not None and last.eta == 0


def test_the_next_items_plan_is_learnt_while_the_item_before_is_fetched(node, make_service):
    pacs = _pacs(limit=1)
    service = make_service(pacs)
    studies = ["1.2.1", "1.2.2", "1.2.3"]
    job = _batch(service, node, pacs, studies, parallel=1)
    node.wait_for(lambda: node.running == 1 and "1.2.2" in node.planned)
    assert node.started == ["1.2.1"], "planned ahead, not started: it waits for its slot"
    assert "1.2.3" not in node.planned, "one item ahead at most"
    node.release(*studies)
    assert service.wait(WAIT)
    assert service.get(job).state is JobState.SUCCESS
    # The first item learns its plan on its own thread while the next one's is learnt
    # ahead: the two may be noted in either order.
    assert sorted(node.planned) == studies, "each plan learnt once"


def test_a_pause_drops_the_plan_prepared_ahead_and_it_is_learnt_again(node, make_service):
    pacs = _pacs(limit=1)
    service = make_service(pacs)
    studies = ["1.2.1", "1.2.2"]
    job = _batch(service, node, pacs, studies, parallel=1)
    node.wait_for(lambda: node.running == 1 and "1.2.2" in node.planned)
    assert service.pause(job)
    node.release("1.2.1")
    node.wait_for(lambda: node.running == 0)
    assert service.resume_paused(job)
    node.release("1.2.2")
    assert service.wait(WAIT)
    assert service.get(job).state is JobState.SUCCESS
    assert sorted(node.planned) == ["1.2.1", "1.2.2", "1.2.2"], "learnt again after the pause"


def test_the_first_rows_are_fetched_while_the_later_ones_are_still_resolved(
        node, make_service):
    pacs = _pacs(limit=1)
    service = make_service(pacs)
    studies = ["1.2.1", "1.2.2"]
    node.held = {"1.2.2"}
    job = _batch(service, node, pacs, studies, parallel=1)
    node.wait_for(lambda: node.running == 1)
    assert node.started == ["1.2.1"], "fetching began with row 2 still being resolved"
    assert service.store.batch_items(job)[1].status is ItemStatus.PENDING
    node.release("resolve 1.2.2", *studies)
    assert service.wait(WAIT)
    assert service.get(job).state is JobState.SUCCESS
    assert node.started == studies
