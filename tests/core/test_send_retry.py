"""Retry of a send (issue 22, point 3): exactly what the first send did not deliver.

``JobService.retry_failed`` queues a new send of the instances the peer
failed and of those that never went out (the association refused or cut
short), linked to the job it retries; nothing the peer holds goes again.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import evt
from tests.core.send_peers import StoreSCP, archive_fixture, uncompressed_series

from qrscope.core.jobs import JobService, JobStore
from qrscope.core.jobs.records import JobState
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode

LOCAL = LocalAE(ae_title="QRSCOPE")


class FailingFirst(StoreSCP):
    """Answers the first C-STORE of each instance of ``failing`` with 0xA700 (out of resources)."""

    failing: frozenset[str] = frozenset()

    def _store(self, event: evt.Event) -> int:
        uid = str(event.request.AffectedSOPInstanceUID)
        status = super()._store(event)
        return 0xA700 if uid in self.failing and self.counts[uid] == 1 else status


archive = archive_fixture("module")


def _scp(rows: list[dict], failing: set[str] = frozenset()) -> FailingFirst:
    scp = FailingFirst({c: [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
                        for c in {r["sop_class_uid"] for r in rows}})
    scp.failing = frozenset(failing)
    scp.start()
    return scp


def _service(tmp_path: Path, *nodes: RemoteNode) -> JobService:
    """A service whose profiles hold *nodes* (a list the test may change)."""
    known = list(nodes)
    service = JobService(JobStore(tmp_path / "jobs.sqlite3"), AssociationLog(),
                         local=lambda: LOCAL, nodes=lambda: list(known))
    service.known = known  # type: ignore[attr-defined]
    return service


def _node(scp: StoreSCP, ae_title: str = "") -> RemoteNode:
    return RemoteNode(name="peer", ae_title=ae_title or scp.ae_title, host="127.0.0.1",
                      port=scp.port).validated()


def test_a_retry_sends_again_exactly_the_instances_the_peer_failed(archive, tmp_path):
    selection, rows = uncompressed_series(archive, 3)
    failing = {rows[0]["sop_instance_uid"], rows[-1]["sop_instance_uid"]}
    scp = _scp(rows, failing)
    service = _service(tmp_path, _node(scp))
    try:
        first = service.submit_send(_node(scp), selection,
                                    storage_folder=archive)
        assert service.wait(60)
        assert service.get(first.job_id).state is JobState.PARTIAL
        assert sum(scp.counts.values()) == len(rows)
        retry = service.retry_failed(first.job_id)
        assert retry is not None and retry.retry_of == first.job_id
        assert service.wait(60)
    finally:
        service.shutdown()
        scp.stop()
    ended = service.get(retry.job_id)
    assert ended.state is JobState.SUCCESS, ended.summary
    # Exactly the failed ones went again; the others once.
    assert {uid for uid, n in scp.counts.items() if n == 2} == failing
    assert sum(scp.counts.values()) == len(rows) + len(failing)
    assert service.retry_failed(retry.job_id) is None  # nothing left to retry


def test_a_send_whose_association_was_refused_is_retried_whole_to_the_fixed_node(
        archive, tmp_path):
    selection, rows = uncompressed_series(archive, 3)
    scp = _scp(rows)
    service = _service(tmp_path, _node(scp, "TYPO"))
    try:
        first = service.submit_send(_node(scp, "TYPO"), selection, storage_folder=archive)
        assert service.wait(60)
        assert service.get(first.job_id).state is JobState.FAILED
        assert not scp.counts
        service.known[:] = [_node(scp)]  # the user fixed the node's AE title
        retry = service.retry_failed(first.job_id)
        assert retry is not None
        assert service.wait(60)
    finally:
        service.shutdown()
        scp.stop()
    assert service.get(retry.job_id).state is JobState.SUCCESS
    assert set(scp.counts) == {r["sop_instance_uid"] for r in rows}
    assert set(scp.counts.values()) == {1}


def test_the_retry_is_on_record_with_its_link_to_the_first(archive, tmp_path):
    selection, rows = uncompressed_series(archive, 3)
    scp = _scp(rows, {rows[0]["sop_instance_uid"]})
    service = _service(tmp_path, _node(scp))
    try:
        first = service.submit_send(_node(scp), selection,
                                    storage_folder=archive)
        assert service.wait(60)
        retry = service.retry_failed(first.job_id)
        assert service.wait(60)
    finally:
        service.shutdown()
        scp.stop()
        service.store.close()
    store = JobStore(tmp_path / "jobs.sqlite3")  # another reader, as `qrscope jobs` is
    try:
        on_record = {r.job_id: r for r in store.records()}
    finally:
        store.close()
    assert on_record[retry.job_id].retry_of == first.job_id
    assert on_record[retry.job_id].to_dict()["retry_of"] == first.job_id
    assert on_record[first.job_id].retry_of == ""
    assert on_record[retry.job_id].send.only == (rows[0]["sop_instance_uid"],)
