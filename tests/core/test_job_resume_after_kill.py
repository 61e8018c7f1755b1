"""A process running retrieve jobs is killed (``kill -9``); the next one finishes them.

The jobs file and the storage folder are all that survive. The second
service must take the interrupted jobs up again, ask the PACS only for what
is not on disk, and run the jobs that were still queued as they were.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.demo_site import free_port

from qrscope.core.jobs import JobService, JobState, JobStore
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.receive.listener import StorageListener
from qrscope.core.receive.storage import InstanceStore
from qrscope.demo_pacs import DemoPacs, DemoPacsBehaviour

# The process that is killed: a job service with four retrieves, two running.
CHILD = """
import json, sys, threading
from tests.core.test_job_resume_after_kill import start_service
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.core.profiles import RetrieveMethod

setup = json.loads(sys.argv[1])
service, node, _listener = start_service(setup)
service.submit_many(node, [(RetrieveScope.study(uid), uid) for uid in setup["studies"]],
                    RetrieveMethod.MOVE)
threading.Event().wait()  # until killed
"""
DEADLINE_S = 120.0
"""Generous for a loaded two-core machine: the whole run takes about ten seconds."""


def start_service(setup: dict) -> tuple[JobService, RemoteNode, StorageListener]:
    """A listener and a job service on the given jobs file and storage folder."""
    local = LocalAE(ae_title="QRSCOPE", listener_port=setup["listener_port"],
                    bind_address="127.0.0.1", storage_folder=Path(setup["storage"]))
    node = RemoteNode(name="Demo", ae_title=setup["pacs_aet"], host="127.0.0.1",
                      port=setup["pacs_port"])
    log = AssociationLog()
    listener = StorageListener(local, log, InstanceStore(local.storage_folder),
                               known_nodes=lambda: [node])
    listener.start()
    service = JobService(JobStore(Path(setup["db"])), log, local=lambda: local,
                         listener=lambda _folder: listener)
    return service, node, listener


def _on_disk(storage: Path) -> list[str]:
    return [p.name for p in storage.rglob("*.dcm") if ".incoming" not in p.parts]


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_jobs_killed_mid_retrieve_resume_and_nothing_is_fetched_twice(sample_folder, tmp_path):
    listener_port = free_port()
    pacs = DemoPacs(data_folder=sample_folder, port=0,
                    behaviour=DemoPacsBehaviour(sub_operation_delay=0.2),
                    destinations={"QRSCOPE": ("127.0.0.1", listener_port)})
    pacs.start()
    sizes = Counter(str(r.text("StudyInstanceUID")) for r in pacs.instances)
    studies = [uid for uid, _n in sizes.most_common(4)]
    storage = tmp_path / "received"
    setup = {"listener_port": listener_port, "storage": str(storage), "pacs_aet": pacs.ae_title,
             "pacs_port": pacs.port, "db": str(tmp_path / "jobs.sqlite3"), "studies": studies}
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root / "app"), str(root), os.environ.get("PYTHONPATH", "")])}
    errors = (tmp_path / "child-stderr.txt").open("w")
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(setup)], cwd=root,
                             env=env, stdout=subprocess.DEVNULL, stderr=errors)
    service = listener = None
    try:
        _wait_for(lambda: _on_disk(storage) or child.poll() is not None,
                  "the first instances on disk")
        assert child.poll() is None, (tmp_path / "child-stderr.txt").read_text()
        states = Counter(r.state for r in JobStore(Path(setup["db"])).records())
        child.kill()  # SIGKILL: no clean-up of any kind
        child.wait(timeout=30)
        assert states == {JobState.RUNNING: 2, JobState.QUEUED: 2}
        here_at_kill = {name.removesuffix(".dcm") for name in _on_disk(storage)}
        assert 0 < len(here_at_kill) < sum(sizes[uid] for uid in studies)

        service, _node, listener = start_service(setup)
        resumed = service.resume()
        assert sorted(r.interrupted for r in resumed) == [0, 0, 1, 1]
        assert service.wait(DEADLINE_S), "the resumed jobs did not finish"
        ended = service.records()
        assert [r.state for r in ended] == [JobState.SUCCESS] * 4, [r.summary for r in ended]
        assert {r.job_id for r in ended} == {r.job_id for r in resumed}
    finally:
        if service is not None:
            service.shutdown()
        if listener is not None:
            listener.stop()
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        errors.close()
        attempts = pacs.store_attempts()
        pacs.stop()
    names = _on_disk(storage)
    assert len(names) == len(set(names)) == sum(sizes[uid] for uid in studies)
    assert not any("~" in name for name in names)
    twice = {uid for uid, count in attempts.items() if count > 1}
    assert not twice & here_at_kill, "an instance already on disk was fetched again"
    # At most the instance each running job had in flight when it was killed.
    assert len(twice) <= 2, twice
