"""The values the grammar passes around: what a piece of text said about a time, before it
is resolved against "now" and a zone. Frozen, so a scan can be shared and compared."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import Literal

Half = Literal["am", "pm"]
Kind = Literal["clock", "range", "day", "part", "zone", "offset", "duration", "noun", "skip"]
WeekdayMode = Literal["bare", "this", "next", "last", "after_next"]


@dataclass(frozen=True)
class Clock:
    """A wall-clock time as written: "3:30 pm" has its half, "3:30" does not; "15:30",
    "09:00", noon and midnight are exact (no am/pm to guess)."""

    hour: int
    minute: int = 0
    second: int = 0
    half: Half | None = None
    exact: bool = False

    def with_half(self, half: Half) -> Clock:
        return self if self.exact or self.half else replace(self, half=half)

    @property
    def hour24(self) -> int | None:
        """The hour on a 24-hour clock, when the text fixes it."""
        if self.half == "am":
            return self.hour % 12
        if self.half == "pm":
            return self.hour % 12 + 12
        return self.hour if self.exact or self.hour == 0 or self.hour > 12 else None


@dataclass(frozen=True)
class Day:
    """A day as written: relative ("tomorrow": offset 1), a weekday with its modifier, or a
    calendar date (month and year may be missing: "the 14th", "Dec 3")."""

    offset: int | None = None
    weekday: int | None = None
    mode: WeekdayMode = "bare"
    month: int | None = None
    day: int | None = None
    year: int | None = None
    numeric: bool = False  # written "3/12": which number is the month depends on the user


@dataclass(frozen=True)
class Atom:
    """One recognised piece of text and where it is. Only the fields of its kind are set."""

    kind: Kind
    start: int
    end: int
    clock: Clock | None = None
    until: Clock | None = None  # the end of a range
    day: Day | None = None
    part: str | None = None  # a key of lexicon.PARTS
    zone: tzinfo | None = None
    delta: timedelta | None = None
    word: str = ""  # a noun's head, a bound's keyword ("until"), a duration's "for"
    weak: bool = False  # only meaningful next to a time ("sun", "mon", "coffee")


@dataclass(frozen=True)
class When:
    """A time expression put together from adjacent atoms, ready to resolve."""

    start: int
    end: int
    clock: Clock | None = None
    until: Clock | None = None
    day: Day | None = None
    part: str | None = None
    zone: tzinfo | None = None
    offset: timedelta | None = None
    duration: timedelta | None = None
    bound: bool = False  # "until 4", "by 5": an end or a deadline, not a start

    @property
    def timed(self) -> bool:
        return self.clock is not None or self.part is not None or self.offset is not None


@dataclass(frozen=True)
class Resolved:
    start: datetime
    end: datetime | None
    guessed: bool  # the hour was a guess (a bare "at 4" or a part of the day)
