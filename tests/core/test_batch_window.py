"""The availability window: read as people write it, open and closed at the right minutes."""

from __future__ import annotations

from datetime import datetime

import pytest

from qrscope.core.batch.window import AvailabilityWindow, WindowError

# 2024-06-03 is a Monday.
MON_NOON = datetime(2024, 6, 3, 12, 0)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """Monday 3 June 2024 + *day* days at hour:minute:second."""
    return datetime(2024, 6, 3 + day, hour, minute, second)


def test_a_night_every_day_crosses_midnight() -> None:
    window = AvailabilityWindow.parse("22:00-06:00")
    assert window.open_at(at(0, 23, 30))
    assert window.open_at(at(1, 5, 59))
    assert not window.open_at(at(1, 6, 0))
    assert not window.open_at(MON_NOON)
    assert window.open_at(at(0, 0, 10))  # Sunday's night runs into Monday morning


def test_days_and_several_rules() -> None:
    window = AvailabilityWindow.parse("Sat-Sun 00:00-24:00; Mon-Fri 20:00-07:00")
    assert not window.open_at(MON_NOON)
    assert window.open_at(at(0, 20, 0))
    assert window.open_at(at(1, 6, 59))  # Monday's night, Tuesday morning
    assert window.open_at(at(5, 12, 0)) and window.open_at(at(6, 23, 59))
    # A range belongs to the day it starts on: Sunday has no 20:00-07:00 of its own.
    assert not window.open_at(at(7, 3, 0))


def test_next_open_and_closes_at() -> None:
    window = AvailabilityWindow.parse("Sat-Sun 00:00-24:00; Mon-Fri 20:00-07:00")
    assert window.next_open(MON_NOON) == at(0, 20, 0)
    assert window.next_open(at(0, 21, 0)) == at(0, 21, 0)  # open now: now
    assert window.closes_at(at(0, 21, 5, 30)) == at(1, 7, 0)
    # Friday night runs into the weekend: one stretch, closing on Monday at 00:00.
    assert window.closes_at(at(4, 21, 0)) == at(7, 0, 0)
    assert window.closes_at(MON_NOON) is None


def test_next_open_wraps_over_the_end_of_the_week() -> None:
    window = AvailabilityWindow.parse("Mon 08:00-09:00")
    assert window.next_open(at(0, 9, 0)) == at(7, 8, 0)
    assert window.next_open(at(6, 23, 59, 30)) == at(7, 8, 0)


def test_open_across_sunday_midnight_closes_on_monday() -> None:
    window = AvailabilityWindow.parse("Sun 22:00-02:00")
    assert window.open_at(at(6, 23, 0)) and window.open_at(at(7, 1, 0))
    assert window.closes_at(at(6, 23, 0)) == at(7, 2, 0)


def test_always_open_never_closes() -> None:
    window = AvailabilityWindow.parse("00:00-24:00")
    assert window.always and window.closes_at(MON_NOON) is None


def test_day_lists_and_ranges_across_the_week_end() -> None:
    window = AvailabilityWindow.parse("Fri-Mon 10:00-11:00, 14:00-15:00")
    opened = {d for d in range(7) if window.open_at(at(d, 10, 30))}
    assert opened == {0, 4, 5, 6}
    assert window.open_at(at(5, 14, 30)) and not window.open_at(at(5, 12, 0))
    assert AvailabilityWindow.parse("monday,Wednesday 10:00-11:00").open_at(at(2, 10, 0))


@pytest.mark.parametrize(("text", "words"), [
    ("", "no time range"),
    ("  ;  ", "no time range"),
    ("25:00-06:00", "'25:00' is not a time of day"),
    ("22:00-06:60", "'06:60' is not a time of day"),
    ("24:00-06:00", "'24:00' is not a time of day"),
    ("Mo 10:00-11:00", "'Mo' is not a day"),
    ("Mon-Fri", "names days but no time range"),
    ("10:00-10:00", "is empty"),
    ("10-12", "'10-12' is not a time range"),
])
def test_errors_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(WindowError, match=words):
        AvailabilityWindow.parse(text)


def test_the_text_is_kept_for_the_profile() -> None:
    assert str(AvailabilityWindow.parse("  Sat-Sun   00:00-24:00 ")) == "Sat-Sun 00:00-24:00"
