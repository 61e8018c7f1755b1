"""The pace against a simulated PACS that answers "busy" above N retrieves at once.

Pure: a discrete clock ticks one second at a time; no network, no sleeps. The
PACS answers a retrieve that would make more than its capacity run at once
with A702 one second after it began, and any other after three seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from qrscope.core.batch.pace import Pace

BUSY_AFTER, DONE_AFTER = 1.0, 3.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Item:
    name: int
    attempts: int = 0
    ready_at: float = 0.0
    state: str = "queued"


@dataclass
class Running:
    item: Item
    started: float
    ends: float
    busy: bool


@dataclass
class Run:
    items: list[Item]
    busy_answers: int = 0
    most_allowed_once_settled: int = 0
    """The most the pace allowed after it first came down to the capacity."""
    concurrency: list[int] = field(default_factory=list)


def simulate(capacity: int, max_parallel: int, count: int, *, seed: int = 1) -> tuple[Run, Pace]:
    clock = Clock()
    pace = Pace(max_parallel, clock=clock, rng=random.Random(seed), grow_after=5,
                busy_pause=20.0, max_pause=120.0, retry_base=2.0, retry_cap=30.0,
                max_attempts=6)
    run = Run([Item(n) for n in range(count)])
    running: list[Running] = []
    settled = False
    for _ in range(100_000):
        for job in [r for r in running if r.ends <= clock.now]:
            running.remove(job)
            _answer(pace, run, job, clock.now)
        if all(item.state in ("done", "failed") for item in run.items):
            return run, pace
        ready = [i for i in run.items if i.state == "queued" and i.ready_at <= clock.now]
        while ready and len(running) < pace.allowed():
            item = ready.pop(0)
            item.state, item.attempts = "running", item.attempts + 1
            busy = len(running) + 1 > capacity
            running.append(Running(item, clock.now, clock.now + (BUSY_AFTER if busy
                                                                 else DONE_AFTER), busy))
        settled = settled or pace.state().parallel <= capacity
        if settled:
            run.most_allowed_once_settled = max(run.most_allowed_once_settled,
                                                pace.state().parallel)
        run.concurrency.append(len(running))
        clock.now += 1.0
    raise AssertionError("the simulated batch did not end")


def _answer(pace: Pace, run: Run, job: Running, now: float) -> None:
    item = job.item
    if not job.busy:
        item.state = "done"
        pace.on_success()
        return
    run.busy_answers += 1
    pace.on_busy("A702 refused: out of resources from SIM", started=job.started)
    if pace.may_retry(item.attempts):
        item.state, item.ready_at = "queued", now + pace.delay_before_retry(item.attempts)
    else:
        item.state = "failed"


@pytest.mark.parametrize(("capacity", "max_parallel"), [(3, 8), (1, 4), (5, 16)])
def test_concurrency_converges_under_the_capacity_and_every_item_completes(
        capacity: int, max_parallel: int) -> None:
    run, pace = simulate(capacity, max_parallel, count=200)
    assert all(item.state == "done" for item in run.items)
    assert pace.changes and pace.changes[0].new < max_parallel  # it backed off
    # Once down to what the PACS copes with, the pace only probes one above it.
    assert run.most_allowed_once_settled <= capacity + 1
    # Busy answers are the probes: a small share of all the retrieves asked.
    asked = sum(item.attempts for item in run.items)
    assert run.busy_answers - max_parallel <= asked // 5
    # Over the second half of the run, the PACS is kept near its capacity.
    tail = run.concurrency[len(run.concurrency) // 2:]
    assert max(tail) <= capacity + 1 and sum(tail) / len(tail) >= capacity / 3


def test_a_pace_that_starts_within_the_capacity_never_changes_down() -> None:
    run, pace = simulate(capacity=4, max_parallel=4, count=50)
    assert all(item.state == "done" for item in run.items)
    assert run.busy_answers == 0 and pace.changes == []


def test_retries_are_bounded_when_the_pacs_is_always_busy() -> None:
    run, _ = simulate(capacity=0, max_parallel=2, count=3)
    assert [item.state for item in run.items] == ["failed"] * 3
    assert [item.attempts for item in run.items] == [6, 6, 6]
