"""The pace's first pause after a busy answer, from ``QRSCOPE_BATCH_BUSY_PAUSE``."""

from __future__ import annotations

import logging

import pytest

from qrscope.core.batch.pace import (
    BUSY_PAUSE_VARIABLE,
    DEFAULT_BUSY_PAUSE,
    Pace,
    busy_pause_setting,
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_without_the_variable_the_pause_is_the_default() -> None:
    assert busy_pause_setting({}) == DEFAULT_BUSY_PAUSE
    assert busy_pause_setting({BUSY_PAUSE_VARIABLE: " "}) == DEFAULT_BUSY_PAUSE


def test_the_variable_sets_the_first_pause_and_busy_answers_in_a_row_still_double_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUSY_PAUSE_VARIABLE, "2.5")
    clock = Clock()
    pace = Pace(8, clock=clock)
    pace.on_busy("A702 from PACS1")
    assert pace.changes[-1].pause == 2.5
    assert pace.allowed() == 0
    clock.now = 2.5
    assert pace.allowed() == 4
    pace.on_busy("A702 from PACS1")
    assert (pace.changes[-1].new, pace.changes[-1].pause) == (2, 5.0)


def test_an_explicit_pause_wins_over_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUSY_PAUSE_VARIABLE, "2.5")
    pace = Pace(8, clock=Clock(), busy_pause=7.0)
    pace.on_busy("A702 from PACS1")
    assert pace.changes[-1].pause == 7.0


@pytest.mark.parametrize("text", ["soon", "0", "-3", "nan", "inf"])
def test_a_value_that_is_no_positive_number_is_logged_and_the_default_kept(
        text: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="qrscope.core.batch.pace"):
        assert busy_pause_setting({BUSY_PAUSE_VARIABLE: text}) == DEFAULT_BUSY_PAUSE
    assert BUSY_PAUSE_VARIABLE in caplog.text and repr(text) in caplog.text
