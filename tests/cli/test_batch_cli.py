"""``qrscope batch``: the command line over a batch, against the demo PACS.

Exit codes as the issue names them (0 all done or skipped, 1 any partial,
failed, not found or ambiguous, 2 invalid input, 3 PACS unreachable), the
``--json`` object, the report, ``--dry-run``, the same command resuming the
same batch, and ``kill -9`` half way through: the same command finishes it
without fetching again what was on disk.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.batch_studies import DUPLICATE, INSTANCES_PER_STUDY, accession
from tests.demo_site import start_demo_site

from qrscope.cli.main import main
from qrscope.core.jobs import jobs_path_beside
from qrscope.core.profile_store import Profiles, ProfileStore
from qrscope.demo_pacs import DemoPacsBehaviour

STUDIES = 8
DEADLINE_S = 120.0



def _profiles(site, tmp_path) -> Path:
    path = tmp_path / "profiles.json"
    ProfileStore(path).save(Profiles(local=site.local, nodes=[site.node]))
    return path


def _csv(tmp_path, *accessions: str) -> Path:
    path = tmp_path / "list.csv"
    path.write_text("Accession,Note\n" + "".join(f"{a},n{i}\n" for i, a in
                                                 enumerate(accessions)), encoding="utf-8")
    return path


def _batch(config: Path, path: Path, *extra: str) -> list[str]:
    return ["batch", str(path), "--config", str(config), "--node", "Demo", "--json", *extra]


def test_a_list_is_resolved_fetched_and_reported(site, tmp_path, capsys):
    config = _profiles(site, tmp_path)
    path = _csv(tmp_path, accession(1), "NOPE", DUPLICATE, accession(2))
    report = tmp_path / "report.csv"
    assert main(_batch(config, path, "--report", str(report))) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["items"] == 4 and out["instances_received"] == 2 * INSTANCES_PER_STUDY
    assert out["counts"] == {"done": 2, "partial": 0, "failed": 0, "not-found": 1,
                             "ambiguous": 1, "skipped": 0, "pending": 0}
    assert [(r["row"], r["status"]) for r in out["rows"]] == [
        (2, "done"), (3, "not-found"), (4, "ambiguous"), (5, "done")]
    assert len(out["rows"][2]["studies"]) == 2 and "2 studies" in out["rows"][2]["reason"]
    assert out["rows"][0]["input"] == {"Accession": accession(1), "Note": "n0"}
    assert report.is_file() and report.with_suffix(".json").is_file()


def test_all_done_is_exit_0_and_the_same_command_again_fetches_nothing(site, tmp_path,
                                                                      capsys):
    config = _profiles(site, tmp_path)
    path = _csv(tmp_path, accession(3), accession(4))
    assert main(_batch(config, path)) == 0
    capsys.readouterr()
    sent = sum(site.pacs.store_attempts().values())
    assert main(_batch(config, path)) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["counts"]["done"] == 2 and sum(site.pacs.store_attempts().values()) == sent
    with sqlite3.connect(jobs_path_beside(config)) as db:
        assert db.execute("SELECT count(*) FROM jobs WHERE kind='batch'").fetchone()[0] == 1
    assert main(_batch(config, path, "--restart")) == 0
    restarted = json.loads(capsys.readouterr().out)
    assert restarted["counts"]["skipped"] == 2, "started over: the studies were on disk"
    assert sum(site.pacs.store_attempts().values()) == sent


def test_dry_run_reviews_without_fetching(site, tmp_path, capsys):
    config = _profiles(site, tmp_path)
    path = _csv(tmp_path, accession(5), "NOPE")
    assert main(_batch(config, path, "--dry-run")) == 1
    out = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in out["rows"]] == ["found", "not-found"]
    assert out["rows"][0]["expected"] == INSTANCES_PER_STUDY
    assert site.pacs.store_attempts() == {}


def test_invalid_input_is_exit_2_with_the_reason(site, tmp_path, capsys):
    config = _profiles(site, tmp_path)
    path = tmp_path / "list.csv"
    path.write_text("Name,Comment\nSmith,x\n", encoding="utf-8")
    assert main(_batch(config, path)) == 2
    assert "no column of accession numbers" in capsys.readouterr().err
    assert main(_batch(config, path, "--column", "AccessionNumber=Name", "--window",
                       "25:00-06:00")) == 2


def test_a_pacs_out_of_reach_is_exit_3(site, tmp_path, capsys):
    config = _profiles(site, tmp_path)
    path = _csv(tmp_path, accession(1))
    assert main(["batch", str(path), "--config", str(config), "--host", "127.0.0.1",
                 "--port", "1", "--called-aet", "GONE"]) == 3
    assert "could not be reached" in capsys.readouterr().err


# -- kill -9 half way --------------------------------------------------------------------
def _done_items(jobs: Path) -> int:
    if not jobs.exists():
        return 0
    try:
        with sqlite3.connect(jobs) as db:
            return db.execute("SELECT count(*) FROM batch_items WHERE status='done'"
                              ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_kill_9_half_way_then_the_same_command_finishes_fetching_nothing_twice(
        batch_folder, tmp_path, capsys):
    site = start_demo_site(batch_folder, tmp_path / "received",
                           behaviour=DemoPacsBehaviour(sub_operation_delay=0.15))
    try:
        config = _profiles(site, tmp_path)
        path = _csv(tmp_path, *(accession(n) for n in range(1, STUDIES + 1)))
        command = [sys.executable, "-m", "qrscope", *_batch(config, path, "--max-parallel",
                                                             "1")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        jobs = jobs_path_beside(config)
        deadline = time.monotonic() + DEADLINE_S
        while _done_items(jobs) < STUDIES // 2 and time.monotonic() < deadline:
            assert child.poll() is None, "the batch ended before half way"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        on_disk = {p for p in site.local.storage_folder.rglob("*.dcm")
                   if ".incoming" not in p.parts}
        sent_before = dict(site.pacs.store_attempts())
        assert main(_batch(config, path)) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["counts"]["done"] == STUDIES
        attempts = site.pacs.store_attempts()
        assert len(attempts) == STUDIES * INSTANCES_PER_STUDY
        again = {uid for uid, n in attempts.items() if n > sent_before.get(uid, 0)
                 and sent_before.get(uid, 0) > 0}
        assert len(again) <= 1, f"only an instance on the wire at the kill goes again: {again}"
        assert len(on_disk) >= STUDIES // 2 * INSTANCES_PER_STUDY
    finally:
        site.pacs.stop()


def test_jobs_retry_of_a_batch_fetches_its_failed_items_again(site, tmp_path, capsys):
    """``qrscope jobs retry`` of a batch does what the window's Retry failed does: the
    batch's failed items again, in the same job; a not-found one is left be."""
    config = _profiles(site, tmp_path)
    where = site.pacs.destinations.lookup(site.local.ae_title)
    site.pacs.remove_destination(site.local.ae_title)  # every C-MOVE refused (0xA801)
    assert main(_batch(config, _csv(tmp_path, accession(5), "NOPE"))) == 1
    first = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in first["rows"]] == ["failed", "not-found"]
    assert main(["jobs", "--config", str(config), "--json"]) == 0
    [job] = json.loads(capsys.readouterr().out)
    assert job["priority"] == "batch", "a batch waits behind single retrieves"
    site.pacs.add_destination(site.local.ae_title, *where)
    assert main(["jobs", "retry", job["job_id"], "--config", str(config), "--json"]) == 1
    again = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in again["rows"]] == ["done", "not-found"]
    assert again["instances_received"] == INSTANCES_PER_STUDY
    assert main(["jobs", "--config", str(config), "--json"]) == 0
    assert [j["job_id"] for j in json.loads(capsys.readouterr().out)] == [job["job_id"]]
