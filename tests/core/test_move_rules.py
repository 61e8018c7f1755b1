"""The C-MOVE hint rules, row by row: each predicate over the evidence, and what it gives."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qrscope.core.dicom.status import Service, decode_status
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.receive.reception import ReceivedInstance
from qrscope.core.retrieve.types import RetrieveOutcome
from qrscope.diagnosis.move_hints import (
    CAUSE_RULES,
    FILTERED_AFTER_SECONDS,
    MOVE_RULES,
    MoveEvidence,
    move_hints,
)

LOCAL = LocalAE(ae_title="QRSCOPE")
NODE = RemoteNode(name="pacs", ae_title="PACS", host="10.0.0.5", port=104)
LATE = ReceivedInstance("1.2.3", "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1", "PACS",
                        "QRSCOPE", "10.0.0.5", "a1")


def _ev(code: int | None = None, *, node: RemoteNode = NODE, local: LocalAE = LOCAL,
        known: bool | None = None, **fields) -> MoveEvidence:
    final = decode_status(Service.MOVE, code) if code is not None else None
    outcome = RetrieveOutcome(job_id="j", method=RetrieveMethod.MOVE,
                              move_destination=fields.pop("move_destination", "QRSCOPE"),
                              final_status=final, **fields)
    return MoveEvidence(outcome, node, local, 11112, known)


# rule name -> (evidence where it applies, evidence where it does not, hint ids it gives)
CAUSES = {
    "known-destination-not-reached": (_ev(0xA801, known=True), _ev(0xA801),
                                      ["reverse-connection-failed"]),
    "destination-unknown": (_ev(0xA801), _ev(0xC000, completed=1),
                            ["move-destination-unknown", "reverse-connection-failed"]),
    "out-of-resources": (_ev(0xA701), _ev(0xA702), []),
    "silent-while-connecting-back": (_ev(None, timed_out="idle"), _ev(None, timed_out="idle",
                                                                      responses=1),
                                     ["reverse-connection-failed"]),
    "nothing-came-back": (_ev(0xA702), _ev(0xB000, completed=2), ["reverse-connection-failed"]),
}
MOVES = {
    "listener-loopback-only": (_ev(0x0000, local=replace(LOCAL, bind_address="127.0.0.1")),
                               _ev(0x0000), ["listener-loopback-only"]),
    "move-destination-mismatch": (_ev(0xB000, move_destination="OTHER"), _ev(0xB000),
                                  ["move-destination-mismatch"]),
    "why-nothing-arrived": (_ev(0xA801), None, ["move-destination-unknown",
                                                "reverse-connection-failed"]),
    "images-after-final-response": (_ev(0x0000, late=[LATE]), _ev(0x0000),
                                    ["images-after-final-response"]),
    "fewer-images-than-reported": (_ev(0x0000, completed=3), _ev(0x0000, completed=3,
                                                                 cancelled=True),
                                   ["fewer-images-than-reported"]),
}


def test_every_rule_has_its_case():
    assert [r.name for r in CAUSE_RULES] == list(CAUSES)
    assert [r.name for r in MOVE_RULES] == list(MOVES)


@pytest.mark.parametrize("rule", CAUSE_RULES + MOVE_RULES, ids=lambda r: r.name)
def test_each_rule_alone(rule):
    applies, does_not, ids = (CAUSES | MOVES)[rule.name]
    assert rule.applies(applies)
    assert [h.id for h in rule.hints(applies)] == ids
    if does_not is not None:  # None: the row always applies (its hints may be none)
        assert not rule.applies(does_not)


def test_only_the_first_cause_that_holds_speaks():
    # 0xA801 with a known destination also "looks unknown": the earlier row wins.
    ids = [h.id for h in move_hints(_ev(0xA801, known=True))]
    assert ids == ["reverse-connection-failed"]


def test_a_slow_generic_failure_is_not_an_unknown_destination():
    slow = _ev(0xC000, seconds=FILTERED_AFTER_SECONDS + 1)
    assert [h.id for h in move_hints(slow)] == ["reverse-connection-failed"]
    assert "timed out" in move_hints(slow)[0].summary


def test_rows_add_up_in_table_order():
    ev = _ev(0xA801, local=replace(LOCAL, bind_address="127.0.0.1"))
    assert [h.id for h in move_hints(ev)] == [
        "listener-loopback-only", "move-destination-unknown", "reverse-connection-failed"]
