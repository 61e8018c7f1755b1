"""A retrieve's books (core/retrieve/ledger.py) and the outcome made from them once."""

from __future__ import annotations

import threading
from dataclasses import FrozenInstanceError, dataclass, field, replace

import pytest

from qrscope.core.dicom.status import Service, decode_status
from qrscope.core.profiles import RetrieveMethod
from qrscope.core.receive.claims import Admission, Standing
from qrscope.core.receive.reception import ReceivedInstance
from qrscope.core.receive.storage import StoredInstance
from qrscope.core.retrieve.ledger import RetrieveLedger
from qrscope.core.retrieve.outcome import Ending, build_outcome
from qrscope.core.retrieve.request import RequestCounts
from qrscope.core.retrieve.scope import RetrieveScope
from qrscope.core.retrieve.types import RetrieveOutcome

STUDY, SERIES = "1.2.3", "1.2.3.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
BASE = Standing("QRSCOPE", "PACS", "127.0.0.1", RetrieveScope.study(STUDY))


@dataclass
class _Request:
    """What the ledger reads of a request: its counts (and, for the outcome, its end)."""

    counts: RequestCounts = field(default_factory=RequestCounts)
    association_id: str = "out-1"
    local_address: str = ""
    peer_aborted: bool = False
    expired: str | None = None


def _instance(sop: str, calling: str = "PACS", stored: bool = True,
              duplicate: bool = False) -> ReceivedInstance:
    filed = StoredInstance(path=None, sop_instance_uid=sop, sop_class_uid=CT, study_uid=STUDY,
                           series_uid=SERIES, patient_id="P", size=1, duplicate=duplicate)
    return ReceivedInstance(sop, CT, "1.2.840.10008.1.2.1", calling, "QRSCOPE",
                            "127.0.0.1:1", "in-1", stored=filed if stored else None,
                            status=0 if stored else 0xA700, error="" if stored else "full")


def _ledger(method: RetrieveMethod = RetrieveMethod.MOVE) -> RetrieveLedger:
    return RetrieveLedger(RetrieveScope.study(STUDY), method, "PACS")


def _final(completed: int, failed: int = 0, failed_uids: tuple[str, ...] = ()) -> RequestCounts:
    status = 0xB000 if failed else 0x0000
    return RequestCounts(remaining=0, completed=completed, failed=failed, responses=1,
                         final=decode_status(Service.MOVE, status),
                         failed_uids=list(failed_uids))


def test_each_sop_instance_uid_is_credited_once():
    ledger = _ledger()
    assert ledger.receive(_instance("1.1"))[0]
    assert not ledger.receive(_instance("1.1", duplicate=True))[0]  # a second copy
    assert ledger.receive(_instance("1.2", stored=False))[0]  # recorded, not credited
    assert ledger.credited == 1
    assert [r.sop_instance_uid for r in ledger.received] == ["1.1", "1.2"]
    assert ledger.standing(BASE, "1.1").held and not ledger.standing(BASE, "1.2").held


def test_instances_after_the_final_c_move_response_are_late():
    ledger = _ledger()
    request = _Request()
    ledger.start(request, first=True)
    ledger.receive(_instance("1.1"))
    request.counts = _final(completed=2)
    ledger.receive(_instance("1.2"))
    assert [r.sop_instance_uid for r in ledger.close().late] == ["1.2"]


def test_what_a_recovery_request_brings_moves_from_failed_to_completed():
    ledger = _ledger(RetrieveMethod.GET)
    first, again = _Request(_final(1, failed=1, failed_uids=("1.2",))), _Request()
    ledger.start(first, first=True)
    ledger.receive(_instance("1.1"))
    ledger.stop()
    ledger.start(again, first=False)
    ledger.receive(_instance("1.2"))
    counts = ledger.counts()
    assert (counts.completed, counts.failed, counts.failed_uids) == (2, 0, [])
    assert ledger.close().recovered == {"1.2"}


def test_a_request_s_message_id_is_ours_once_registered():
    ledger = _ledger()
    assert 42 not in ledger.standing(BASE, "").message_ids
    ledger.register(42, without_patient_id=True)
    assert 42 in ledger.standing(BASE, "").message_ids
    assert ledger.close().patient_id_missing


def test_the_sender_s_titles_are_recorded_as_instances_arrive():
    ledger = _ledger()
    ledger.receive(_instance("1.1", calling="PACS_STORE"))
    assert not ledger.standing(BASE, "").sent_as_itself
    ledger.receive(_instance("1.2"))
    standing = ledger.standing(BASE, "")
    assert standing.sent_as_itself and standing.aliases == {"PACS_STORE"}


def test_only_one_alias_is_adopted_when_two_callers_race():
    ledger = _ledger()
    start = threading.Barrier(8)
    adopted: list[str] = []

    def admit(title: str) -> None:
        start.wait()

        def rule(standing: Standing) -> Admission:
            return Admission.NEW_ALIAS if not standing.aliases else (
                Admission.NODE if title in standing.aliases else Admission.NO)
        if ledger.admit(BASE, rule, title):
            adopted.append(title)

    threads = [threading.Thread(target=admit, args=(f"STORE{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(adopted) == 1 and ledger.standing(BASE, "").aliases == set(adopted)


def test_listener_threads_delivering_at_once_credit_each_instance_once():
    ledger = _ledger()
    uids = [f"1.{n}" for n in range(300)]
    start = threading.Barrier(6)

    def deliver() -> None:
        start.wait()
        for uid in uids:
            ledger.receive(_instance(uid, duplicate=True))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.credited == len(uids) == len(ledger.received)


def test_waiting_for_stragglers_ends_when_what_the_pacs_sent_is_credited():
    ledger = _ledger()
    ledger.start(_Request(_final(completed=2)), first=True)
    ledger.receive(_instance("1.1"))
    late = threading.Thread(target=ledger.receive, args=(_instance("1.2"),))
    waiting = threading.Thread(target=ledger.wait_for_stragglers,
                               args=(3600.0, threading.Event()))
    waiting.start()
    late.start()
    late.join()
    waiting.join()  # without the arrival's wake-up this would wait the hour
    assert ledger.credited == 2


def test_a_closed_ledger_stands_for_no_more_claims():
    ledger = _ledger()
    assert not ledger.standing(BASE, "").closed
    ledger.close()
    assert ledger.standing(BASE, "").closed


def _outcome() -> RetrieveOutcome:
    ledger = _ledger()
    ledger.register(42)
    ledger.start(_Request(_final(completed=1)), first=True)
    ledger.receive(replace(_instance("1.1"), originator_ae="PACS", originator_message_id=1))
    return build_outcome(ledger.close(), Ending(
        job_id="job-1", method=RetrieveMethod.MOVE, our_ae="QRSCOPE", observable=True,
        move_destination="QRSCOPE"))


def test_the_outcome_is_built_once_from_the_ledger():
    outcome = _outcome()
    assert (outcome.status, outcome.completed, len(outcome.stored)) == ("success", 1, 1)
    assert outcome.association_id == "out-1" and outcome.sender_aliases == []
    assert outcome.originator_quirk == "Move Originator AE Title 'PACS', Message ID 1"


def test_an_outcome_cannot_be_changed_after_it_is_made():
    outcome = _outcome()
    with pytest.raises(FrozenInstanceError):
        outcome.status = "partial"
    changed = replace(outcome, status="partial")
    assert (outcome.status, changed.status) == ("success", "partial")
    combined = RetrieveOutcome.combined([outcome, changed])
    assert combined is not outcome and combined.status == "partial"
    with pytest.raises(FrozenInstanceError):
        combined.completed = 0
