"""C-GET's second round against dcmqrscp: asked for exactly what is missing, and cancellable.

dcmqrscp sends each instance on the first accepted context of its SOP class
and cannot decompress, so a compressed instance fails the first C-GET (we
offer uncompressed first) and arrives when asked again in its own syntax.
"""

from __future__ import annotations

from pathlib import Path

from qrscope.core.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import MissingReason, RetrieveScope

from .peers import PeerServer


def _compressed_study(server: PeerServer) -> str:
    return next(i.study_instance_uid for i in server.instances
                if i.transfer_syntax_uid not in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
                                                 "1.2.840.10008.1.2.2"))


def _job(server: PeerServer, folder: Path, log: AssociationLog, study: str) -> RetrieveJob:
    node = RemoteNode(name=server.kind, ae_title=server.ae_title, host=server.host,
                      port=server.port)
    local = LocalAE(ae_title="QRSCOPE", storage_folder=folder)
    return RetrieveJob(node, local, log, RetrieveScope.study(study), method=RetrieveMethod.GET)


def _get_requests(log: AssociationLog, job: RetrieveJob) -> list:
    return [e for e in log.events(job_id=job.job_id)
            if e.kind == "dimse-sent" and e.summary.startswith("C-GET-RQ")]


def test_second_round_asks_only_for_what_did_not_arrive(dcmqrscp, tmp_path):
    study = _compressed_study(dcmqrscp)
    log = AssociationLog()
    job = _job(dcmqrscp, tmp_path, log, study)
    outcome = job.run()
    assert outcome.status == "success", outcome.to_dict()
    assert outcome.recovered, "the compressed instances came in the second round"
    retries = [e for e in log.events(job_id=job.job_id) if e.kind == "get-retry"]
    asked_again = {uid for e in retries for uid in e.detail["instances"]}
    assert asked_again and set(outcome.recovered) <= asked_again
    first_round = {r.sop_instance_uid for r in outcome.stored} - set(outcome.recovered)
    assert not asked_again & first_round, "an instance that had arrived was asked for again"


def test_cancel_during_the_second_round_stops_it(dcmqrscp, tmp_path):
    study = _compressed_study(dcmqrscp)
    log = AssociationLog()
    job = _job(dcmqrscp, tmp_path, log, study)
    sent_after_cancel: list[str] = []

    def on_event(event) -> None:
        if event.job_id != job.job_id:
            return
        if event.kind == "get-retry" and not job.cancelled:
            job.cancel()  # the user presses Cancel as the second round begins
        elif job.cancelled and event.kind == "dimse-sent" and "C-GET-RQ" in event.summary:
            sent_after_cancel.append(event.summary)

    unsubscribe = log.subscribe(on_event)
    try:
        outcome = job.run()
    finally:
        unsubscribe()
    assert outcome.status == "cancelled"
    assert sent_after_cancel == []
    assert len(_get_requests(log, job)) == 1
    assert outcome.missing
    assert {m.reason for m in outcome.missing} == {MissingReason.CANCELLED}
