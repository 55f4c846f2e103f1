"""Coaching cadences: a frequency, a window of local time and a timezone decide when each
user's next message is due, whatever daylight saving does to UTC."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nudgeflow.clock import FrozenClock
from nudgeflow.coaching import cadence
from nudgeflow.coaching.cadence import (
    AIMS,
    FIRST_INTERVAL_HOURS,
    FREQUENCIES,
    RETRY_HOURS,
    WINDOW_NAMES,
    after_failure,
    bootstrap,
    into_window,
    next_due,
    window_spec,
)
from nudgeflow.errors import InvalidInput
from nudgeflow.localtime import zone

ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "America/St_Johns",  # UTC−3:30, with DST
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Kolkata",  # UTC+5:30
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Auckland",  # southern-hemisphere DST
    "Pacific/Chatham",  # UTC+12:45
    "Africa/Khartoum",  # skipped 12:00–13:00 on 2000-01-15, inside the afternoon window
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(at: datetime, tz: str) -> datetime:
    return at.astimezone(zone(tz))


def inside(at: datetime, window: str, tz: str) -> bool:
    return window_spec(window).contains(local(at, tz).time())


# Windows: inside stays, outside moves to the next window's aim, the end is exclusive.


@pytest.mark.parametrize(
    ("window", "wall", "expected_day", "expected_wall"),
    [
        ("morning", time(5, 59), 23, time(8)),  # before the window: today's aim
        ("morning", time(6), 23, time(6)),  # the start is inside
        ("morning", time(10, 59), 23, time(10, 59)),
        ("morning", time(11), 24, time(8)),  # the end is not: tomorrow's aim
        ("afternoon", time(9, 30), 23, time(14)),
        ("afternoon", time(16, 30), 23, time(16, 30)),
        ("afternoon", time(17), 24, time(14)),
        ("evening", time(12), 23, time(19)),
        ("evening", time(20, 59), 23, time(20, 59)),
        ("evening", time(21), 24, time(19)),
        ("evening", time(23, 30), 24, time(19)),
    ],
)
def test_a_time_outside_the_window_moves_to_the_next_windows_aim(
    window: str, wall: time, expected_day: int, expected_wall: time
) -> None:
    berlin = zone("Europe/Berlin")
    at = datetime(2026, 11, 23, wall.hour, wall.minute, tzinfo=berlin)
    moved = local(into_window(at, window, "Europe/Berlin"), "Europe/Berlin")
    assert (moved.day, moved.time()) == (expected_day, expected_wall)


def test_the_windows_and_their_aims_are_the_products() -> None:
    assert [str(window_spec(name)) for name in WINDOW_NAMES] == [
        "morning 06:00–11:00 (aim 08:00)",
        "afternoon 12:00–17:00 (aim 14:00)",
        "evening 18:00–21:00 (aim 19:00)",
    ]


# Frequencies: the same local time 1, 2 or 7 days later.


@pytest.mark.parametrize(
    ("frequency", "days"), [("daily", 1), ("several_per_week", 2), ("weekly", 7)]
)
@pytest.mark.parametrize("tz", ["Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles"])
def test_the_next_message_comes_at_the_same_local_time_after_the_interval(
    frequency: str, days: int, tz: str
) -> None:
    sent = datetime(2026, 11, 23, 8, 10, tzinfo=zone(tz))
    due = local(next_due(sent, frequency, "morning", tz), tz)
    assert due == sent + timedelta(days=days)
    assert due.time() == time(8, 10)


@pytest.mark.parametrize(
    ("tz", "sent_wall", "due_utc"),
    [
        ("Asia/Kolkata", time(19, 45), utc(2026, 11, 24, 14, 15)),  # UTC+5:30
        ("Pacific/Chatham", time(18), utc(2026, 11, 24, 4, 15)),  # UTC+13:45 in summer
        ("America/St_Johns", time(20, 30), utc(2026, 11, 25, 0, 0)),  # UTC−3:30
    ],
)
def test_half_and_quarter_hour_zones_keep_their_local_time(
    tz: str, sent_wall: time, due_utc: datetime
) -> None:
    sent = datetime.combine(datetime(2026, 11, 23).date(), sent_wall, tzinfo=zone(tz))
    assert next_due(sent, "daily", "evening", tz) == due_utc


def test_a_message_sent_late_in_a_window_that_ends_up_outside_it_waits_for_the_aim() -> None:
    # Sent at 11:30 in the morning window (the send ran late): tomorrow 11:30 is outside, so the
    # message after it goes at the aim of the next morning window, the day after tomorrow.
    sent = datetime(2026, 11, 23, 11, 30, tzinfo=zone("Europe/Berlin"))
    assert next_due(sent, "daily", "morning", "Europe/Berlin") == utc(2026, 11, 25, 7)


def test_a_schedule_that_fell_behind_is_not_due_in_the_past() -> None:
    sent = utc(2026, 11, 2, 7)  # 08:00 Berlin, three weeks ago
    now = utc(2026, 11, 23, 15)  # 16:00 Berlin, after the morning window
    due = next_due(sent, "weekly", "morning", "Europe/Berlin", not_before=now)
    assert due == utc(2026, 11, 24, 7)  # tomorrow's aim, 08:00 Berlin


def test_a_due_time_driven_by_the_injected_clock_moves_with_it() -> None:
    clock = FrozenClock(utc(2026, 11, 23, 8))
    first = after_failure(clock.now(), "daily", "afternoon", "Europe/Berlin")
    clock.advance(timedelta(hours=6))  # 15:00 Berlin: two hours on is 17:00, past the window
    later = after_failure(clock.now(), "daily", "afternoon", "Europe/Berlin")
    assert (first, later) == (utc(2026, 11, 23, 13), utc(2026, 11, 24, 13))


# Daylight saving.


def test_daily_in_berlin_keeps_eight_oclock_across_spring_forward_23_hours_later() -> None:
    sent = utc(2026, 3, 28, 7)  # 08:00 CET
    due = next_due(sent, "daily", "morning", "Europe/Berlin")
    assert due == utc(2026, 3, 29, 6)  # 08:00 CEST
    assert due - sent == timedelta(hours=23)


def test_daily_in_berlin_keeps_seven_pm_across_fall_back_25_hours_later() -> None:
    sent = utc(2026, 10, 24, 17)  # 19:00 CEST
    due = next_due(sent, "daily", "evening", "Europe/Berlin")
    assert due == utc(2026, 10, 25, 18)  # 19:00 CET
    assert due - sent == timedelta(hours=25)


def test_weekly_in_new_york_keeps_two_pm_across_both_changes() -> None:
    # 2026-03-08 spring forward; 2026-11-01 fall back.
    assert next_due(utc(2026, 3, 2, 19), "weekly", "afternoon", "America/New_York") == utc(
        2026, 3, 9, 18
    )
    assert next_due(utc(2026, 10, 27, 18), "weekly", "afternoon", "America/New_York") == utc(
        2026, 11, 3, 19
    )


def test_several_per_week_in_new_york_straddling_spring_forward() -> None:
    sent = utc(2026, 3, 7, 13)  # Saturday 08:00 EST
    assert next_due(sent, "several_per_week", "morning", "America/New_York") == utc(2026, 3, 9, 12)


def test_retry_hours_are_elapsed_hours_even_across_the_change() -> None:
    # 00:30 CET on the spring-forward day; 8 elapsed hours later it is 09:30 CEST, not 08:30.
    now = utc(2026, 3, 28, 23, 30)
    assert after_failure(now, "weekly", "morning", "Europe/Berlin") == utc(2026, 3, 29, 7, 30)


def test_a_retry_from_the_repeated_hour_of_fall_back_is_never_before_now() -> None:
    # 02:30 CET, the second 02:30 of 2026-10-25 in Berlin (01:30 UTC); +2 h is 04:30 CET.
    now = utc(2026, 10, 25, 1, 30)
    assert local(now, "Europe/Berlin").fold == 1
    due = after_failure(now, "daily", "morning", "Europe/Berlin")
    assert due == utc(2026, 10, 25, 7)  # 08:00 CET, the same morning
    assert due > now


def test_a_new_york_retry_on_fall_back_night_lands_on_that_mornings_aim() -> None:
    now = utc(2026, 11, 1, 5, 30)  # 01:30 EDT, the first of the two
    assert after_failure(now, "several_per_week", "morning", "America/New_York") == utc(
        2026, 11, 1, 13
    )  # 08:00 EST


def test_a_local_time_that_does_not_exist_lands_just_after_the_gap() -> None:
    # Khartoum moved from UTC+2 to UTC+3 at 12:00 on 2000-01-15: 12:00–12:59 did not happen.
    sent = utc(2000, 1, 14, 10, 30)  # 12:30 local, UTC+2
    due = next_due(sent, "daily", "afternoon", "Africa/Khartoum")
    assert due == utc(2000, 1, 15, 10, 30)  # 13:30 local, UTC+3: the same instant of day
    assert local(due, "Africa/Khartoum").time() == time(13, 30)


def test_an_aim_skipped_by_a_gap_is_taken_just_after_it() -> None:
    # Casey (Antarctica) jumped from 04:00 to 07:00 on 2018-10-07: the 06:00 window start
    # never happened, the 08:00 aim did.
    now = utc(2018, 10, 6, 17)  # 01:00 local, UTC+8
    due = after_failure(now, "daily", "morning", "Antarctica/Casey")
    assert local(due, "Antarctica/Casey").time() == time(8)
    assert due == utc(2018, 10, 6, 21)  # UTC+11 after the change


# Bootstrap: a short random first interval, then the window.


@pytest.mark.parametrize("frequency", FREQUENCIES)
def test_bootstrap_is_deterministic_given_the_rng(frequency: str) -> None:
    now = utc(2026, 11, 23, 3)
    first = bootstrap(now, frequency, "morning", "Europe/Berlin", random.Random(7))
    again = bootstrap(now, frequency, "morning", "Europe/Berlin", random.Random(7))
    assert first == again


def test_bootstrap_inside_the_window_is_not_moved() -> None:
    # 06:00 Berlin; daily first intervals are 1–7 h, so a draw of ~2 h lands at ~08:00.
    class Fixed(random.Random):
        def uniform(self, a: float, b: float) -> float:
            assert (a, b) == (3600, 7 * 3600)
            return 2 * 3600 + 0.4

    assert bootstrap(utc(2026, 11, 23, 5), "daily", "morning", "Europe/Berlin", Fixed()) == utc(
        2026, 11, 23, 7
    )


@pytest.mark.parametrize(("frequency", "hours"), sorted(FIRST_INTERVAL_HOURS.items()))
def test_bootstrap_draws_from_the_frequencys_range(frequency: str, hours: tuple[int, int]) -> None:
    drawn: list[tuple[float, float]] = []

    class Recording(random.Random):
        def uniform(self, a: float, b: float) -> float:
            drawn.append((a, b))
            return super().uniform(a, b)

    bootstrap(utc(2026, 11, 23), frequency, "evening", "UTC", Recording(1))
    assert drawn == [(hours[0] * 3600, hours[1] * 3600)]


@pytest.mark.parametrize(
    ("frequency", "due"),
    [
        ("daily", utc(2026, 11, 23, 3)),  # 2 h: 12:00 Tokyo, the window's first minute
        ("several_per_week", utc(2026, 11, 23, 5)),  # 4 h: 14:00 Tokyo
        ("weekly", utc(2026, 11, 24, 5)),  # 8 h: 18:00 is past the window, so tomorrow 14:00
    ],
)
def test_a_failed_attempt_retries_after_2_4_or_8_hours(frequency: str, due: datetime) -> None:
    now = utc(2026, 11, 23, 1)  # 10:00 Tokyo
    assert after_failure(now, frequency, "afternoon", "Asia/Tokyo") == due


# Bad settings name themselves.


@pytest.mark.parametrize(
    ("frequency", "window", "tz", "field", "problem"),
    [
        ("hourly", "morning", "UTC", "frequency", "unknown frequency 'hourly'"),
        ("daily", "night", "UTC", "window", "unknown window 'night'"),
        ("daily", "morning", "Mars/Olympus", "timezone", "unknown IANA timezone 'Mars/Olympus'"),
    ],
)
def test_a_bad_setting_is_refused_with_its_name(
    frequency: str, window: str, tz: str, field: str, problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem) as raised:
        next_due(utc(2026, 11, 23), frequency, window, tz)
    assert raised.value.field == field
    with pytest.raises(InvalidInput):
        cadence.validate(frequency, window, tz)


def test_a_naive_datetime_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        after_failure(datetime(2026, 11, 23, 8), "daily", "morning", "UTC")


# Properties over zones, dates, windows and frequencies.

instants = st.datetimes(
    min_value=datetime(1999, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from(ZONES)
windows = st.sampled_from(WINDOW_NAMES)
frequencies = st.sampled_from(FREQUENCIES)


@settings(max_examples=400)
@given(now=instants, frequency=frequencies, window=windows, tz=zones, rng=st.randoms())
def test_bootstrap_is_in_range_then_in_the_window(
    now: datetime, frequency: str, window: str, tz: str, rng: random.Random
) -> None:
    low, high = FIRST_INTERVAL_HOURS[frequency]
    due = bootstrap(now, frequency, window, tz, rng)
    assert inside(due, window, tz)
    assert due - now >= timedelta(hours=low) - timedelta(seconds=1)
    # Unmoved, it is within the range; moved, it sits on the window's aim.
    assert due - now <= timedelta(hours=high) or local(due, tz).time() == AIMS[window]


@settings(max_examples=400)
@given(now=instants, frequency=frequencies, window=windows, tz=zones)
def test_a_retry_is_in_the_window_and_never_sooner_than_its_interval(
    now: datetime, frequency: str, window: str, tz: str
) -> None:
    due = after_failure(now, frequency, window, tz)
    earliest = now + timedelta(hours=RETRY_HOURS[frequency])
    assert inside(due, window, tz)
    assert due >= earliest
    if inside(earliest, window, tz):
        assert due == earliest
    assert due - earliest <= timedelta(days=2)


@settings(max_examples=400)
@given(
    sent=instants,
    frequency=frequencies,
    window=windows,
    tz=zones,
    behind=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
)
def test_next_due_is_in_the_window_after_the_last_message_and_not_before_now(
    sent: datetime, frequency: str, window: str, tz: str, behind: timedelta
) -> None:
    now = sent + behind
    due = next_due(sent, frequency, window, tz, not_before=now)
    assert inside(due, window, tz)
    assert due >= now
    assert due > sent + timedelta(days=cadence.interval_days(frequency)) - timedelta(hours=3)


@settings(max_examples=300)
@given(at=instants, window=windows, tz=zones)
def test_into_window_keeps_what_is_inside_and_never_goes_back(
    at: datetime, window: str, tz: str
) -> None:
    moved = into_window(at, window, tz)
    assert inside(moved, window, tz)
    assert moved >= at
    assert (moved == at) == inside(at, window, tz)
