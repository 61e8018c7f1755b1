"""A send on several associations at once, within the node's one budget (issue 22).

A peer that answers one C-STORE at a time per association (Orthanc) serves
several associations at once: a send takes its own slot of the node's
budget and borrows the free ones for extra associations, each with its own
run of the instances. These tests count the associations established at a
small Storage SCP that holds its C-STOREs until told, so that two
associations at work at once are seen, not timed.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import sop_class as sc
from tests.core.send_peers import (
    StoreSCP,
    archive_fixture,
    data_set_bytes,
    uncompressed_series,
)

from qrscope.core.archive.index import open_index
from qrscope.core.jobs import JobService, JobStore
from qrscope.core.jobs.records import JobState
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.core.send import SendJob, SendSelection, items_to_send
from qrscope.core.send.types import InstanceState

LOCAL = LocalAE(ae_title="QRSCOPE")
PLAIN = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


archive = archive_fixture("module")


def _scp(rows: list[dict], **kw) -> StoreSCP:
    scp = StoreSCP({c: list(PLAIN) for c in {r["sop_class_uid"] for r in rows}}, **kw)
    scp.start()
    return scp


def _node(scp: StoreSCP, parallel: int = 0) -> RemoteNode:
    return RemoteNode(name="peer", ae_title=scp.ae_title, host="127.0.0.1", port=scp.port,
                      max_parallel_retrieves=parallel).validated()


def _service(tmp_path: Path, node: RemoteNode, **kw) -> JobService:
    return JobService(JobStore(tmp_path / "jobs.sqlite3"), AssociationLog(),
                      local=lambda: LOCAL, nodes=lambda: [node], **kw)


def _arrivals(scp: StoreSCP, count: int) -> None:
    for _ in range(count):
        assert scp.arrived.acquire(timeout=30), "a C-STORE that should have come did not"


def test_a_send_uses_the_node_budget_of_associations_each_instance_once(archive, tmp_path):
    selection, rows = uncompressed_series(archive, 6)
    scp = _scp(rows, hold_after=1)  # every C-STORE waits: two at once prove two associations
    log = AssociationLog()
    service = JobService(JobStore(tmp_path / "jobs.sqlite3"), log, local=lambda: LOCAL,
                         nodes=lambda: [_node(scp)])
    try:
        record = service.submit_send(_node(scp), selection, storage_folder=archive)
        _arrivals(scp, 2)
        assert scp.most_open == 2
        scp.hold.set()
        assert service.wait(60)
    finally:
        service.shutdown()
        scp.stop()
    ended = service.get(record.job_id)
    assert ended.state is JobState.SUCCESS, ended.summary
    outcome = ended.send_outcome
    assert scp.established == 2 and outcome.associations == 2
    assert sorted(r.sop_instance_uid for r in outcome.results) == sorted(
        r["sop_instance_uid"] for r in rows)
    assert set(scp.counts.values()) == {1}
    for row in rows:
        path = open_index(archive).path_of(row["path"])
        assert scp.received[row["sop_instance_uid"]] == data_set_bytes(path)
    # Each association its own id in the log, both under the job's.
    accepted = [e for e in log.events() if e.kind == "accepted" and e.job_id == record.job_id]
    assert len({e.association_id for e in accepted}) == 2
    assert service.running_on("peer") == 0  # every borrowed slot given back


def test_max_parallel_1_sends_on_one_association(archive, tmp_path):
    selection, rows = uncompressed_series(archive, 6)
    scp = _scp(rows)
    service = _service(tmp_path, _node(scp))
    try:
        one = SendSelection(selection.study_uids, selection.series_uids, max_parallel=1)
        record = service.submit_send(_node(scp), one, storage_folder=archive)
        assert service.wait(60)
    finally:
        service.shutdown()
        scp.stop()
    assert service.get(record.job_id).state is JobState.SUCCESS
    assert scp.established == 1 and set(scp.counts.values()) == {1}


def test_a_retrieve_holding_a_slot_leaves_the_send_one_until_it_ends(archive, tmp_path):
    selection, rows = uncompressed_series(archive, 6)
    scp = _scp(rows, hold_after=1)
    gate = threading.Event()

    def listener(_folder: str) -> str:  # the retrieve holds its slot while it waits here
        gate.wait(60)
        return "no listener in this test"

    service = _service(tmp_path, _node(scp), listener=listener)
    try:
        retrieve = service.submit(_node(scp), RetrieveScope.study("1.2.3.4"),
                                  RetrieveMethod.MOVE)
        record = service.submit_send(_node(scp), selection, storage_folder=archive)
        _arrivals(scp, 1)
        assert service.running_on("peer") == 2  # the budget: the retrieve and the send
        assert scp.most_open == 1
        gate.set()  # the retrieve ends: its slot is free, and the send borrows it
        _arrivals(scp, 1)
        assert scp.most_open == 2
        scp.hold.set()
        assert service.wait(60)
    finally:
        gate.set()
        service.shutdown()
        scp.stop()
    assert service.get(retrieve.job_id).state is JobState.FAILED
    assert service.get(record.job_id).state is JobState.SUCCESS
    assert set(scp.counts.values()) == {1} and len(scp.counts) == len(rows)


def test_a_refused_extra_association_leaves_the_send_complete_on_fewer(archive, tmp_path,
                                                                       caplog):
    selection, rows = uncompressed_series(archive, 6)
    scp = _scp(rows, hold_after=1, maximum_associations=1)  # a PACS's limit per AE
    refused = threading.Event()

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "refused an extra association" in record.getMessage():
                refused.set()

    seen = Seen()
    logger = logging.getLogger("qrscope.core.send.job")
    logger.addHandler(seen)
    service = _service(tmp_path, _node(scp))
    try:
        with caplog.at_level(logging.WARNING, logger="qrscope.core.send.job"):
            record = service.submit_send(_node(scp), selection, storage_folder=archive)
            _arrivals(scp, 1)
            assert refused.wait(30), "the extra association was never asked for"
            scp.hold.set()
            assert service.wait(60)
    finally:
        logger.removeHandler(seen)
        service.shutdown()
        scp.stop()
    ended = service.get(record.job_id)
    assert ended.state is JobState.SUCCESS, ended.summary
    assert ended.send_outcome.failure is None and ended.send_outcome.associations == 1
    assert scp.established == 1 and set(scp.counts.values()) == {1}
    assert len(scp.counts) == len(rows)
    said = [r for r in caplog.records if "refused an extra association" in r.getMessage()]
    assert len(said) == 1


def test_cancel_mid_send_stops_every_association(archive, tmp_path):
    selection, rows = uncompressed_series(archive, 6)
    scp = _scp(rows, hold_after=1)
    service = _service(tmp_path, _node(scp))
    try:
        record = service.submit_send(_node(scp), selection, storage_folder=archive)
        _arrivals(scp, 2)
        assert service.cancel(record.job_id)
        scp.hold.set()
        assert service.wait(60)
    finally:
        service.shutdown()
        scp.stop()
    ended = service.get(record.job_id)
    assert ended.state is JobState.CANCELLED
    assert scp.most_open == 2
    # The two on the wire were answered and reported; nothing after them went.
    assert len(ended.send_outcome.results) == sum(scp.counts.values()) == 2 < len(rows)
    assert service.running_on("peer") == 0


class TwoSlots:
    """Lends one extra slot once, as a node's budget of two with nothing else running."""

    def __init__(self) -> None:
        self.lent = 0
        self.returned = threading.Event()

    def acquire(self, cancel: threading.Event) -> bool:
        if self.lent or cancel.is_set():
            cancel.wait()
            return False
        self.lent += 1
        return True

    def release(self) -> None:
        self.returned.set()

    def wake(self) -> None:
        """Acquire waits on the cancel event itself."""


def test_results_of_two_associations_merge_a_refused_class_failed_once_each(archive):
    items = [i for i in items_to_send(open_index(archive), uncompressed_series(archive, 6)[0])]
    ct = [i for i in items if i.sop_class_uid == sc.CTImageStorage]
    other = [i for i in items if i.sop_class_uid != sc.CTImageStorage]
    assert len(ct) >= 2 and other
    mixed = [x for pair in zip(ct, other * len(ct), strict=False) for x in pair]
    mixed = list({i.sop_instance_uid: i for i in mixed}.values())
    scp = StoreSCP({sc.CTImageStorage: list(PLAIN)}, hold_after=1)  # CT only
    scp.start()
    slots = TwoSlots()
    job = SendJob(_node(scp), LOCAL, AssociationLog(), mixed, slots=slots,
                  max_associations=2)
    done: list = []
    thread = threading.Thread(target=lambda: done.append(job.run()))
    thread.start()
    try:
        _arrivals(scp, 2)
        scp.hold.set()
        thread.join(60)
    finally:
        scp.stop()
    (outcome,) = done
    assert outcome.associations == 2 and slots.returned.is_set()
    by_uid: dict[str, list] = {}
    for result in outcome.results:
        by_uid.setdefault(result.sop_instance_uid, []).append(result)
    assert set(by_uid) == {i.sop_instance_uid for i in mixed}
    assert all(len(v) == 1 for v in by_uid.values())
    for item in mixed:
        (result,) = by_uid[item.sop_instance_uid]
        if item.sop_class_uid == sc.CTImageStorage:
            assert result.state is InstanceState.STORED
            assert scp.received[item.sop_instance_uid] == data_set_bytes(item.path)
        else:
            assert result.state is InstanceState.FAILED
            assert "accepted no context" in result.reason
    assert sorted(outcome.refused_classes) == sorted(
        {i.sop_class_uid for i in mixed} - {sc.CTImageStorage})
    assert outcome.status == "partial"
