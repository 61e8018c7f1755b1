"""The C-MOVE doctor: a guided end-to-end check of one node, step by step.

Each step proves one link of the chain a C-MOVE needs (name, TCP, association,
services, query, our listener reachable at the address the PACS will use,
the reverse connection) and records its evidence and time. The control
C-MOVE to a deliberately unknown AE title tells "destination unknown" from
"reverse connection blocked" where the PACS answers both with one status
(Orthanc: 0xC000). Nothing on the PACS is changed.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pynetdicom import build_context
from pynetdicom.sop_class import Verification

from qrscope.core.dicom.qr_models import QR_MODELS, model_name
from qrscope.core.dicom.records import InstanceRecord, QueryLevel, StudyRecord
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.net.connection import (
    AssociationFailure,
    FailureReason,
    make_ae,
    open_association,
)
from qrscope.core.net.verify import verify
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.query.find import FindOperation, QueryFilter
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveOutcome, RetrieveScope
from qrscope.diagnosis.hints import Hint, hint_for_failure
from qrscope.diagnosis.retrieve_hints import hint_for_find_aborted, hints_for_retrieve

__all__ = ["DoctorReport", "DoctorStep", "run_doctor"]

PASS, FAIL, SKIP = "pass", "fail", "skipped"


@dataclass
class DoctorStep:
    name: str
    status: str = SKIP
    summary: str = ""
    seconds: float = 0.0
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "summary": self.summary,
                "seconds": round(self.seconds, 3), "evidence": self.evidence}


@dataclass
class DoctorReport:
    node: str
    steps: list[DoctorStep] = field(default_factory=list)
    verdict: Hint | None = None
    """The hint that explains the first failure; ``None`` when every step passed."""

    @property
    def ok(self) -> bool:
        return self.verdict is None and all(s.status != FAIL for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "ok": self.ok, "steps": [s.to_dict() for s in self.steps],
                "verdict": self.verdict.to_dict() if self.verdict else None,
                "hints": [self.verdict.id] if self.verdict else []}


class _Doctor:
    def __init__(self, node: RemoteNode, local: LocalAE, log: AssociationLog,
                 listener: StorageListener, on_step: Callable[[DoctorStep], None]) -> None:
        self.node, self.local, self.log, self.listener = node, local, log, listener
        self.on_step = on_step
        self.report = DoctorReport(node=node.name)
        self.local_address = ""
        self.accepted: list[str] = []

    def step(self, name: str, check: Callable[[DoctorStep], None]) -> DoctorStep:
        step = DoctorStep(name)
        started = time.perf_counter()
        try:
            check(step)
            if step.status == SKIP:
                step.status = PASS
        except AssociationFailure as exc:
            step.status, step.summary = FAIL, exc.message
            step.evidence.update({k: v for k, v in exc.evidence.items()
                                  if isinstance(v, str | int | float)})
            self.report.verdict = self.report.verdict or hint_for_failure(exc, self.node,
                                                                           self.local)
        except OSError as exc:
            step.status, step.summary = FAIL, str(exc)
            failure = _socket_failure(exc, self.node)
            self.report.verdict = self.report.verdict or hint_for_failure(failure, self.node,
                                                                           self.local)
        step.seconds = time.perf_counter() - started
        self.report.steps.append(step)
        self.on_step(step)
        return step

    def skip(self, name: str, why: str) -> None:
        step = DoctorStep(name, SKIP, why)
        self.report.steps.append(step)
        self.on_step(step)

    # -- the checks ------------------------------------------------------------
    def resolve(self, step: DoctorStep) -> None:
        infos = socket.getaddrinfo(self.node.host, self.node.port, type=socket.SOCK_STREAM)
        address = infos[0][4][0]
        step.summary = f"{self.node.host} is {address}"
        step.evidence["address"] = address

    def tcp(self, step: DoctorStep) -> None:
        with socket.create_connection((self.node.host, self.node.port),
                                      timeout=self.node.timeouts.connect) as sock:
            self.local_address = sock.getsockname()[0]
        step.summary = (f"port {self.node.port} accepts connections; this computer reaches it "
                        f"from {self.local_address}")
        step.evidence["our_address"] = self.local_address

    def echo(self, step: DoctorStep) -> None:
        result = verify(self.node, self.local, self.log)
        step.summary = f"C-ECHO answered in {result.echo_ms:.1f} ms"
        step.evidence["echo_ms"] = round(result.echo_ms, 2)

    def services(self, step: DoctorStep) -> None:
        contexts = [build_context(uid) for uid in QR_MODELS.values()]
        out = open_association(make_ae(self.local, self.node), self.node, self.log, contexts)
        try:
            accepted = {cx.abstract_syntax for cx in out.assoc.accepted_contexts}
        finally:
            out.close()
        self.accepted = [model_name(*key) for key, uid in QR_MODELS.items() if uid in accepted]
        step.summary = "accepts: " + (", ".join(self.accepted) or "none of FIND/MOVE/GET")
        step.evidence["accepted"] = self.accepted
        if not any("FIND" in name for name in self.accepted):
            step.status = FAIL

    def first_instance(self, step: DoctorStep) -> tuple[StudyRecord, InstanceRecord] | None:
        result = FindOperation(self.node, self.local, self.log, QueryLevel.STUDY,
                               QueryFilter(), limit=1).run()
        studies = result.records
        if result.status is None and not studies and not result.cancelled:
            # No final response at all: the PACS aborted (Orthanc does so for a
            # caller it does not know); an empty archive would answer success.
            step.status = FAIL
            step.summary = "the PACS ended the C-FIND without any response"
            self.report.verdict = self.report.verdict or hint_for_find_aborted(
                self.node, self.local, result.ended_after, self.local_address)
            return None
        if not studies or not isinstance(studies[0], StudyRecord):
            step.status, step.summary = FAIL, "the PACS returned no study to test with"
            return None
        study = studies[0]
        images = FindOperation(self.node, self.local, self.log, QueryLevel.IMAGE,
                               QueryFilter(study_uid=study.study_uid,
                                           patient_id=study.patient_id), limit=1).run().records
        if not images or not isinstance(images[0], InstanceRecord):
            step.status, step.summary = FAIL, "the study lists no instance"
            return None
        step.summary = f"found study {study.study_uid} and instance {images[0].sop_instance_uid}"
        return study, images[0]

    def listener_reachable(self, step: DoctorStep) -> None:
        address = self.local_address or "127.0.0.1"
        ae = make_ae(self.local)
        ae.add_requested_context(Verification)
        assoc = ae.associate(address, self.listener.port, ae_title=self.local.ae_title)
        ok = assoc.is_established
        if ok:
            assoc.release()
        step.evidence["listener"] = f"{address}:{self.listener.port}"
        if not ok:
            step.status = FAIL
            step.summary = (f"our listener does not answer at {address}:{self.listener.port}, "
                            "the address the PACS must use")
            return
        step.summary = f"our listener answers at {address}:{self.listener.port}"

    def move(self, scope: RetrieveScope, destination: str) -> RetrieveOutcome:
        return RetrieveJob(self.node, self.local, self.log, scope, method=RetrieveMethod.MOVE,
                           listener=self.listener if destination == self.local.ae_title
                           else None, move_destination=destination).run()


def run_doctor(node: RemoteNode, local: LocalAE, log: AssociationLog,
               listener: StorageListener,
               on_step: Callable[[DoctorStep], None] = lambda _s: None) -> DoctorReport:
    """Check *node* end to end; *listener* must be running (it receives the test C-MOVE)."""
    doctor = _Doctor(node, local, log, listener, on_step)
    for name, check in (("name resolution", doctor.resolve), ("TCP connection", doctor.tcp),
                        ("association and C-ECHO", doctor.echo),
                        ("services offered", doctor.services)):
        if doctor.step(name, check).status == FAIL:
            return doctor.report
    found: list[tuple[StudyRecord, InstanceRecord]] = []

    def find_step(step: DoctorStep) -> None:
        result = doctor.first_instance(step)
        if result:
            found.append(result)

    if doctor.step("small C-FIND", find_step).status == FAIL or not found:
        return doctor.report
    doctor.step("our listener reachable", doctor.listener_reachable)
    study, instance = found[0]
    scope = RetrieveScope.instances(study.study_uid, instance.series_uid,
                                    instance.sop_instance_uid, patient_id=study.patient_id,
                                    sop_classes=(instance.sop_class_uid,))
    _move_steps(doctor, scope)
    return doctor.report


def _move_steps(doctor: _Doctor, scope: RetrieveScope) -> None:
    if not any("MOVE" in name for name in doctor.accepted):
        doctor.skip("C-MOVE to our listener", "the PACS does not offer C-MOVE")
    else:
        real: list[RetrieveOutcome] = []

        def move_step(step: DoctorStep) -> None:
            outcome = doctor.move(scope, doctor.local.ae_title)
            real.append(outcome)
            step.evidence.update(_outcome_evidence(outcome))
            step.summary = (f"{len(outcome.stored)} instance arrived over "
                            f"{len(outcome.incoming_associations)} incoming association(s)")
            # A "success" that brought nothing proves nothing about the path.
            if outcome.status != "success" or not outcome.stored:
                step.status = FAIL

        if doctor.step("C-MOVE to our listener", move_step).status == FAIL and real:
            control: list[RetrieveOutcome] = []

            def control_step(step: DoctorStep) -> None:
                outcome = doctor.move(scope, f"NX{secrets.token_hex(4).upper()}")
                control.append(outcome)
                step.evidence.update(_outcome_evidence(outcome))
                step.summary = f"an unknown destination gets {outcome.final_status}"

            doctor.step("control C-MOVE to an unknown AE title", control_step)
            doctor.report.verdict = _verdict(doctor, real[0], control[0] if control else None)
    if any("GET" in name for name in doctor.accepted):
        def get_step(step: DoctorStep) -> None:
            outcome = RetrieveJob(doctor.node, doctor.local, doctor.log, scope,
                                  method=RetrieveMethod.GET,
                                  store=doctor.listener.store).run()
            step.evidence.update(_outcome_evidence(outcome))
            step.summary = f"C-GET: {outcome.status}, {len(outcome.stored)} instance"
            if outcome.status != "success" or not outcome.stored:
                step.status = FAIL
                doctor.report.verdict = doctor.report.verdict or next(iter(hints_for_retrieve(
                    outcome, doctor.node, doctor.local)), None)

        doctor.step("C-GET (the fallback)", get_step)
    else:
        doctor.skip("C-GET (the fallback)", "the PACS does not offer C-GET")


def _socket_failure(exc: OSError, node: RemoteNode) -> AssociationFailure:
    """The doctor's own socket errors, in the terms of ``connection.FailureReason``."""
    where = f"{node.host}:{node.port}"
    if isinstance(exc, socket.gaierror):
        return AssociationFailure(FailureReason.HOST_NOT_FOUND,
                                  f"'{node.host}' cannot be resolved: {exc}", host=node.host)
    if isinstance(exc, ConnectionRefusedError):
        return AssociationFailure(FailureReason.CONNECTION_REFUSED,
                                  f"{where} refused the connection", port=node.port)
    if isinstance(exc, TimeoutError):
        return AssociationFailure(FailureReason.CONNECTION_TIMEOUT,
                                  f"no answer from {where}", port=node.port)
    return AssociationFailure(FailureReason.CONNECTION_FAILED, f"{where}: {exc}")


def _outcome_evidence(outcome: RetrieveOutcome) -> dict[str, Any]:
    final = outcome.final_status
    return {"status": outcome.status,
            "final_status": f"0x{final.code:04X}" if final else None,
            "completed": outcome.completed, "failed": outcome.failed,
            "received": len(outcome.stored), "seconds": round(outcome.seconds, 2),
            "incoming_associations": len(outcome.incoming_associations)}


def _verdict(doctor: _Doctor, real: RetrieveOutcome,
             control: RetrieveOutcome | None) -> Hint | None:
    """Compare the real move with the control to a made-up AE title.

    Another answer for the made-up title (code, or time: Orthanc takes its
    DicomScuTimeout for a dropped connection, and nothing for an unknown
    title) proves the PACS knows our destination and could not reach it. The
    same answer proves nothing: pynetdicom-based servers and Orthanc answer
    an unreachable known destination like an unknown one, so the verdict
    then ranks both causes.
    """
    known: bool | None = None
    if control is not None and real.final_status is not None \
            and control.final_status is not None:
        same = (real.final_status.code == control.final_status.code
                and abs(real.seconds - control.seconds) < 2.0
                and not real.incoming_associations)
        known = not same
    hints = hints_for_retrieve(real, doctor.node, doctor.local,
                               listener_port=doctor.listener.port, destination_known=known)
    if not hints:
        return None
    ids = [h.id for h in hints]
    preferred = "reverse-connection-failed" if known else "move-destination-unknown"
    return hints[ids.index(preferred)] if preferred in ids else hints[0]
