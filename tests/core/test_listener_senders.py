"""Who may send to the listener during a retrieve, and what the user is told."""

from __future__ import annotations

from dataclasses import replace

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from qrscope.core.receive.listener import StorageListener
from qrscope.core.receive.senders import STATUS_NOT_AUTHORIZED
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveOutcome, RetrieveScope
from qrscope.core.security import AcceptPolicy
from qrscope.diagnosis.retrieve_hints import hint_for_refused_caller, hints_for_retrieve


def _ct(demo):
    return next(i for i in demo.pacs.instances if i.sop_class_uid == CTImageStorage
                and not i.transfer_syntax.is_compressed)


def _store_as(listener, ae_title, path, message_id):
    sender = AE(ae_title=ae_title)
    sender.add_requested_context(CTImageStorage)
    assoc = sender.associate("127.0.0.1", listener.port, ae_title="QRSCOPE")
    assert assoc.is_established, "the host of the node we retrieve from is let in"
    status = assoc.send_c_store(pydicom.dcmread(path), originator_aet="QRSCOPE",
                                originator_id=message_id)
    assoc.release()
    return status.Status


def test_the_pacs_sending_under_another_ae_title_is_recognised_and_named(demo):
    ct = _ct(demo)
    scope = RetrieveScope.study(ct.text("StudyInstanceUID"))
    with StorageListener(demo.local, demo.log) as listener:
        job = RetrieveJob(demo.node, demo.local, demo.log, scope, listener=listener)
        request = job._request(scope)  # its Message ID is ours from now on
        listener.attach(job)
        try:
            ours = _store_as(listener, "PACSSTORE", ct.path, request.message_id)
            # Now known for this retrieve: something for another request is kept,
            # not credited (as from any known node).
            other_request = _store_as(listener, "PACSSTORE", ct.path, request.message_id + 7)
            # Another title from that host, naming none of our requests: refused.
            stranger = _store_as(listener, "OTHERSTORE", ct.path, request.message_id + 7)
        finally:
            listener.detach(job)
        outcome = job._finish(RetrieveOutcome(job_id=job.job_id, method=job.method))
    assert ours == other_request == 0x0000 and stranger == STATUS_NOT_AUTHORIZED
    assert [r.calling_ae for r in outcome.stored] == ["PACSSTORE"]
    assert len(listener.unexpected) == 1
    assert outcome.sender_aliases == ["PACSSTORE"]
    hints = {h.id: h for h in hints_for_retrieve(outcome, demo.node, demo.local)}
    hint = hints["move-sender-other-aet"]
    assert "PACSSTORE" in hint.title and hint.actions[0].kind == "add-sender"
    assert "names none of our requests" in listener.refused[0].reason


@pytest.mark.parametrize("setting", ["alias-is-a-known-node", "accept-any"])
def test_the_pacs_sending_under_another_ae_title_is_credited_whatever_the_policy(
        demo, setting):
    # The user followed the hint's "Add as a node" (the storage AE title is now
    # known), or the listener takes any caller: either way the instance still
    # came from our node's host for one of our requests, and is ours.
    ct = _ct(demo)
    scope = RetrieveScope.study(ct.text("StudyInstanceUID"))
    alias_node = replace(demo.node, name="Demo storage", ae_title="PACSSTORE")
    known = [alias_node] if setting == "alias-is-a-known-node" else []
    local = demo.local if known else replace(demo.local, accept=AcceptPolicy.ANY)
    with StorageListener(local, demo.log, known_nodes=lambda: known) as listener:
        job = RetrieveJob(demo.node, local, demo.log, scope, listener=listener)
        request = job._request(scope)
        listener.attach(job)
        try:
            status = _store_as(listener, "PACSSTORE", ct.path, request.message_id)
        finally:
            listener.detach(job)
        outcome = job._finish(RetrieveOutcome(job_id=job.job_id, method=job.method))
    assert status == 0x0000
    assert [r.calling_ae for r in outcome.stored] == ["PACSSTORE"]
    assert listener.unexpected == []
    assert outcome.sender_aliases == ["PACSSTORE"]


def test_another_ae_title_from_our_nodes_host_is_not_credited_for_another_request(demo):
    # Let in by the policy, but its Move Originator Message ID is not one of
    # ours: stored and reported as unexpected, never counted.
    ct = _ct(demo)
    scope = RetrieveScope.study(ct.text("StudyInstanceUID"))
    local = replace(demo.local, accept=AcceptPolicy.ANY)
    with StorageListener(local, demo.log) as listener:
        job = RetrieveJob(demo.node, local, demo.log, scope, listener=listener)
        request = job._request(scope)
        listener.attach(job)
        try:
            status = _store_as(listener, "PACSSTORE", ct.path, request.message_id + 7)
        finally:
            listener.detach(job)
        outcome = job._finish(RetrieveOutcome(job_id=job.job_id, method=job.method))
    assert status == 0x0000
    assert outcome.stored == [] and len(listener.unexpected) == 1
    assert outcome.sender_aliases == []


def test_a_refused_caller_gets_a_hint_that_offers_to_add_or_allow_it(demo):
    with StorageListener(demo.local, demo.log) as listener:
        sender = AE(ae_title="MODALITY9")
        sender.add_requested_context(CTImageStorage)
        refused = sender.associate("127.0.0.1", listener.port, ae_title="QRSCOPE")
        assert refused.is_rejected
        hint = hint_for_refused_caller(listener.refused[0])
        assert hint.id == "unexpected-sender" and "MODALITY9" in hint.title
        assert [a.kind for a in hint.actions] == ["add-sender", "allow-sender"]
        # The user allows it: the same caller may now store.
        calling, address = hint.actions[1].value.split("@")
        listener.senders.allow(calling, address)
        again = sender.associate("127.0.0.1", listener.port, ae_title="QRSCOPE")
        assert again.is_established
        status = again.send_c_store(pydicom.dcmread(_ct(demo).path))
        again.release()
    assert status.Status == 0x0000


def test_a_caller_that_means_another_ae_title_is_refused(demo):
    node = replace(demo.node, ae_title="CT01")
    with StorageListener(demo.local, demo.log, known_nodes=lambda: [node]) as listener:
        sender = AE(ae_title="CT01")
        sender.add_requested_context(CTImageStorage)
        assoc = sender.associate("127.0.0.1", listener.port, ae_title="NOTUS")
    assert assoc.is_rejected
    assert "we are 'QRSCOPE'" in listener.refused[0].reason
