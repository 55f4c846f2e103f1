"""From what the text said to an instant: the day (relative, weekday, date), the hour
(exact, or guessed for a bare "at 4"), the zone, and the end.

Heuristics, in the user's local time (or the zone the text names):
* A bare hour reads as a working hour first: 7-11 in the morning, 12 at noon, 1-6 in the
  afternoon; a part of the day decides instead when there is one ("at 8 tonight").
* With no day, the preferred reading today if still ahead, else tomorrow ("standup at 9:30"
  said at noon is tomorrow's, not 21:30); a time that passed under GRACE ago is the one meant
  (the meeting under way), so it stays in the past.
* "Friday" is the next Friday (today if still ahead), "this Friday" the one of this
  week, "next Friday" the one of next week (weeks start on Monday), as Duckling does.
* A date without a year is the next one; "the 14th" is in this month or the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from nudgeflow.agenda.lexicon import PARTS
from nudgeflow.agenda.values import Clock, Day, Resolved, When

GRACE = timedelta(minutes=60)


@dataclass(frozen=True)
class Context:
    now: datetime  # aware
    zone: tzinfo
    day_first: bool = False  # 3/12 is 3 December (outside the Americas)


def resolve(when: When, ctx: Context) -> Resolved | None:
    zone = when.zone or ctx.zone
    local_now = ctx.now.astimezone(zone)
    user_today = ctx.now.astimezone(ctx.zone).date()  # "tomorrow" is the user's tomorrow
    if (when.offset is not None and not (when.clock or when.part)) or _sub_day(when.offset):
        assert when.offset is not None
        start = (ctx.now + when.offset).replace(second=0, microsecond=0)
        return Resolved(start, _end(start, when, None), False)
    day = None
    if when.offset is not None:
        day = user_today + timedelta(days=when.offset.days)
    elif when.day is not None:
        day = _date(when.day, user_today, ctx)
        if day is None:
            return None
    found = _at(when, day, local_now, zone)
    if found is None:
        return None
    start, guessed = found
    return Resolved(start.astimezone(UTC), _end(start, when, zone), guessed)


def _sub_day(offset: timedelta | None) -> bool:
    return offset is not None and offset % timedelta(days=1) != timedelta(0)


def _readings(when: When) -> tuple[list[int], int, int, bool]:
    """Candidate hours in order of preference, the minute, the second, and whether guessed."""
    c = when.clock
    if c is None:
        if when.part is None:
            return [0], 0, 0, True  # a day alone starts at midnight
        hour, minute, _ = PARTS[when.part]
        return [hour], minute, 0, True
    if c.hour24 is not None:
        return [c.hour24], c.minute, c.second, False
    if when.part is not None:
        return [_in_part(c.hour, when.part)], c.minute, c.second, False
    hour = c.hour % 12
    working = [hour + 12, hour] if 1 <= hour <= 6 else [12, 0] if hour == 0 else [hour, hour + 12]
    return working, c.minute, c.second, True


def _in_part(hour: int, part: str) -> int:
    """A bare hour read in a part of the day: "8 tonight" is 20:00, "12 tonight" midnight."""
    default, _, half = PARTS[part]
    if half == "am":
        return hour % 12
    if half == "lunch":
        return hour + 12 if 1 <= hour <= 3 else hour
    if hour == 12:
        return 24 if default >= 18 else 12
    return hour % 12 + 12


def _at(
    when: When, day: date | None, local_now: datetime, zone: tzinfo
) -> tuple[datetime, bool] | None:
    hours, minute, second, guessed = _readings(when)
    if day is not None:
        options = [_make(day, h, minute, second, zone) for h in hours]
        if when.day is not None and when.day.offset == 0 and len(options) > 1:
            ahead = [o for o in options if o > local_now]
            return (ahead[0] if ahead else options[0]), guessed
        return options[0], guessed
    today = local_now.date()
    # the preferred reading today, else tomorrow: "standup at 9:30" said at noon is tomorrow's
    options = [_make(today + timedelta(days=d), hours[0], minute, second, zone) for d in (0, 1)]
    for option in options:
        if option > local_now - (GRACE if option == options[0] else timedelta(0)):
            return option, guessed
    return None


def _make(day: date, hour: int, minute: int, second: int, zone: tzinfo) -> datetime:
    """A wall-clock time in `zone`; hour 24 is midnight at the end of `day`."""
    extra = timedelta(days=1) if hour >= 24 else timedelta(0)
    local = datetime.combine(day + extra, time(hour % 24, minute, second), tzinfo=zone)
    return local.astimezone(UTC).astimezone(zone)  # normalise times in a DST gap


def _end(start: datetime, when: When, zone: tzinfo | None) -> datetime | None:
    if when.duration is not None:
        return (start + when.duration).astimezone(UTC)
    if when.until is None or zone is None:
        return None
    local = start.astimezone(zone)
    end = _end_clock(when.until, local)
    return end.astimezone(UTC)


def _end_clock(until: Clock, start: datetime) -> datetime:
    """The end of a range on the start's day, the reading after the start ("2-3" is 14-15)."""
    twelve = until.hour % 12
    hours = [until.hour24] if until.hour24 is not None else [twelve, twelve + 12]
    for hour in hours:
        end = start.replace(hour=hour, minute=until.minute, second=until.second)
        if end > start:
            return end
    return start.replace(hour=hours[0], minute=until.minute) + timedelta(days=1)


def _date(day: Day, today: date, ctx: Context) -> date | None:
    if day.offset is not None:
        return today + timedelta(days=day.offset)
    if day.weekday is not None and day.day is None:
        return _weekday(day, today)
    assert day.day is not None
    month, number = day.month, day.day
    if ctx.day_first and day.numeric and month is not None:
        month, number = number, month
    return _calendar(today, month, number, day.year)


def _weekday(day: Day, today: date) -> date:
    assert day.weekday is not None
    ahead = (day.weekday - today.weekday()) % 7
    monday = today - timedelta(days=today.weekday())
    if day.mode == "next":
        return monday + timedelta(days=7 + day.weekday)
    if day.mode == "last":
        return today - timedelta(days=(today.weekday() - day.weekday) % 7 or 7)
    if day.mode == "after_next":
        return today + timedelta(days=(ahead or 7) + 7)
    if day.mode == "this":
        return today + timedelta(days=ahead)
    return today + timedelta(days=ahead)


def _calendar(today: date, month: int | None, number: int, year: int | None) -> date | None:
    if month is None:
        for step in range(0, 3):
            y, m = divmod(today.month - 1 + step, 12)
            candidate = _valid(today.year + y, m + 1, number)
            if candidate is not None and candidate >= today:
                return candidate
        return None
    if year is not None:
        return _valid(year, month, number)
    candidate = _valid(today.year, month, number)
    if candidate is not None and candidate >= today:
        return candidate
    return _valid(today.year + 1, month, number)


def _valid(year: int, month: int, number: int) -> date | None:
    try:
        return date(year, month, number)
    except ValueError:
        return None
