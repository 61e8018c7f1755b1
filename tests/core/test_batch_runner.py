"""A batch as a job of the job service, against the demo PACS in this process.

Each item's state is in the jobs file after every step; an item already on
disk costs no C-MOVE; a batch stopped half way resumes with what it had not
fetched; an old jobs file opens; a PACS that is busy is asked again, a
bounded number of times.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from tests.batch_studies import DUPLICATE, INSTANCES_PER_STUDY, accession
from tests.demo_site import start_demo_site

from qrscope.core.archive.index import open_index
from qrscope.core.batch import ahead as ahead_module
from qrscope.core.batch.input import parse_text
from qrscope.core.batch.items import BatchSpec, ItemProgress, ItemStatus
from qrscope.core.batch.pace import Pace
from qrscope.core.batch.resolve import Resolver
from qrscope.core.batch.runner import BatchRunner
from qrscope.core.batch.window import AvailabilityWindow
from qrscope.core.jobs import JobService, JobState, JobStore
from qrscope.core.jobs.records import JobKind
from qrscope.core.net.association_log import Direction
from qrscope.core.profiles import RetrieveMethod
from qrscope.core.query.find import shared_searches
from qrscope.core.receive.listener import StorageListener
from qrscope.core.receive.storage import InstanceStore
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.demo_pacs import DemoPacsBehaviour

STUDIES = 6



@pytest.fixture
def listener(site):
    listener = StorageListener(site.local, site.log, InstanceStore(site.local.storage_folder),
                               known_nodes=lambda: [site.node])
    listener.start()
    yield listener
    listener.stop()


def _moves(site) -> int:
    return sum(1 for e in site.log.events()
               if e.kind == "dimse-sent" and "C-MOVE-RQ" in e.summary)


def _service(tmp_path, site, listener, **options) -> JobService:
    return JobService(JobStore(tmp_path / "jobs.sqlite3"), site.log, local=lambda: site.local,
                      listener=lambda _folder: listener, **options)


def _text(*rows: str) -> list:
    return list(parse_text("\n".join(rows)).items)


def test_a_batch_resolves_fetches_and_reports_each_item(tmp_path, site, listener):
    report = tmp_path / "out" / "report.csv"
    written = []
    service = _service(tmp_path, site, listener,
                       on_batch_item=lambda job, p: written.append(p.status))
    items = _text(accession(1), "NOPE-1", DUPLICATE, accession(2))
    record = service.submit_batch(site.node, RetrieveMethod.MOVE,
                                  BatchSpec(key="k", report=str(report)), items)
    assert service.wait(120)
    ended = service.get(record.job_id)
    assert ended.kind is JobKind.BATCH and ended.state is JobState.PARTIAL
    stored = JobStore(tmp_path / "jobs.sqlite3").batch_items(record.job_id)
    assert [p.status for p in stored] == [ItemStatus.DONE, ItemStatus.NOT_FOUND,
                                          ItemStatus.AMBIGUOUS, ItemStatus.DONE]
    assert [(p.expected, p.received) for p in stored if p.status is ItemStatus.DONE] == [
        (INSTANCES_PER_STUDY, INSTANCES_PER_STUDY)] * 2
    assert written.count(ItemStatus.DONE) == 2, "each step was handed on as it happened"
    data = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["counts"]["done"] == 2 and data["counts"]["not-found"] == 1
    assert data["counts"]["ambiguous"] == 1 and data["instances_received"] == 4
    lines = report.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("row,asks,studies,status,expected,received,reason,hint")
    assert len(lines) == 5 and ",ambiguous," in lines[3]
    service.shutdown()


def _finds_by_accession(site) -> int:
    """The resolving C-FINDs (by accession number; a run's own ask by Study UID)."""
    return sum(1 for e in site.log.events() if e.kind == "dimse-sent"
               and e.detail.get("message") == "C-FIND-RQ"
               and (e.detail.get("identifier") or {}).get("AccessionNumber"))


def test_a_batch_of_reviewed_items_is_not_resolved_again(tmp_path, site, listener):
    """Items handed over resolved (a review) are kept so in the jobs file and fetched
    as they were resolved: no C-FIND resolves them a second time."""
    resolver = Resolver(site.node, site.local, site.log)
    reviewed = []
    for index, item in enumerate(_text(accession(5), "NOPE-2")):
        found = resolver.resolve(item)
        reviewed.append(ItemProgress(index=index, item=item, status=found.status,
                                     studies=found.studies, expected=found.expected,
                                     reason=found.reason))
    asked = _finds_by_accession(site)
    assert asked == 2
    service = _service(tmp_path, site, listener)
    record = service.submit_batch(site.node, RetrieveMethod.MOVE, BatchSpec(key="r"),
                                  reviewed)
    assert service.wait(120)
    stored = service.store.batch_items(record.job_id)
    assert [p.status for p in stored] == [ItemStatus.DONE, ItemStatus.NOT_FOUND]
    assert stored[0].studies == reviewed[0].studies
    assert _finds_by_accession(site) == asked, "the run resolved no item again"


def test_the_rows_of_a_batch_are_resolved_on_one_association(tmp_path, site, listener):
    service = _service(tmp_path, site, listener)
    record = service.submit_batch(site.node, RetrieveMethod.MOVE, BatchSpec(key="k"),
                                  _text("NOPE-1", "NOPE-2", DUPLICATE, "NOPE-3"))
    assert service.wait(120)
    stored = service.store.batch_items(record.job_id)
    assert [p.status for p in stored] == [ItemStatus.NOT_FOUND] * 2 + [
        ItemStatus.AMBIGUOUS, ItemStatus.NOT_FOUND]
    events = [e.kind for e in site.log.events()]
    expected = 1 if shared_searches() else 4  # stock: one a search (FindAssociation)
    assert events.count("established") == expected, "four rows, one association"
    assert events.count("released") == expected
    service.shutdown()


def test_a_batch_plans_its_items_on_one_association(tmp_path, site, listener, monkeypatch):
    """One association resolves the rows, the first item (started at once) plans on one
    of its own, one learns the plans of the items after it (ahead), one C-MOVE each:
    the planner's STUDY, SERIES and IMAGE C-FINDs no longer open one each."""
    monkeypatch.setattr(ahead_module, "IDLE_S", 3600.0)  # kept however slow the moves
    service = _service(tmp_path, site, listener)
    rows = [accession(n) for n in (1, 2, 3)]
    record = service.submit_batch(site.node, RetrieveMethod.MOVE,
                                  BatchSpec(key="p", max_parallel=1), _text(*rows))
    assert service.wait(120) and service.get(record.job_id).state is JobState.SUCCESS
    outgoing = [e for e in site.log.events() if e.direction is Direction.OUTGOING]
    finds = sum(1 for e in outgoing if e.kind == "dimse-sent" and "C-FIND-RQ" in e.summary)
    assert finds >= 1 + 3 * 3, "each row resolved, then each study's three levels"
    # stock pynetdicom: every search on an association of its own (FindAssociation)
    searches = 1 + 2 if shared_searches() else finds
    assert [e.kind for e in outgoing].count("established") == searches + len(rows)
    assert _moves(site) == len(rows)
    service.shutdown()


def test_an_item_complete_on_disk_costs_no_c_move(tmp_path, site, listener):
    service = _service(tmp_path, site, listener)
    first = service.submit_batch(site.node, RetrieveMethod.MOVE, BatchSpec(key="a"),
                                 _text(accession(3)))
    assert service.wait(120) and service.get(first.job_id).state is JobState.SUCCESS
    moves = _moves(site)
    sent = sum(site.pacs.store_attempts().values())
    second = service.submit_batch(site.node, RetrieveMethod.MOVE, BatchSpec(key="b"),
                                  _text(accession(3)))
    assert service.wait(120)
    assert service.get(second.job_id).state is JobState.SUCCESS
    [item] = service.store.batch_items(second.job_id)
    assert item.status is ItemStatus.SKIPPED and item.received == 0
    assert _moves(site) == moves, "no C-MOVE for a study already here"
    assert sum(site.pacs.store_attempts().values()) == sent
    service.shutdown()


def test_a_partial_item_fetches_only_its_missing_instances(tmp_path, site, listener):
    service = _service(tmp_path, site, listener)
    first = service.submit_batch(site.node, RetrieveMethod.MOVE, BatchSpec(key="a"),
                                 _text(accession(4)))
    assert service.wait(120)
    [item] = service.store.batch_items(first.job_id)
    study = item.studies[0].study_uid
    gone = next(p for p in site.local.storage_folder.rglob("*.dcm")
                if ".incoming" not in p.parts)
    index = open_index(site.local.storage_folder)
    before = index.instance_uids(study)
    index.remove([index.name_for(gone)])  # as `qrscope archive delete` of one file does
    gone.unlink()
    attempts = Counter(site.pacs.store_attempts())
    second = service.submit_batch(site.node, RetrieveMethod.MOVE, BatchSpec(key="b"),
                                  _text(accession(4)))
    assert service.wait(120)
    [again] = service.store.batch_items(second.job_id)
    sent = Counter(site.pacs.store_attempts()) - attempts
    assert len(before) == INSTANCES_PER_STUDY
    assert again.status is ItemStatus.DONE and again.received == 1
    assert sum(sent.values()) == 1, "only the instance taken away is sent again"
    service.shutdown()


def _ended(site) -> bool:
    """Every association we opened has ended."""
    opened, ended = set(), set()
    for event in site.log.events():
        if event.direction is Direction.OUTGOING:
            if event.kind == "established":
                opened.add(event.association_id)
            elif event.kind in ("released", "aborted", "connection-closed"):
                ended.add(event.association_id)
    return opened <= ended


# A thread of the batch that raises (writing after the jobs file closed) fails the test.
@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_batch_stopped_half_way_resumes_without_fetching_twice(tmp_path, batch_folder):
    slow = DemoPacsBehaviour(sub_operation_delay=0.2)
    site = start_demo_site(batch_folder, tmp_path / "received", behaviour=slow)
    listener = StorageListener(site.local, site.log, InstanceStore(site.local.storage_folder),
                               known_nodes=lambda: [site.node])
    listener.start()
    try:
        half = []
        service = _service(tmp_path, site, listener,
                           on_batch_item=lambda job, p: half.append(p.status))
        items = _text(*(accession(n) for n in range(1, STUDIES + 1)))
        record = service.submit_batch(site.node, RetrieveMethod.MOVE,
                                      BatchSpec(key="k", max_parallel=1), items)
        deadline = time.monotonic() + 60
        while half.count(ItemStatus.DONE) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        service.shutdown()  # as a quit does: the record stays 'running'
        service.store.close()
        # A quit's process ends with its associations; here the cancelled C-MOVE ends
        # when the PACS answers, and the next run must not start beside it: a C-CANCEL
        # sent just after the C-MOVE-RQ is lost by pynetdicom's SCP (it clears its
        # cancel requests as the handler starts), and the demo PACS then sends it all.
        while not _ended(site) and time.monotonic() < deadline:
            time.sleep(0.05)
        resumed = _service(tmp_path, site, listener)
        taken = resumed.take(record.job_id)
        assert not isinstance(taken, str) and taken.interrupted == 1
        assert resumed.wait(120)
        assert resumed.get(record.job_id).state is JobState.SUCCESS
        done = [p.status for p in resumed.store.batch_items(record.job_id)]
        # The item in flight at the stop is done, or skipped when its cancelled C-MOVE
        # brought everything before it ended (the C-CANCEL lost, as above).
        assert set(done) <= {ItemStatus.DONE, ItemStatus.SKIPPED} and len(done) == STUDIES
        assert done.count(ItemStatus.SKIPPED) <= 1
        attempts = site.pacs.store_attempts()
        assert len(attempts) == STUDIES * INSTANCES_PER_STUDY
        twice = {uid: n for uid, n in attempts.items() if n > 1}
        assert len(twice) <= 1, f"only the instance on the wire at the stop goes again: {twice}"
        resumed.shutdown()
    finally:
        listener.stop()
        site.pacs.stop()


def test_a_busy_pacs_is_asked_again_a_bounded_number_of_times(tmp_path, batch_folder):
    busy = DemoPacsBehaviour(refuse_retrieves_with=0xA702)
    site = start_demo_site(batch_folder, tmp_path / "received", behaviour=busy)
    try:
        resolved = []
        pace = Pace(2, busy_pause=0.01, retry_base=0.01, max_attempts=3)
        runner = BatchRunner(
            site.node, site.local, site.log,
            [ItemProgress(index=0, item=_text(accession(5))[0])], method=RetrieveMethod.GET,
            on_item=resolved.append, pace=pace)
        result = runner.run()
        [item] = result.items
        assert item.status is ItemStatus.FAILED and item.attempts == 3
        assert "busy" in item.reason and "A702" in item.reason
        assert pace.changes and pace.changes[0].new == 1, "the pace backed off"
    finally:
        site.pacs.stop()


def test_a_version_2_jobs_file_opens_with_its_jobs_and_gains_what_came_since(tmp_path, site):
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    service = JobService(store, site.log, local=lambda: site.local, per_node=0)
    job = service.submit(site.node, RetrieveScope.study("1.2.3.4"), RetrieveMethod.GET)
    service.shutdown()
    store.close()
    with sqlite3.connect(path) as db:  # as qrscope before batches left it
        db.execute("DROP TABLE batch_items")
        db.execute("ALTER TABLE jobs DROP COLUMN retry_of")
        db.execute("ALTER TABLE jobs DROP COLUMN priority")
        db.execute("PRAGMA user_version=2")
    reopened = JobStore(path)
    assert [r.job_id for r in reopened.records()] == [job.job_id]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 5
        assert db.execute("SELECT count(*) FROM batch_items").fetchone()[0] == 0
        assert db.execute("SELECT retry_of, priority FROM jobs").fetchall() == [("", 0)]
    reopened.close()


def test_outside_its_window_a_batch_resolves_but_starts_no_retrieve(tmp_path, site):
    now = datetime.now()
    closed = AvailabilityWindow.parse(f"{(now + timedelta(hours=2)):%H:00}-"
                                      f"{(now + timedelta(hours=3)):%H:00}")
    resolved = threading.Event()
    runner = BatchRunner(
        site.node, site.local, site.log, [ItemProgress(index=0, item=_text(accession(6))[0])],
        method=RetrieveMethod.GET, pace=Pace(2), window=closed,
        on_item=lambda p: p.status is ItemStatus.FOUND and resolved.set())
    thread = threading.Thread(target=runner.run)
    thread.start()
    assert resolved.wait(60)
    runner.cancel()
    thread.join(60)
    assert runner.items[0].status is ItemStatus.FOUND, "left for the window to open"
    assert not any(e.kind == "dimse-sent" and "C-GET-RQ" in e.summary
                   for e in site.log.events())


def test_a_single_retrieve_asked_during_a_batch_goes_before_its_last_item(tmp_path,
                                                                          batch_folder):
    slow = DemoPacsBehaviour(sub_operation_delay=0.1)
    site = start_demo_site(batch_folder, tmp_path / "received", behaviour=slow)
    node = replace(site.node, max_parallel_retrieves=1)
    listener = StorageListener(site.local, site.log, InstanceStore(site.local.storage_folder),
                               known_nodes=lambda: [node])
    listener.start()
    order: list[str] = []
    single: list[str] = []

    def item(_job: str, progress: ItemProgress) -> None:
        if progress.status.is_final and progress.studies:
            order.append(f"item {progress.index}")
            if not single:  # asked from the window while the batch runs
                single.append(service.submit(node, RetrieveScope.study(
                    progress.studies[0].study_uid), RetrieveMethod.MOVE,
                    label="single").job_id)

    def changed(record) -> None:
        # By its label: it may start before submit() has returned its id.
        if record.label == "single" and record.state is JobState.RUNNING:
            order.append("single")

    try:
        service = _service(tmp_path, site, listener, nodes=lambda: [node],
                           on_batch_item=item, on_change=changed)
        record = service.submit_batch(node, RetrieveMethod.MOVE, BatchSpec(key="k"),
                                      _text(*(accession(n) for n in range(1, 4))))
        assert service.wait(120)
        assert service.get(record.job_id).state is JobState.SUCCESS
        assert service.get(single[0]).state is JobState.SUCCESS
        assert order.index("single") < order.index("item 2"), order
        service.shutdown()
    finally:
        listener.stop()
        site.pacs.stop()
