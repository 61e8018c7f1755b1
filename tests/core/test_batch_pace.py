"""The pace: AIMD on a node's parallel retrieves, its pauses, back-off and jitter."""

from __future__ import annotations

import random

import pytest

from qrscope.core.batch.pace import Pace, PaceChange, PaceEventKind, classify
from qrscope.core.dicom.status import Service, decode_status
from qrscope.core.net.connection import AssociationFailure, FailureReason
from qrscope.core.profiles import RetrieveMethod
from qrscope.core.retrieve.outcome import RetrieveOutcome


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(max_parallel: int = 8, **kwargs: object) -> tuple[Pace, Clock]:
    clock = Clock()
    return Pace(max_parallel, clock=clock, rng=random.Random(7), **kwargs), clock  # type: ignore[arg-type]


def test_busy_halves_and_pauses_for_all() -> None:
    pace, clock = make(8)
    pace.on_busy("A702 refused: out of resources from PACS1")
    assert pace.allowed() == 0
    assert str(pace.changes[-1]) == ("8 → 4 parallel, paused 30 s: "
                                     "A702 refused: out of resources from PACS1")
    state = pace.state()
    assert (state.parallel, state.paused_until, state.why) == (
        4, 30.0, "A702 refused: out of resources from PACS1")
    clock.now = 30.0
    assert pace.allowed() == 4 and not pace.state().paused


def test_repeated_busy_pauses_grow_and_are_capped() -> None:
    pace, clock = make(64, busy_pause=30.0, max_pause=600.0)
    pauses = []
    for _ in range(8):
        pace.on_busy("busy")
        pauses.append(pace.changes[-1].pause)
        clock.now += pace.changes[-1].pause  # the next busy answer after the pause
    assert pauses == [30, 60, 120, 240, 480, 600, 600, 600]
    assert [c.new for c in pace.changes] == [32, 16, 8, 4, 2, 1, 1, 1]


def test_a_success_ends_the_streak_of_busy_pauses() -> None:
    pace, clock = make(8)
    pace.on_busy("busy")
    clock.now = 30.0
    pace.on_busy("busy")
    clock.now = 100.0
    pace.on_success()
    pace.on_busy("busy")
    assert [c.pause for c in pace.changes] == [30, 60, 30]


def test_answers_of_retrieves_under_way_before_the_cut_cut_nothing_more() -> None:
    pace, clock = make(8)
    clock.now = 10.0
    pace.on_busy("first")
    pace.on_busy("during the pause")
    pace.on_failure("during the pause")
    clock.now = 50.0
    pace.on_busy("a long retrieve started before the cut", started=5.0)
    assert [c.why for c in pace.changes] == ["first"]
    pace.on_busy("started after the cut", started=45.0)
    assert [c.why for c in pace.changes] == ["first", "started after the cut"]


def test_failure_takes_one_off_with_a_shorter_pause() -> None:
    pace, _ = make(4, busy_pause=30.0, failure_pause=10.0)
    pace.on_failure("association aborted by PACS1")
    assert (pace.changes[-1].old, pace.changes[-1].new, pace.changes[-1].pause) == (4, 3, 10.0)
    assert pace.allowed() == 0


def test_never_below_the_minimum() -> None:
    pace, clock = make(4, min_parallel=2)
    for _ in range(3):
        pace.on_busy("busy")
        clock.now += 1000
    assert pace.allowed() == 2


def test_successes_raise_the_pace_slowly_back_to_its_maximum() -> None:
    pace, clock = make(4, grow_after=5)
    pace.on_busy("busy")
    pace.on_busy("busy")  # same episode: ignored
    clock.now = 1000.0
    pace.on_busy("busy")
    assert pace.allowed() == 0
    clock.now = 5000.0
    assert pace.allowed() == 1
    seen = []
    for _ in range(40):
        pace.on_success()
        seen.append(pace.allowed())
    assert seen[:4] == [1, 1, 1, 1] and seen[4] == 2  # one more after five in a row
    assert seen.index(4) == 14 and max(seen) == 4
    assert [str(c) for c in pace.changes[-3:]] == [
        f"{n} → {n + 1} parallel: 5 retrieves in a row succeeded" for n in (1, 2, 3)]


def test_jitter_stays_within_its_bounds_and_spreads() -> None:
    pace, _ = make(4, retry_base=5.0, retry_cap=300.0)
    assert [pace.retry_ceiling(a) for a in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]
    for attempt in (1, 3, 8):
        draws = [pace.delay_before_retry(attempt) for _ in range(500)]
        ceiling = pace.retry_ceiling(attempt)
        assert all(0.0 <= d <= ceiling for d in draws)
        assert min(draws) < ceiling / 4 and max(draws) > ceiling * 3 / 4
    first, second = make(4)[0], make(4)[0]  # the same seed: the same draws
    assert [first.delay_before_retry(3) for _ in range(5)] == [
        second.delay_before_retry(3) for _ in range(5)]


def test_retries_are_bounded() -> None:
    pace, _ = make(4, max_attempts=3)
    assert [pace.may_retry(a) for a in (1, 2, 3, 4)] == [True, True, False, False]


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="minimum"):
        Pace(2, min_parallel=3)
    with pytest.raises(ValueError, match="minimum"):
        Pace(0)


def test_a_change_reads_as_the_log_shows_it() -> None:
    change = PaceChange(time=0.0, old=2, new=1, why="A702 Out of resources from PACS1",
                        pause=30.0)
    assert str(change) == "2 → 1 parallel, paused 30 s: A702 Out of resources from PACS1"
    assert "paused 10 min" in str(PaceChange(0.0, 1, 1, "x", pause=600.0))


# -- classify: what a retrieve's outcome tells the pace ------------------------------------

def outcome(**fields: object) -> RetrieveOutcome:
    return RetrieveOutcome(job_id="j1", method=RetrieveMethod.MOVE, **fields)  # type: ignore[arg-type]


def test_a702_is_busy_and_names_the_code_and_node() -> None:
    event = classify(outcome(final_status=decode_status(Service.MOVE, 0xA702)), "PACS1")
    assert event.kind is PaceEventKind.BUSY and event.retry
    assert event.reason.startswith("A702 ") and "out of resources" in event.reason.lower()
    assert event.reason.endswith(" from PACS1")
    assert classify(outcome(final_status=decode_status(Service.GET, 0xA700))).kind is (
        PaceEventKind.BUSY)


def test_association_failures_by_what_they_say_about_load() -> None:
    congested = AssociationFailure(FailureReason.REJECTED, "'PACS1' rejected: congestion",
                                   result=2, source=3, diagnostic=1)
    assert classify(outcome(failure=congested), "PACS1").kind is PaceEventKind.BUSY
    aborted = AssociationFailure(FailureReason.ABORTED, "aborted")
    assert classify(outcome(failure=aborted), "PACS1").reason == "aborted from PACS1"
    assert classify(outcome(failure=aborted)).kind is PaceEventKind.FAILURE
    wrong_title = AssociationFailure(FailureReason.REJECTED_CALLED_AET, "'PACS1' rejected",
                                     result=1, source=1, diagnostic=7)
    event = classify(outcome(failure=wrong_title), "PACS1")
    assert event.kind is PaceEventKind.NEUTRAL and not event.retry


def test_timeouts_aborts_cancels_and_successes() -> None:
    ok = decode_status(Service.MOVE, 0x0000)
    assert classify(outcome(final_status=ok, timed_out="idle")).kind is PaceEventKind.FAILURE
    assert classify(outcome(final_status=None)).kind is PaceEventKind.FAILURE
    assert classify(outcome(final_status=ok, peer_aborted=True)).kind is PaceEventKind.FAILURE
    assert classify(outcome(cancelled=True)).kind is PaceEventKind.NEUTRAL
    assert classify(outcome(final_status=ok)).kind is PaceEventKind.SUCCESS
    with_failures = decode_status(Service.MOVE, 0xB000)
    assert classify(outcome(final_status=with_failures)).kind is PaceEventKind.SUCCESS
