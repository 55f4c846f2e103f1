"""What the words around a meeting say about it: past ("I had a meeting"), negated ("no
meetings today"), cancelled, moved ("standup moved to 10"), or only proposed ("maybe a
call at 3?"). Each is a pattern over the clause the meeting is in.

Every pattern runs once over the whole message (`_marks`); a clause or window then costs a
bisection, not a search of its own. A run-on message of hundreds of times ("meet at 9 at 10
at 11 …") stays linear in its length, with a small constant per time."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from functools import lru_cache

_I = re.IGNORECASE
REACH = 80  # characters around a meeting its cues may stand in: a run-on message stays linear

CANCELLED = re.compile(
    r"\b(?:cancel\w*|call(?:ed|ing)?\s+off|scrap(?:ped)?|(?:is|are|'s|now)\s+off\b|off\s+now"
    r"|(?:not|isn'?t|aren'?t)\s+happening|won'?t\s+happen|no\s+longer|skip(?:ping|ped|s)?\b"
    r"|dropped|nixed|postponed(?!\s+(?:to|until|till)\b))",
    _I,
)
NEGATED = re.compile(
    r"\b(?:no|zero)\s+(?:more\s+)?(?:[\w'-]+\s+){0,2}?(?=\S*(?:meet|call|standup|stand-up|1:1|1-1"
    r"|sync|interview|appointment|appt|lunch|dinner|coffee|review|retro|session|class))"
    r"|\b(?:don'?t|do\s+not|doesn'?t|does\s+not|didn'?t|won'?t|will\s+not|not|never|aren'?t"
    r"|isn'?t|am\s+not|'m\s+not)\s+(?:\w+\s+){0,2}?(?:have|having|has|got|doing|do|need"
    r"|attend|attending|going|hold|holding|planning)\b"
    r"|\bnothing\s+(?:planned|scheduled|booked|on)\b|\bfree\s+all\s+day\b|\bno\s+need\b",
    _I,
)
PAST = re.compile(
    r"\b(?:had|went|attended|did|finished|ended|wrapped|missed|overran|met|ran\s+(?:over|late"
    r"|long)|earlier|ago|already|lasted|was(?!\s+(?:moved|pushed|rescheduled|changed|shifted"
    r"|postponed|booked|scheduled|set|confirmed|added|planned|supposed))|were(?!\s+(?:moved"
    r"|pushed|rescheduled|booked|scheduled)))\b",
    _I,
)
MOVED = re.compile(
    r"\b(?:mov(?:e|ed|ing)|push(?:ed|ing)?|resched\w*|shift(?:ed)?|postpon\w*|bump(?:ed)?"
    r"|chang(?:e|ed)|delay(?:ed)?|brought\s+forward|bring\s+forward|is\s+now|now\s+at)\b",
    _I,
)
TENTATIVE = re.compile(
    r"\?|\b(?:maybe|perhaps|possibly|might|should\s+we|shall\s+we|could\s+we|can\s+we"
    r"|would\s+(?:\w+\s+){0,3}work|does\s+(?:\w+\s+){0,3}work|are\s+you\s+(?:free|available)"
    r"|if|unless|how\s+about|what\s+about|wanna|want\s+to|could\s+you)\b",
    _I,
)
_STOP = (
    r"(?<!\bDr)(?<!\bMr)(?<!\bMs)(?<!\bMrs)(?<!\bSt)(?<!\bvs)\.(?=\s+[A-Z]|\s*$)"  # not "Dr. Patel"
)
SENTENCE = re.compile(rf"[!?;\n]+|{_STOP}|\s[—–]\s")
CLAUSE = re.compile(rf"[!?;\n,]+|{_STOP}|\s[—–]\s|\b(?:but|however|though)\b", _I)


@lru_cache(maxsize=32)  # the patterns one message asks about, with room to spare
def _marks(text: str, pattern: re.Pattern[str]) -> tuple[list[int], list[int]]:
    """Where `pattern` matches in `text` (starts, ends), found once per message."""
    found = list(pattern.finditer(text))
    return [m.start() for m in found], [m.end() for m in found]


def within(text: str, pattern: re.Pattern[str], start: int, end: int) -> int | None:
    """Where the first match of `pattern` lying wholly in text[start:end] begins, or None.
    Matches are the whole message's, so a word the window cuts in two is not one."""
    starts, ends = _marks(text, pattern)
    for i in range(bisect_left(starts, start), len(starts)):
        if starts[i] >= end:
            break
        if ends[i] <= end:
            return starts[i]
    return None


def last_within(text: str, pattern: re.Pattern[str], start: int, end: int) -> int | None:
    """Where the last match of `pattern` lying wholly in text[start:end] ends, or None."""
    starts, ends = _marks(text, pattern)
    i = bisect_right(ends, end) - 1  # the last to end in time; any before it starts earlier
    return ends[i] if i >= 0 and starts[i] >= start else None


def bounds(text: str, pattern: re.Pattern[str], start: int, end: int) -> tuple[int, int]:
    """The piece of `text` around [start, end) between two matches of `pattern`."""
    starts, ends = _marks(text, pattern)
    before = bisect_right(ends, start)
    after = bisect_left(starts, end)
    return (ends[before - 1] if before else 0), (
        starts[after] if after < len(starts) else len(text)
    )


def sentence_of(text: str, at: int) -> tuple[int, int]:
    return bounds(text, SENTENCE, at, at)


def scope(text: str, start: int, end: int) -> tuple[int, int]:
    """The clause(s) from the first to the last of two spans, at most REACH beyond them."""
    left, _ = bounds(text, CLAUSE, start, start)
    _, right = bounds(text, CLAUSE, end, end)
    return max(left, start - REACH), min(right, end + REACH)


def said(text: str, pattern: re.Pattern[str], window: tuple[int, int]) -> bool:
    """Whether `pattern` is said in the window (a `scope`)."""
    return within(text, pattern, *window) is not None
