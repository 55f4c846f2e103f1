"""When a user's next coaching message is due: a frequency, a window of local time, a timezone.

Pure: every function takes aware datetimes and returns aware UTC datetimes; local time exists
only inside. The rules, and how they meet daylight saving:

- **Intervals are local calendar days.** `daily` (24 h), `several_per_week` (48 h) and
  `weekly` (168 h) add 1, 2 or 7 days to the local date and keep the local wall-clock time, so a
  message sent at 08:10 comes back at 08:10 local even when the clocks changed overnight (the
  elapsed time is then 23 h or 25 h, or that ± 1 h across a week).
- **Bootstrap and retry intervals are elapsed hours** (a first message 1–7 h away, a retry
  2 h later): they are added in UTC, so a DST change neither stretches nor shrinks them.
- **Windows are half-open**: morning [06:00, 11:00), afternoon [12:00, 17:00), evening
  [18:00, 21:00), as `localtime.Span` is everywhere. A due time outside its window moves to the
  aim of the next window: the same day's when it is before the window, the next day's when it
  is at or after the window's end.
- **Nonexistent local times** (a spring-forward gap) resolve to the instant just after the gap
  (`localtime.at_local`); should that push an aim past the window's end, the next day's aim is
  taken. **Repeated local times** (fall back) resolve to their first occurrence.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from nudgeflow.clock import ensure_utc
from nudgeflow.errors import InvalidInput
from nudgeflow.localtime import WINDOWS, at_local, zone

FREQUENCY_DAYS: dict[str, int] = {"daily": 1, "several_per_week": 2, "weekly": 7}
FIRST_INTERVAL_HOURS: dict[str, tuple[int, int]] = {
    "daily": (1, 7),
    "several_per_week": (1, 13),
    "weekly": (1, 25),
}
RETRY_HOURS: dict[str, int] = {"daily": 2, "several_per_week": 4, "weekly": 8}
AIMS: dict[str, time] = {"morning": time(8), "afternoon": time(14), "evening": time(19)}
FREQUENCIES = tuple(FREQUENCY_DAYS)
WINDOW_NAMES = tuple(AIMS)


@dataclass(frozen=True, slots=True)
class Window:
    """A daily window of local time, [start, end), and the time messages aim for in it."""

    name: str
    start: time
    end: time
    aim: time

    def contains(self, wall: time) -> bool:
        return self.start <= wall < self.end

    def __str__(self) -> str:
        return f"{self.name} {self.start:%H:%M}–{self.end:%H:%M} (aim {self.aim:%H:%M})"


def window_spec(name: str) -> Window:
    """The window called `name`; InvalidInput naming it otherwise."""
    if name not in AIMS:
        raise InvalidInput("window", f"unknown window {name!r}; choose {_listing(WINDOW_NAMES)}")
    start, end = WINDOWS[name]
    return Window(name, start, end, AIMS[name])


def interval_days(frequency: str) -> int:
    """How many local days lie between two messages; InvalidInput naming a bad frequency."""
    if frequency not in FREQUENCY_DAYS:
        raise InvalidInput(
            "frequency", f"unknown frequency {frequency!r}; choose {_listing(FREQUENCIES)}"
        )
    return FREQUENCY_DAYS[frequency]


def user_zone(name: str) -> ZoneInfo:
    try:
        return zone(name)
    except ValueError:
        raise InvalidInput("timezone", f"unknown IANA timezone {name!r}") from None


def validate(frequency: str, window: str, timezone: str) -> None:
    """Raise InvalidInput naming the first bad setting, before anything is stored."""
    interval_days(frequency)
    window_spec(window)
    user_zone(timezone)


def into_window(at: datetime, window: str, timezone: str) -> datetime:
    """`at` itself when it lies inside the window in local time, else the next window's aim."""
    spec, tz = window_spec(window), user_zone(timezone)
    at = ensure_utc(at)
    local = at.astimezone(tz)
    if spec.contains(local.time()):
        return at
    day = local.date() if local.time() < spec.start else local.date() + timedelta(days=1)
    return _first_aim(day, at, spec, tz)


def next_due(
    last_sent_at: datetime,
    frequency: str,
    window: str,
    timezone: str,
    *,
    not_before: datetime | None = None,
) -> datetime:
    """The next message after one sent at `last_sent_at`: the same local time 1, 2 or 7 days
    later, moved into the window. Pass the time the sent message was *due* rather than when it
    went out, so that delivery delays do not push the schedule later and later. `not_before`
    (usually now) keeps a schedule that fell behind, say after a pause, from being in the past."""
    days, tz = interval_days(frequency), user_zone(timezone)
    local = ensure_utc(last_sent_at).astimezone(tz)
    due = at_local(local.date() + timedelta(days=days), local.time(), tz)
    if not_before is not None:
        due = max(due, ensure_utc(not_before))
    return into_window(due, window, timezone)


def bootstrap(
    now: datetime, frequency: str, window: str, timezone: str, rng: random.Random
) -> datetime:
    """The first message of a user without a schedule: a random 1–7 h (daily), 1–13 h (several
    per week) or 1–25 h (weekly) from now, to the second, moved into the window."""
    interval_days(frequency)
    low, high = FIRST_INTERVAL_HOURS[frequency]
    delay = timedelta(seconds=round(rng.uniform(low * 3600, high * 3600)))
    return into_window(ensure_utc(now) + delay, window, timezone)


def after_failure(now: datetime, frequency: str, window: str, timezone: str) -> datetime:
    """A failed attempt tries again sooner than the cadence: 2 h (daily), 4 h (several per
    week) or 8 h (weekly) from now, moved into the window."""
    interval_days(frequency)
    retry = timedelta(hours=RETRY_HOURS[frequency])
    return into_window(ensure_utc(now) + retry, window, timezone)


def _first_aim(day: date, after: datetime, spec: Window, tz: ZoneInfo) -> datetime:
    """The window's aim on `day` or the first day after it where the aim exists inside the
    window and after `after` (a spring-forward gap can push an aim out of its window)."""
    for offset in range(7):
        aim = at_local(day + timedelta(days=offset), spec.aim, tz)
        if aim > after and spec.contains(aim.astimezone(tz).time()):
            return aim
    raise AssertionError(f"no {spec} aim in the week after {day}")  # pragma: no cover


def _listing(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + f" or {names[-1]}"
