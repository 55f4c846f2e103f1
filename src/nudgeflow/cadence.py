"""When a rule looks at a user: hourly, daily, weekly or a cron expression, in local time.

A cadence answers two questions for a user's timezone: the latest tick at or before an
instant (has the rule been due since we last looked?) and the first tick after it (when to
look again). Daily and weekly ticks fall at the configured local send time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from croniter import croniter

from nudgeflow.localtime import at_local, parse_wall_time

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Cadence(Protocol):
    def previous(self, at: datetime, tz: ZoneInfo) -> datetime:
        """The latest tick at or before `at`."""
        ...

    def next(self, at: datetime, tz: ZoneInfo) -> datetime:
        """The first tick strictly after `at`."""
        ...


@dataclass(frozen=True, slots=True)
class OnFacts:
    """No ticks of its own: the rule runs when the user's facts change or a recheck it asked
    for comes due (a meeting's reminder). Far-off ticks keep the arithmetic uniform."""

    FAR = timedelta(days=3650)

    def previous(self, at: datetime, tz: ZoneInfo) -> datetime:
        return at - self.FAR

    def next(self, at: datetime, tz: ZoneInfo) -> datetime:
        return at + self.FAR

    def __str__(self) -> str:
        return "when facts change or a recheck is due"


@dataclass(frozen=True, slots=True)
class Hourly:
    minute: int = 30

    def previous(self, at: datetime, tz: ZoneInfo) -> datetime:
        # Subtract in UTC: wall-clock arithmetic would be off by the DST shift.
        tick = at.astimezone(tz).replace(minute=self.minute, second=0, microsecond=0)
        tick = tick.astimezone(at.tzinfo)
        return tick - timedelta(hours=1) if tick > at else tick

    def next(self, at: datetime, tz: ZoneInfo) -> datetime:
        return self.previous(at, tz) + timedelta(hours=1)

    def __str__(self) -> str:
        return f"hourly at :{self.minute:02d}"


@dataclass(frozen=True, slots=True)
class Daily:
    at: time = time(9)

    def previous(self, at: datetime, tz: ZoneInfo) -> datetime:
        day = at.astimezone(tz).date()
        tick = at_local(day, self.at, tz)
        return tick if tick <= at else at_local(day - timedelta(days=1), self.at, tz)

    def next(self, at: datetime, tz: ZoneInfo) -> datetime:
        day = at.astimezone(tz).date()
        tick = at_local(day, self.at, tz)
        return tick if tick > at else at_local(day + timedelta(days=1), self.at, tz)

    def __str__(self) -> str:
        return f"daily at {self.at:%H:%M} local"


@dataclass(frozen=True, slots=True)
class Weekly:
    weekday: int = 0  # Monday
    at: time = time(9)

    def previous(self, at: datetime, tz: ZoneInfo) -> datetime:
        day = at.astimezone(tz).date()
        day -= timedelta(days=(day.weekday() - self.weekday) % 7)
        tick = at_local(day, self.at, tz)
        return tick if tick <= at else at_local(day - timedelta(days=7), self.at, tz)

    def next(self, at: datetime, tz: ZoneInfo) -> datetime:
        day = at.astimezone(tz).date()
        day += timedelta(days=(self.weekday - day.weekday()) % 7)
        tick = at_local(day, self.at, tz)
        return tick if tick > at else at_local(day + timedelta(days=7), self.at, tz)

    def __str__(self) -> str:
        return f"weekly on {WEEKDAYS[self.weekday]} at {self.at:%H:%M} local"


@dataclass(frozen=True, slots=True)
class Cron:
    expression: str

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.expression):
            raise ValueError(f"{self.expression!r} is not a valid cron expression")

    def previous(self, at: datetime, tz: ZoneInfo) -> datetime:
        # croniter's get_prev is strict, so step a second past `at` to include a tick at `at`.
        start = (at + timedelta(seconds=1)).astimezone(tz)
        tick: datetime = croniter(self.expression, start).get_prev(datetime)
        return tick.astimezone(at.tzinfo)

    def next(self, at: datetime, tz: ZoneInfo) -> datetime:
        tick: datetime = croniter(self.expression, at.astimezone(tz)).get_next(datetime)
        return tick.astimezone(at.tzinfo)

    def __str__(self) -> str:
        return f"cron {self.expression!r} local"


def parse_cadence(text: str, *, daily_at: time = time(9), weekly_on: int = 0) -> Cadence:
    """`on_facts`, `hourly`, `daily`, `daily@18:00`, `weekly`, `weekly@friday`,
    `weekly@friday@17:00` or a five-field cron expression evaluated in the user's timezone."""
    name, _, rest = text.strip().partition("@")
    if name == "on_facts":
        return OnFacts()
    if name == "hourly":
        return Hourly()
    if name == "daily":
        return Daily(parse_wall_time(rest) if rest else daily_at)
    if name == "weekly":
        day_text, _, wall = rest.partition("@")
        if day_text and day_text.lower() not in WEEKDAYS:
            raise ValueError(f"{day_text!r} is not a weekday name")
        weekday = WEEKDAYS.index(day_text.lower()) if day_text else weekly_on
        return Weekly(weekday, parse_wall_time(wall) if wall else daily_at)
    return Cron(text.strip())
