"""When a node may be asked for batch retrieves: its availability window.

Hospitals ask research fetches to stay off the PACS in clinical hours; XNAT's
DQR keeps a weekly schedule per PACS and Niffler a night window. The window is
written as people say it: ``22:00-06:00`` (every day), or rules with days,
``Sat-Sun 00:00-24:00; Mon-Fri 20:00-07:00``. A range that crosses midnight
belongs to the day it starts on (Friday 20:00-07:00 runs into Saturday
morning), as in cron and DQR. Times are the local wall clock of the datetimes
given; the window knows nothing of time zones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["AvailabilityWindow", "WindowError"]

_DAY = 24 * 60
_WEEK = 7 * _DAY
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_RANGE = re.compile(r"^(\d{1,2}:\d{2})-(\d{1,2}:\d{2})$")
_EXAMPLE = "e.g. '22:00-06:00' or 'Sat-Sun 00:00-24:00; Mon-Fri 20:00-07:00'"


class WindowError(ValueError):
    """An availability window that cannot be read; the message says where and how."""


def _minutes(text: str, *, end: bool) -> int:
    match = _TIME.fullmatch(text)
    hours, minutes = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
    value = hours * 60 + minutes
    if not match or minutes > 59 or value > _DAY or (value == _DAY and not end):
        allowed = "00:00 to 24:00" if end else "00:00 to 23:59"
        raise WindowError(f"'{text}' is not a time of day (HH:MM, {allowed})")
    return value


def _day(text: str) -> int:
    name = text.strip().lower()
    for index, day in enumerate(_DAYS):
        if len(name) >= 3 and day.startswith(name[:3]) and _full_name(day).startswith(name):
            return index
    raise WindowError(f"'{text}' is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")


def _full_name(day: str) -> str:
    return {"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday",
            "fri": "friday", "sat": "saturday", "sun": "sunday"}[day]


def _days(text: str) -> list[int]:
    """'Mon-Fri', 'Sat,Sun', 'Fri-Mon' (across the week's end) → weekday numbers."""
    days: list[int] = []
    for part in text.split(","):
        first, dash, last = part.partition("-")
        start = _day(first)
        stop = _day(last) if dash else start
        days += [(start + i) % 7 for i in range((stop - start) % 7 + 1)]
    return days


@dataclass(frozen=True)
class _Rule:
    days: tuple[int, ...]
    start: int
    end: int


def _rule(text: str) -> list[_Rule]:
    """One rule: optional days, then time ranges apart by spaces or commas."""
    tokens = text.split()
    days = list(range(7))
    if tokens and not tokens[0][0].isdigit():
        days = _days(tokens.pop(0))
    ranges = [part for token in tokens for part in token.split(",") if part]
    if not ranges:
        raise WindowError(f"'{text.strip()}' names days but no time range ({_EXAMPLE})")
    rules = []
    for token in ranges:
        match = _RANGE.match(token)
        if not match:
            raise WindowError(f"'{token}' is not a time range HH:MM-HH:MM ({_EXAMPLE})")
        start, end = _minutes(match.group(1), end=False), _minutes(match.group(2), end=True)
        if start == end:
            raise WindowError(f"'{token}' is empty (for a whole day write 00:00-24:00)")
        rules.append(_Rule(tuple(days), start, end))
    return rules


def _intervals(rules: list[_Rule]) -> tuple[tuple[int, int], ...]:
    """Merged [start, end) minutes of the week, a range past Sunday split at the week's end."""
    spans: list[tuple[int, int]] = []
    for rule in rules:
        length = (rule.end - rule.start) % _DAY or _DAY
        for day in rule.days:
            start = day * _DAY + rule.start
            end = start + length
            spans += [(start, min(end, _WEEK))] + ([(0, end - _WEEK)] if end > _WEEK else [])
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


@dataclass(frozen=True)
class AvailabilityWindow:
    """The weekly hours a node may be asked for batch retrieves."""

    text: str
    """The window as written (stored in the node's profile, shown in the editor)."""
    intervals: tuple[tuple[int, int], ...]
    """Merged, sorted [start, end) minutes of the week, Monday 00:00 = 0."""

    @classmethod
    def parse(cls, text: str) -> AvailabilityWindow:
        """Read a window; :class:`WindowError` says what is wrong and how to write it."""
        rules = [rule for part in text.split(";") if part.strip() for rule in _rule(part)]
        if not rules:
            raise WindowError(f"no time range given ({_EXAMPLE})")
        return cls(text=" ".join(text.split()), intervals=_intervals(rules))

    @property
    def always(self) -> bool:
        """Open the whole week (then it never closes)."""
        return self.intervals == ((0, _WEEK),)

    def open_at(self, when: datetime) -> bool:
        """Whether the window is open at *when*."""
        return self._containing(_minute_of_week(when)) is not None

    def next_open(self, when: datetime) -> datetime:
        """*when* itself if open, else the moment the window next opens."""
        minute = _minute_of_week(when)
        if self._containing(minute) is not None:
            return when
        start = min((s for s, _ in self.intervals), key=lambda s: (s - minute) % _WEEK)
        return _floor_minute(when) + timedelta(minutes=(start - int(minute)) % _WEEK)

    def closes_at(self, when: datetime) -> datetime | None:
        """When the window open at *when* closes; None when it is closed or never closes."""
        minute = _minute_of_week(when)
        span = self._containing(minute)
        if span is None or self.always:
            return None
        end = span[1]
        if end == _WEEK and self.intervals[0][0] == 0:  # open on across Sunday midnight
            end = _WEEK + self.intervals[0][1]
        return _floor_minute(when) + timedelta(minutes=end - int(minute))

    def _containing(self, minute: float) -> tuple[int, int] | None:
        return next(((s, e) for s, e in self.intervals if s <= minute < e), None)

    def __str__(self) -> str:
        return self.text


def _minute_of_week(when: datetime) -> float:
    return (when.weekday() * _DAY + when.hour * 60 + when.minute
            + (when.second + when.microsecond / 1e6) / 60)


def _floor_minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)
