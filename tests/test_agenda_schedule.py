"""The schedule's bookkeeping, on values: one entry per meeting, moves and cancellations by
what the user wrote, and low-confidence matches reported rather than scheduled."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from nudgeflow.agenda.schedule import MOVE, Entry, Message, _moved_to, apply, upcoming

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin


@dataclass(frozen=True)
class Found:
    title: str
    start: datetime
    end: datetime | None = None
    confidence: float = 0.9


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def said(text: str, channel: str = "telegram", message_id: str = "m1") -> Message:
    return Message(message_id, text, channel, NOW, BERLIN)


def ids() -> Callable[[], str]:
    numbers = count(1)
    return lambda: f"mt_{next(numbers)}"


def entry(title: str, start: datetime, end: datetime | None = None, key: str = "mt_0") -> Entry:
    return Entry(key, title, start, end, "telegram", 0.9, "m0")


def test_a_new_meeting_is_added_with_the_channel_it_was_said_on() -> None:
    found = Found("team meeting", local(27, 15), local(27, 16))
    changes = apply([], [found], said("Team meeting 3-4 PM Friday"), ids())

    [added] = changes.added
    assert (added.id, added.title, added.start, added.end) == ("mt_1", "team meeting", local(27, 15), local(27, 16))  # fmt: skip
    assert (added.channel, added.source, added.status) == ("telegram", "m1", "scheduled")
    assert changes.updated == changes.cancelled == changes.ignored == []


def test_the_same_meeting_twice_is_one_entry_and_a_second_mention_may_add_the_end() -> None:
    known = entry("team meeting", local(27, 15))
    again = Found("meeting", local(27, 15), local(27, 16))
    changes = apply([known], [again], said("the meeting on friday at 3 goes till 4"), ids())

    assert changes.added == []
    [updated] = changes.updated
    assert (updated.id, updated.title, updated.end) == ("mt_0", "team meeting", local(27, 16))


def test_one_message_mentioning_a_meeting_twice_adds_it_once() -> None:
    twice = [Found("dentist", local(24, 10)), Found("dentist appointment", local(24, 10))]
    assert len(apply([], twice, said("dentist tomorrow 10am, yes the dentist at 10"), ids()).added) == 1  # fmt: skip


def test_two_meetings_at_the_same_time_with_different_names_are_two() -> None:
    both = [Found("dentist", local(24, 10)), Found("1-on-1 with sam", local(24, 10))]
    assert len(apply([], both, said("x"), ids()).added) == 2


def test_under_half_confidence_is_reported_not_scheduled() -> None:
    unsure = Found("meeting", local(24, 10), confidence=0.4)
    changes = apply([], [unsure], said("maybe something at 10?"), ids())
    assert (changes.added, changes.ignored) == ([], [unsure])


def test_my_3pm_is_moved_to_4_keeps_the_length() -> None:
    known = entry("client call", local(23, 15), local(23, 15, 30))
    changes = apply([known], [], said("my 3pm is moved to 4"), ids())

    [moved] = changes.updated
    assert (moved.start, moved.end, moved.source) == (local(23, 16), local(23, 16, 30), "m1")
    assert changes.added == []


def test_a_move_by_name_to_a_time_the_extractor_read() -> None:
    known = entry("dentist", local(24, 10))
    new_time = Found("dentist", local(26, 11))
    changes = apply([known], [new_time], said("dentist pushed to Thursday 11am"), ids())
    assert [e.start for e in changes.updated] == [local(26, 11)]
    assert changes.added == []


def test_cancel_the_dentist_cancels_only_the_dentist() -> None:
    dentist, standup = (
        entry("dentist", local(24, 10), key="a"),
        entry("standup", local(24, 9), key="b"),
    )
    changes = apply([dentist, standup], [], said("cancel the dentist"), ids())

    assert [(e.id, e.status) for e in changes.cancelled] == [("a", "cancelled")]
    assert changes.added == changes.updated == []


def test_a_cancellation_that_names_nothing_known_changes_nothing() -> None:
    changes = apply(
        [entry("dentist", local(24, 10))], [], said("the gym class is cancelled"), ids()
    )
    assert changes.written == []


def test_past_and_cancelled_entries_are_left_alone() -> None:
    past = entry("dentist", NOW - timedelta(hours=1), key="past")
    assert apply([past], [], said("cancel the dentist"), ids()).written == []


def test_upcoming_lists_scheduled_meetings_soonest_first_within_the_horizon() -> None:
    entries = [
        entry("later", local(30, 9), key="c"),
        entry("soon", local(23, 14), key="a"),
        entry("running", local(23, 8, 30), local(23, 10), key="r"),
        Entry("x", "gone", local(24, 9), None, "in_app", 0.9, "m", "cancelled"),
        entry("over", local(23, 7), key="o"),
    ]
    assert [e.title for e in upcoming(entries, NOW)] == ["running", "soon", "later"]
    assert [e.title for e in upcoming(entries, NOW, timedelta(days=2))] == ["running", "soon"]


# The one pattern "move verb … to <new>" was before it was split in two searches (linear in a
# long message, where the lazy gap between the two was quadratic): the oracle for the split.
ONE_PATTERN = re.compile(MOVE.pattern + r"(?P<rest>.*?)\bto\b\s+(?P<new>.+)", re.I | re.S)
PIECES = ["moved", "move", "pushed", "to", "into", "toast", "the", "dentist", "3pm", "4", ".", "\n"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=12).map(" ".join))
def test_a_move_is_read_as_the_single_pattern_read_it(text: str) -> None:
    assert _new_part(_moved_to(text)) == _new_part(ONE_PATTERN.search(text))


def _new_part(match: re.Match[str] | None) -> tuple[int, str] | None:
    return None if match is None else (match.start("new"), match["new"])
