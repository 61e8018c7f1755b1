"""The job service: ids from creation, exact cancel, a record on disk, a damaged file."""

from __future__ import annotations

import sqlite3

from qrscope.core.jobs import JobService, JobState, JobStore
from qrscope.core.profiles import RemoteNode, RetrieveMethod
from qrscope.core.retrieve.types import RetrieveScope

STUDIES = [f"1.2.3.{n}" for n in range(1, 5)]


def _idle_service(tmp_path, demo) -> JobService:
    """A service that starts nothing (no slot on any node): every job stays queued."""
    return JobService(JobStore(tmp_path / "jobs.sqlite3"), demo.log, local=lambda: demo.local,
                      per_node=0)


def test_queued_jobs_have_ids_and_cancel_takes_out_exactly_the_one_named(tmp_path, demo):
    service = _idle_service(tmp_path, demo)
    records = service.submit_many(demo.node, [(RetrieveScope.study(uid), uid)
                                              for uid in STUDIES], RetrieveMethod.MOVE)
    ids = [r.job_id for r in records]
    assert all(ids) and len(set(ids)) == len(ids)
    assert service.cancel(ids[-1])
    assert service.get(ids[-1]).state is JobState.CANCELLED
    assert [service.get(i).state for i in ids[:-1]] == [JobState.QUEUED] * 3
    assert not service.cancel(ids[-1]), "a job is cancelled once"
    assert service.cancel(ids[1])
    on_disk = {r.job_id: r.state for r in JobStore(tmp_path / "jobs.sqlite3").records()}
    assert on_disk == {ids[0]: JobState.QUEUED, ids[1]: JobState.CANCELLED,
                       ids[2]: JobState.QUEUED, ids[3]: JobState.CANCELLED}
    service.shutdown()


def test_each_state_change_is_written_and_readable_while_the_service_runs(tmp_path, demo):
    changes = []
    path = tmp_path / "jobs.sqlite3"
    service = JobService(JobStore(path), demo.log, local=lambda: demo.local,
                         on_change=lambda r: changes.append((r.job_id, r.state)))
    study = demo.pacs.instances[0].text("StudyInstanceUID")
    job = service.submit(demo.node, RetrieveScope.study(study), RetrieveMethod.GET, "one study")
    assert service.wait(60)
    assert [state for _id, state in changes] == [JobState.QUEUED, JobState.RUNNING,
                                                 JobState.SUCCESS]
    [record] = JobStore(path).records()  # another reader, as `qrscope jobs` is
    assert record.job_id == job.job_id and record.state is JobState.SUCCESS
    assert record.received == record.expected > 0
    assert record.started and record.ended and record.created <= record.started <= record.ended
    assert record.label == "one study" and record.node_name == demo.node.name
    assert record.scope.study_uid == study and record.method is RetrieveMethod.GET
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    service.shutdown()


def test_a_damaged_jobs_file_is_set_aside_and_a_new_one_started(tmp_path, demo):
    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    store = JobStore(path)
    assert store.warnings and "set aside" in store.warnings[0]
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("jobs.sqlite3.damaged-")]
    assert len(aside) == 1 and aside[0].read_bytes().endswith(b"\xff" * 16)
    service = JobService(store, demo.log, local=lambda: demo.local, per_node=0)
    record = service.submit(demo.node, RetrieveScope.study(STUDIES[0]), RetrieveMethod.MOVE)
    assert [r.job_id for r in JobStore(path).records()] == [record.job_id]
    service.shutdown()


def test_a_job_of_an_unknown_node_keeps_the_node_it_was_asked_with(tmp_path, demo):
    """`qrscope retrieve --host ...`: the node is in no profile, yet a resume needs it."""
    service = _idle_service(tmp_path, demo)
    node = RemoteNode(name="ADHOC@127.0.0.1", ae_title="ADHOC", host="127.0.0.1", port=11999)
    service.submit(node, RetrieveScope.study(STUDIES[0]), RetrieveMethod.GET)
    service.shutdown()
    [record] = JobStore(tmp_path / "jobs.sqlite3").claim_unfinished()
    assert record.node == node and record.state is JobState.QUEUED
