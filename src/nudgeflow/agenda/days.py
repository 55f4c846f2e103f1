"""Days and parts of days: today, tmrw, Friday, next Monday, this Thursday, Dec 3, the 14th,
3/12, 2026-03-12, morning, tonight, last night."""

from __future__ import annotations

import re

from nudgeflow.agenda.clock import Rule
from nudgeflow.agenda.lexicon import MONTHS, PARTS, TODAY, TOMORROW, WEEKDAYS, YESTERDAY
from nudgeflow.agenda.values import Atom, Day, WeekdayMode

WD = "|".join(sorted(WEEKDAYS, key=len, reverse=True))
MON = "|".join(sorted(MONTHS, key=len, reverse=True))
ORD = r"(?:st|nd|rd|th)"
# "sat", "sun", "mon" and "wed" are words too: they only count beside a time.
AMBIGUOUS_DAYS = frozenset({"sat", "sun", "mon", "wed"})
MODES: dict[str, WeekdayMode] = {
    "this": "this", "this coming": "this", "coming": "this", "upcoming": "this",
    "next": "next", "following": "next", "last": "last", "past": "last", "previous": "last",
}  # fmt: skip


def _day(m: re.Match[str], day: Day, weak: bool = False) -> Atom:
    return Atom("day", m.start(), m.end(), day=day, weak=weak)


def relative(m: re.Match[str], text: str) -> Atom | None:
    word = " ".join(m[0].lower().split())
    if "after" in word:
        return _day(m, Day(offset=2))
    if "before" in word:
        return _day(m, Day(offset=-2))
    if word in TODAY:
        return _day(m, Day(offset=0))
    return _day(m, Day(offset=-1 if word in YESTERDAY else 1))


def weekday(m: re.Match[str], text: str) -> Atom | None:
    name = m["wd"].lower()
    mode = MODES.get(" ".join((m["mod"] or "").lower().split()), "bare")
    post = " ".join((m["post"] or "").lower().split())
    if "after next" in post:
        mode = "after_next"
    elif "next" in post:
        mode = "next"
    elif "this" in post:
        mode = "this"
    weak = name in AMBIGUOUS_DAYS and mode == "bare" and not m[0][0].isupper()
    return _day(m, Day(weekday=WEEKDAYS[name], mode=mode), weak)


def month_day(m: re.Match[str], text: str) -> Atom | None:
    return _date(m, MONTHS[m["mon"].lower().rstrip(".")], int(m["d"]), m["y"])


def ordinal(m: re.Match[str], text: str) -> Atom | None:
    return _date(m, None, int(m["d"]), None)


def numeric(m: re.Match[str], text: str) -> Atom | None:
    """3/12: month first unless impossible; `dmy` (set per user's zone) puts the day first."""
    a, b = int(m["a"]), int(m["b"])
    if (a, b) == (24, 7):
        return None  # "24/7" is always, not July 24
    month, day = (a, b) if a <= 12 else (b, a)
    if m["sep"] != "/" and m["y"] is None:
        return None  # "3-12" or "3.12" alone are not dates
    return _date(m, month, day, m["y"], swappable=a <= 12 and b <= 12)


def iso(m: re.Match[str], text: str) -> Atom | None:
    return _date(m, int(m["m"]), int(m["d"]), m["y"])


def _date(
    m: re.Match[str], month: int | None, day: int, year: str | None, swappable: bool = False
) -> Atom | None:
    if not 1 <= day <= 31 or (month is not None and not 1 <= month <= 12):
        return None
    full = None if year is None else int(year) + (2000 if len(year) == 2 else 0)
    return Atom(
        "day", m.start(), m.end(), day=Day(month=month, day=day, year=full, numeric=swappable)
    )


_LUNCH_TIME = re.compile(
    rf"\b(?:at|for|over|after|before|around|{WD}|today|{'|'.join(TOMORROW)})\s*$", re.IGNORECASE
)


def part(m: re.Match[str], text: str) -> Atom | None:
    """morning, this afternoon, tonight, late tonight, last night, at lunch, first thing."""
    words = " ".join(m[0].lower().split())
    name = " ".join(f"{m['mod'] or ''} {m['p']}".lower().replace(" the ", " ").split())
    if name not in PARTS:
        name = " ".join(m["p"].lower().split())
    if name in ("lunch", "lunchtime") and not _LUNCH_TIME.search(
        text, max(0, m.start() - 24), m.start()
    ):
        return None  # "lunch with Mike" is the meeting, "tomorrow at lunch" is a time
    offset = -1 if words.startswith("last") else 0 if words.startswith("this") else None
    if name in ("tonight", "tonite", "late tonight"):
        offset = 0
    day = None if offset is None else Day(offset=offset)
    return Atom("part", m.start(), m.end(), part=name, day=day)


_PART_WORDS = (
    r"morning|afternoon|evening|night|tonight|tonite|lunchtime|lunch|eod|cob|end\s+of\s+(?:the\s+)?day"
    r"|close\s+of\s+business|first\s+thing"
)

RULES: list[tuple[str, Rule]] = [
    (rf"\b(?:the\s+)?day\s+(?:after\s+(?:{'|'.join(TOMORROW)})|before\s+yesterday)\b", relative),
    (rf"\b(?:{'|'.join(TODAY + TOMORROW + YESTERDAY)})\b", relative),
    (rf"\b(?:(?P<mod>this\s+coming|this|next|coming|upcoming|following|last|past|previous)\s+)?"
     rf"(?P<wd>{WD})(?:'s|s)?\.?(?!\w)(?P<post>\s+(?:after\s+next|(?:of\s+)?next\s+week|(?:of\s+)?this\s+week))?",
     weekday),
    (rf"\b(?P<mon>{MON})\.?\s*(?:the\s+)?(?P<d>\d{{1,2}}){ORD}?(?![\d:])(?:,?\s+(?P<y>\d{{4}})\b)?",
     month_day),
    (rf"\b(?P<d>\d{{1,2}}){ORD}?\s+(?:of\s+)?(?P<mon>{MON})\b\.?(?:,?\s+(?P<y>\d{{4}})\b)?",
     month_day),
    (r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b", iso),
    (r"(?<![\w/.:-])(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?:(?P=sep)(?P<y>\d{4}|\d{2}))?"
     r"(?![\w/:]|\.\d|-\d)", numeric),
    (rf"\b(?:the\s+)?(?P<d>\d{{1,2}}){ORD}\b(?!\s*(?:floor|place|time|century|grade|birthday"
     r"|anniversary|percentile|row|round|attempt|try|edition|street|st\b|ave))", ordinal),
    (rf"\b(?:(?:this|last)\s+)?(?:(?P<mod>early|late|mid)[\s-]?)?(?P<p>{_PART_WORDS})(?:ish)?\b",
     part),
]  # fmt: skip
