"""`qrscope retrieve` runs as a job; `qrscope jobs [resume]` lists and finishes jobs."""

from __future__ import annotations

import json
from pathlib import Path

from qrscope.cli.main import main
from qrscope.core.jobs import JobService, JobState, JobStore, jobs_path_beside
from qrscope.core.profile_store import Profiles, ProfileStore
from qrscope.core.profiles import RetrieveMethod
from qrscope.core.retrieve.types import RetrieveScope


def _profiles(demo, tmp_path) -> Path:
    """A profiles file naming the demo PACS and storing in the test's folder."""
    path = tmp_path / "profiles.json"
    ProfileStore(path).save(Profiles(local=demo.local, nodes=[demo.node]))
    return path


def _studies(demo) -> dict[str, int]:
    counts: dict[str, int] = {}
    for instance in demo.pacs.instances:
        uid = instance.text("StudyInstanceUID")
        counts[uid] = counts.get(uid, 0) + 1
    return counts


def test_a_command_line_retrieve_is_a_job_on_record(demo, capsys, tmp_path):
    config = _profiles(demo, tmp_path)
    study, count = max(_studies(demo).items(), key=lambda item: item[1])
    assert main(["retrieve", "--config", str(config), "--node", demo.node.name,
                 "--study", study, "--json"]) == 0
    retrieved = json.loads(capsys.readouterr().out)
    assert main(["jobs", "--config", str(config), "--json"]) == 0
    [job] = json.loads(capsys.readouterr().out)
    assert job["job_id"] == retrieved["job_id"]
    assert job["state"] == "success" and job["received"] == count
    assert job["scope"]["study_uid"] == study and job["node"] == demo.node.name
    assert job["priority"] == "single", "its lane in the node's queue"
    assert main(["jobs", "--config", str(config)]) == 0
    line = capsys.readouterr().out
    assert retrieved["job_id"] in line and " single " in line


def test_jobs_resume_runs_what_was_left_queued_to_the_end(demo, capsys, tmp_path):
    config = _profiles(demo, tmp_path)
    studies = sorted(_studies(demo).items())[:2]
    # A process that queued two jobs and ended before starting them.
    left = JobService(JobStore(jobs_path_beside(config)), demo.log, local=lambda: demo.local,
                      per_node=0)
    ids = [r.job_id for r in left.submit_many(
        demo.node, [(RetrieveScope.study(uid), uid) for uid, _n in studies],
        RetrieveMethod.MOVE)]
    left.shutdown()
    left.store.close()
    assert main(["jobs", "resume", "--config", str(config), "--json"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert [j["job_id"] for j in resumed] == ids
    assert [(j["state"], j["received"]) for j in resumed] == [
        ("success", n) for _uid, n in studies]
    records = JobStore(jobs_path_beside(config)).records()
    assert [r.state for r in records] == [JobState.SUCCESS] * 2
    assert main(["jobs", "resume", "--config", str(config)]) == 0
    assert "no unfinished" in capsys.readouterr().out
