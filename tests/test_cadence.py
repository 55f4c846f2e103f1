"""Cadences tick at local wall-clock times, whatever daylight saving does to UTC."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from nudgeflow.cadence import Daily, Weekly, parse_cadence
from nudgeflow.localtime import Span, at_local, zone

BERLIN = zone("Europe/Berlin")
NEW_YORK = zone("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("on_facts", "when facts change or a recheck is due"),
        ("hourly", "hourly at :30"),
        ("daily", "daily at 09:00 local"),
        ("daily@18:00", "daily at 18:00 local"),
        ("weekly", "weekly on monday at 09:00 local"),
        ("weekly@friday@17:00", "weekly on friday at 17:00 local"),
        ("0 8 * * 1-5", "cron '0 8 * * 1-5' local"),
    ],
)
def test_cadences_parse_and_say_what_they_are(text: str, shown: str) -> None:
    assert str(parse_cadence(text)) == shown


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("daily@25:00", "'25:00' is not a time of day as HH:MM"),
        ("weekly@funday", "'funday' is not a weekday name"),
        ("every tuesday", "'every tuesday' is not a valid cron expression"),
    ],
)
def test_a_bad_cadence_names_the_bad_part(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_cadence(text)


def test_on_facts_never_ticks_on_its_own_so_nobody_falls_due_by_it() -> None:
    cadence = parse_cadence("on_facts")
    at = utc(2026, 11, 23, 8)
    assert cadence.next(at, BERLIN) - at > timedelta(days=3000)
    assert at - cadence.previous(at, BERLIN) > timedelta(days=3000)


def test_a_daily_tick_stays_at_nine_local_across_both_berlin_changes() -> None:
    daily = Daily(time(9))
    # Spring forward on 2026-03-29: 09:00 is 08:00 UTC the day before, 07:00 UTC after.
    assert daily.next(utc(2026, 3, 28, 9), BERLIN) == utc(2026, 3, 29, 7)
    assert daily.previous(utc(2026, 3, 29, 6, 59), BERLIN) == utc(2026, 3, 28, 8)
    # Fall back on 2026-10-25: back to 08:00 UTC.
    assert daily.next(utc(2026, 10, 24, 8), BERLIN) == utc(2026, 10, 25, 8)


def test_a_weekly_tick_in_new_york_follows_the_november_change() -> None:
    sunday_six_pm = Weekly(6, time(18))
    assert sunday_six_pm.next(utc(2026, 10, 19), NEW_YORK) == utc(2026, 10, 25, 22)  # EDT
    # 2026-11-01 is the change itself: by 18:00 New York is on EST.
    assert sunday_six_pm.next(utc(2026, 10, 26), NEW_YORK) == utc(2026, 11, 1, 23)


def test_cron_runs_in_the_users_zone_across_the_change() -> None:
    weekdays_at_eight = parse_cadence("0 8 * * 1-5")
    assert weekdays_at_eight.next(utc(2026, 3, 27, 12), BERLIN) == utc(2026, 3, 30, 6)


def test_a_time_skipped_by_spring_forward_lands_just_after_the_gap() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29: clocks jump from 02:00 to 03:00 (01:00 UTC).
    assert at_local(datetime(2026, 3, 29).date(), time(2, 30), BERLIN) == utc(2026, 3, 29, 1, 30)


def test_quiet_hours_across_midnight_end_in_the_morning_local_time() -> None:
    night = Span(time(22), time(7))
    assert night.contains(time(23, 30))
    assert night.contains(time(6, 59))
    assert not night.contains(time(7))
    assert not night.contains(time(21, 59))
    # 23:30 in Berlin the night the clocks go back: the night is an hour longer in UTC.
    assert night.end_after(utc(2026, 10, 24, 21, 30), BERLIN) == utc(2026, 10, 25, 6)
    assert night.end_after(utc(2026, 10, 23, 21, 30), BERLIN) == utc(2026, 10, 24, 5)
    assert night.end_after(utc(2026, 10, 24, 12), BERLIN) is None


def test_a_quiet_end_in_the_repeated_hour_is_the_one_after_now() -> None:
    # New York, 2026-11-01: 01:00–02:00 happens twice. At the second 01:05 (EST, 06:05 UTC),
    # quiet hours 00:00–01:30 end at the second 01:30, 06:30 UTC, not the first (05:30 UTC).
    assert Span(time(0), time(1, 30)).end_after(utc(2026, 11, 1, 6, 5), NEW_YORK) == utc(
        2026, 11, 1, 6, 30
    )
