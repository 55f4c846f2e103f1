"""Wall-clock reasoning in the user's IANA timezone: local days, quiet hours, windows.

Everything takes and returns aware UTC datetimes; local time exists only inside these
functions. Nonexistent local times (the spring-forward gap) resolve to the instant just after
the gap; ambiguous ones (fall back) to their first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_WALL = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
WINDOWS: dict[str, tuple[time, time]] = {
    "morning": (time(6), time(11)),
    "afternoon": (time(12), time(17)),
    "evening": (time(18), time(21)),
}


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`; ValueError naming it when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA timezone {name!r}") from None


def at_local(day: date, wall: time, tz: ZoneInfo, *, fold: int = 0) -> datetime:
    """The UTC instant of a wall-clock time on a local day; `fold=1` picks the second of a
    time that a fall-back change repeats."""
    local = datetime.combine(day, wall, tzinfo=tz).replace(fold=fold)
    # Round-trip through UTC: a time in a DST gap comes back moved forward past the gap.
    return local.astimezone(UTC)


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def next_local_midnight(at: datetime, tz: ZoneInfo) -> datetime:
    return at_local(local_day(at, tz) + timedelta(days=1), time(0), tz)


def parse_wall_time(text: str) -> time:
    """`HH:MM` (24-hour, seconds allowed) as a time; ValueError naming the text otherwise."""
    match = _WALL.fullmatch(text.strip())
    try:
        if match is None:
            raise ValueError
        return time(int(match[1]), int(match[2]), int(match[3] or 0))
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day as HH:MM") from None


@dataclass(frozen=True, slots=True)
class Span:
    """A daily span of wall-clock time, [start, end); it crosses midnight when end < start."""

    start: time
    end: time

    def contains(self, wall: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def end_after(self, at: datetime, tz: ZoneInfo) -> datetime | None:
        """When `at` lies inside the span, the instant the span ends; otherwise None."""
        local = at.astimezone(tz)
        wall = local.time().replace(tzinfo=None)
        if not self.contains(wall):
            return None
        day = local.date()
        if self.start > self.end and wall >= self.start:
            day += timedelta(days=1)
        # An end in an hour a fall-back change repeats happens twice: the first one after `at`.
        first, second = (at_local(day, self.end, tz, fold=fold) for fold in (0, 1))
        return first if first > at else second

    def next_start(self, at: datetime, tz: ZoneInfo) -> datetime:
        """The first instant at or after `at` that lies inside the span."""
        local = at.astimezone(tz)
        if self.contains(local.time().replace(tzinfo=None)):
            return at
        start = at_local(local.date(), self.start, tz)
        return start if start > at else at_local(local.date() + timedelta(days=1), self.start, tz)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


def window_span(name: str) -> Span:
    start, end = WINDOWS[name]
    return Span(start, end)
