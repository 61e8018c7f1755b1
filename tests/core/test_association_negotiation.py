"""The association log shows the negotiation, context by context (issue 21).

Real associations against the demo PACS (a C-ECHO, and a C-GET that proposes
over a hundred contexts with SCP roles, some of which it must refuse) and
into our storage listener; hand-built A-ASSOCIATE primitives for the answers
pynetdicom as acceptor never gives (user-rejection, no-reason) and for
requests no honest peer sends.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit
from pynetdicom import AE, PYNETDICOM_IMPLEMENTATION_UID, build_context, build_role
from pynetdicom import _config as pynetdicom_config
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    AsynchronousOperationsWindowNegotiation,
    ImplementationClassUIDNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
)
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (
    CTImageStorage,
    MRImageStorage,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)
from tests.demo_site import DemoSite, free_port

from qrscope.core.dicom.messages import MAX_PDU_LENGTH
from qrscope.core.net.association_log import AssociationEvent, AssociationLog, Direction
from qrscope.core.net.connection import (
    AssociationFailure,
    FailureReason,
    make_ae,
    open_association,
)
from qrscope.core.net.negotiation import (
    UNNAMED_SYNTAXES_KEPT,
    describe_answer,
    describe_request,
    negotiation_lines,
)
from qrscope.core.net.verify import verify
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve.contexts import get_storage_contexts

UNKNOWN_CLASS = "1.2.826.0.1.3680043.10.21.1"  # no SCP supports it
UNKNOWN_SYNTAX = "1.2.826.0.1.3680043.10.21.2"  # no SCP speaks it
CONTEXT_LINE = re.compile(r"^ +\[ *(\d+)\] ")


def _events(log: AssociationLog, kind: str) -> list[AssociationEvent]:
    return [e for e in log.events() if e.kind == kind]


def _context_lines(event: AssociationEvent) -> dict[int, str]:
    """The lines of one event that each describe one context, by context ID."""
    lines = negotiation_lines(event)
    return {int(m.group(1)): line for line in lines if (m := CONTEXT_LINE.match(line))}


def test_an_echo_shows_what_was_proposed_and_answered(demo: DemoSite):
    assert verify(demo.node, demo.local, demo.log).ok
    (requested,) = _events(demo.log, "requested")
    (accepted,) = _events(demo.log, "accepted")
    (proposed,) = requested.detail["contexts"]
    assert proposed["abstract_syntax"] == "Verification SOP Class"
    assert proposed["uid"] == Verification
    assert "Implicit VR Little Endian" in proposed["transfer_syntaxes"]
    assert requested.detail["implementation_class_uid"] == PYNETDICOM_IMPLEMENTATION_UID
    (answer,) = accepted.detail["contexts"]
    assert answer["id"] == proposed["id"] and answer["result"] == "accepted"
    assert answer["transfer_syntax"] in proposed["transfer_syntaxes"]
    assert accepted.detail["max_pdu_requestor"] == requested.detail["max_pdu"] > 0
    # We announce what we accept (pynetdicom's associate() would say 16382 by default).
    assert requested.detail["max_pdu"] == MAX_PDU_LENGTH
    assert accepted.detail["max_pdu_acceptor"] > 0
    assert accepted.detail["implementation_class_uid"]  # the PACS's own

    text = "\n".join(negotiation_lines(requested) + negotiation_lines(accepted))
    assert f"Verification SOP Class ({Verification}): Implicit VR Little Endian" in text
    assert f"requestor (us): maximum PDU length {requested.detail['max_pdu']} bytes" in text
    assert (f"acceptor ({demo.node.ae_title}) receives "
            f"{accepted.detail['max_pdu_acceptor']} bytes") in text
    assert re.search(r"\[ *1\] Verification SOP Class .*: accepted, Implicit VR Little Endian",
                     text)


def _get_proposal() -> tuple[list[PresentationContext], list[SCP_SCU_RoleSelectionNegotiation]]:
    """What a C-GET of many modalities proposes, and two contexts the PACS must refuse."""
    contexts, roles = get_storage_contexts(StudyRootQueryRetrieveInformationModelGet,
                                           modalities=["CT", "MR", "US", "CR"])
    contexts = contexts[:126]  # room for the two below within the 128 of an association
    contexts += [build_context(UNKNOWN_CLASS, ExplicitVRLittleEndian),
                 build_context(CTImageStorage, UNKNOWN_SYNTAX)]
    roles.append(build_role(UNKNOWN_CLASS, scp_role=True))
    return contexts, roles


def test_a_c_get_shows_every_context_its_roles_and_the_refusals(demo: DemoSite, monkeypatch):
    # A storage listener started earlier in this process switches pynetdicom's
    # process-wide unrestricted storage on, and the demo PACS would then
    # accept any class: the refusals this test needs come from a PACS without it.
    monkeypatch.setattr(pynetdicom_config, "UNRESTRICTED_STORAGE_SERVICE", False)
    contexts, roles = _get_proposal()
    assert len(contexts) > 100
    out = open_association(make_ae(demo.local, demo.node), demo.node, demo.log, contexts,
                           ext_neg=roles)
    out.close()
    (requested,) = _events(demo.log, "requested")
    (accepted,) = _events(demo.log, "accepted")

    proposed = requested.detail["contexts"]
    assert len(proposed) == len(contexts) and "more_contexts" not in requested.detail
    by_id = {cx["id"]: cx for cx in proposed}
    query = by_id[1]
    assert query["uid"] == StudyRootQueryRetrieveInformationModelGet and "role" not in query
    storage = [cx for cx in proposed if cx["uid"] == MRImageStorage]
    assert storage and all(cx["role"] == "SCP" for cx in storage)
    assert any(cx["transfer_syntaxes"] == ("JPEG Baseline (Process 1)",) for cx in storage)

    answers = {cx["id"]: cx for cx in accepted.detail["contexts"]}
    assert set(answers) == set(by_id)
    unknown_class = next(cx["id"] for cx in proposed if cx["uid"] == UNKNOWN_CLASS)
    unknown_syntax = next(cx["id"] for cx in proposed
                          if cx["transfer_syntaxes"] == (UNKNOWN_SYNTAX,))
    assert answers[unknown_class]["result"] == "abstract-syntax-not-supported"
    assert answers[unknown_syntax]["result"] == "transfer-syntaxes-not-supported"
    assert answers[unknown_syntax]["abstract_syntax"] == "CT Image Storage"
    mr = [answers[cx["id"]] for cx in storage if answers[cx["id"]]["result"] == "accepted"]
    assert mr and all(cx["role"] == "SCP" for cx in mr)
    assert accepted.detail["rejected"] == 2
    assert accepted.detail["accepted"] == len(contexts) - 2

    # One line per context, each whole: nothing of 121 contexts is left out.
    asked, answered = _context_lines(requested), _context_lines(accepted)
    assert set(asked) == set(answered) == set(by_id)
    assert asked[unknown_class].endswith(f"] {UNKNOWN_CLASS}: Explicit VR Little Endian; "
                                         "role SCP")
    assert answered[unknown_class].endswith("rejected: abstract-syntax-not-supported")
    assert answered[unknown_syntax].endswith("rejected: transfer-syntaxes-not-supported")
    assert any(line.endswith("; roles granted SCP") for line in answered.values())
    established = _events(demo.log, "established")[0]
    assert any(line.endswith("we act as SCP") for line in _context_lines(established).values())


def test_an_answer_refusing_every_context_is_shown_before_the_failure(demo: DemoSite,
                                                                     monkeypatch):
    """pynetdicom aborts such an association at once: the AC is all the user gets to see."""
    monkeypatch.setattr(pynetdicom_config, "UNRESTRICTED_STORAGE_SERVICE", False)
    with pytest.raises(AssociationFailure) as failure:
        open_association(make_ae(demo.local, demo.node), demo.node, demo.log,
                         [build_context(UNKNOWN_CLASS, ExplicitVRLittleEndian)])
    assert failure.value.reason is FailureReason.NO_ACCEPTED_CONTEXT
    (accepted,) = _events(demo.log, "accepted")
    assert accepted.detail["accepted"] == 0
    (line,) = _context_lines(accepted).values()
    assert line.endswith(f"] {UNKNOWN_CLASS}: rejected: abstract-syntax-not-supported")


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[StorageListener]:
    local = LocalAE(ae_title="QRSCOPE", listener_port=free_port(), bind_address="127.0.0.1",
                    storage_folder=tmp_path / "in")
    sender = RemoteNode(name="Sender", ae_title="SENDER", host="127.0.0.1", port=104)
    with StorageListener(local, AssociationLog(), known_nodes=lambda: [sender]) as running:
        yield running


def test_an_incoming_association_shows_the_callers_proposal_and_our_answer(listener):
    ae = AE(ae_title="SENDER")
    ae.add_requested_context(CTImageStorage, [JPEGBaseline8Bit, ExplicitVRLittleEndian,
                                              ImplicitVRLittleEndian])
    ae.add_requested_context(MRImageStorage, UNKNOWN_SYNTAX)
    window = AsynchronousOperationsWindowNegotiation()
    window.maximum_number_operations_invoked = 3
    window.maximum_number_operations_performed = 2
    assoc = ae.associate("127.0.0.1", listener.port, ae_title="QRSCOPE", max_pdu=32768,
                         ext_neg=[window])
    assert assoc.is_established
    assoc.release()
    log = listener.log
    (requested,) = _events(log, "requested")
    (accepted,) = _events(log, "accepted")
    assert requested.direction is accepted.direction is Direction.INCOMING
    cx_ct, cx_mr = requested.detail["contexts"]
    assert cx_ct["transfer_syntaxes"] == ("JPEG Baseline (Process 1)",
                                          "Explicit VR Little Endian",
                                          "Implicit VR Little Endian")
    assert requested.detail["max_pdu"] == 32768
    assert requested.detail["async_ops"] == [3, 2]
    assert accepted.detail["max_pdu_requestor"] == 32768
    assert accepted.detail["max_pdu_acceptor"] == MAX_PDU_LENGTH
    answers = {cx["id"]: cx for cx in accepted.detail["contexts"]}
    assert answers[cx_ct["id"]]["result"] == "accepted"
    # The listener takes any storage class in any syntax (unrestricted storage): the
    # answer names the syntax it accepted, even one without a name.
    assert answers[cx_mr["id"]]["abstract_syntax"] == "MR Image Storage"
    assert answers[cx_mr["id"]].get("transfer_syntax") in (None, UNKNOWN_SYNTAX)
    assert set(_context_lines(requested)) == set(_context_lines(accepted)) == set(answers)

    request_text = "\n".join(negotiation_lines(requested))
    assert "requestor (SENDER): maximum PDU length 32768 bytes" in request_text
    assert "asynchronous operations: 3 invoked, 2 performed" in request_text
    answer_text = "\n".join(negotiation_lines(accepted))
    assert (f"requestor (SENDER) receives 32768 bytes, acceptor (us) receives "
            f"{MAX_PDU_LENGTH} bytes") in answer_text


# -- hand-built primitives ------------------------------------------------------------------
def _request(contexts: list[PresentationContext], *items: object) -> A_ASSOCIATE:
    primitive = A_ASSOCIATE()
    primitive.calling_ae_title, primitive.called_ae_title = "SCU", "SCP"
    for n, cx in enumerate(contexts):
        cx.context_id = 2 * n + 1
    primitive.presentation_context_definition_list = contexts
    length = MaximumLengthNotification()
    length.maximum_length_received = 0
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = "1.2.3.4"
    primitive.user_information = [length, implementation, *items]
    return primitive


def _answer(results: list[tuple[int, int, str | None]], *items: object) -> A_ASSOCIATE:
    primitive = A_ASSOCIATE()
    primitive.result = 0
    answered = []
    for context_id, result, syntax in results:
        cx = PresentationContext()
        cx.context_id, cx.result = context_id, result
        cx.transfer_syntax = [syntax or ImplicitVRLittleEndian]
        answered.append(cx)
    primitive.presentation_context_definition_results_list = answered
    length = MaximumLengthNotification()
    length.maximum_length_received = 16384
    primitive.user_information = [length, *items]
    return primitive


def test_every_reason_of_ps3_8_is_named_and_an_unanswered_role_is_the_default():
    request = _request([build_context(c) for c in (CTImageStorage, MRImageStorage,
                                                   Verification, UNKNOWN_CLASS)],
                       build_role(CTImageStorage, scu_role=True, scp_role=True),
                       build_role(MRImageStorage, scp_role=True))
    granted = build_role(CTImageStorage, scu_role=True, scp_role=True)
    accept = _answer([(1, 0, ExplicitVRLittleEndian), (3, 0, ImplicitVRLittleEndian),
                      (5, 1, None), (7, 2, None)], granted)
    detail = describe_answer(accept, request)
    results = [(cx["abstract_syntax"], cx["result"], cx.get("role"))
               for cx in detail["contexts"]]
    assert results == [("CT Image Storage", "accepted", "SCU+SCP"),
                       ("MR Image Storage", "accepted", "default"),
                       ("Verification SOP Class", "user-rejection", None),
                       (UNKNOWN_CLASS, "no-reason", None)]
    proposal = describe_request(request)
    assert [cx.get("role") for cx in proposal["contexts"]] == ["SCU+SCP", "SCP", None, None]
    event = AssociationEvent(time=datetime.now(UTC),
                             association_id="out-1", direction=Direction.OUTGOING,
                             kind="requested", summary="", peer_ae="SCP", detail=proposal)
    assert "maximum PDU length no limit; implementation 1.2.3.4" in negotiation_lines(event)[0]


def test_a_huge_request_is_kept_whole_but_unnamed_syntaxes_are_bounded():
    """128 contexts of 26 syntaxes, 25 of them made up (113 KB on the wire)."""
    contexts = [build_context(CTImageStorage, [ExplicitVRLittleEndian, *(
        f"1.2.826.0.1.3680043.10.21.{n}.{k}" for k in range(25))]) for n in range(128)]
    detail = describe_request(_request(contexts))
    kept = detail["contexts"]
    assert len(kept) == 128 and "more_contexts" not in detail
    assert all(cx["transfer_syntaxes"][0] == "Explicit VR Little Endian" for cx in kept)
    unnamed = sum(len(cx["transfer_syntaxes"]) - 1 for cx in kept)
    assert unnamed == UNNAMED_SYNTAXES_KEPT
    assert sum(cx.get("more_transfer_syntaxes", 0) for cx in kept) == 128 * 25 - unnamed


def test_repeated_requests_share_their_context_entries():
    """A PACS proposes the same contexts on every C-MOVE: the log keeps them once."""
    def request() -> A_ASSOCIATE:
        return _request([build_context(c) for c in (CTImageStorage, MRImageStorage)])

    first, second = describe_request(request()), describe_request(request())
    assert first["contexts"] == second["contexts"]
    assert all(a is b for a, b in zip(first["contexts"], second["contexts"], strict=True))


def test_a_flood_of_large_distinct_requests_keeps_the_log_bounded():
    """Every context of the latest large negotiations is kept; older ones keep the first
    few and a count, so a flood of distinct 128-context requests cannot fill memory."""
    log = AssociationLog()
    limit, trim = AssociationLog.DETAILED_NEGOTIATIONS, AssociationLog.CONTEXTS_AFTER_TRIM
    for n in range(limit + 5):
        contexts = [build_context(f"1.2.826.0.1.3680043.10.22.{n}.{k}") for k in range(128)]
        log.record(f"in-{n}", Direction.INCOMING, "requested", "A-ASSOCIATE-RQ",
                   detail=describe_request(_request(contexts)))
    events = log.events()
    assert [len(e.detail["contexts"]) for e in events[:6]] == [trim] * 5 + [128]
    assert all(len(e.detail["contexts"]) == 128 for e in events[5:])
    oldest = "\n".join(negotiation_lines(events[0]))
    assert "128 presentation context(s) proposed" in oldest
