"""Clock times and ranges of them: "2:30 PM", "14:30", "9am", "15h", "half past 4",
"seven thirty p.m.", noon, midnight, "3-4 PM", "from 10 to 11:30", "10am–noon".

A bare number is a time only where the text makes it one: after "at"/"@"/"around", in a
range next to a day or a meridiem, or with "o'clock". "room 4", "3 people" or a score
never get here as times."""

from __future__ import annotations

import re
from collections.abc import Callable

from nudgeflow.agenda import cues
from nudgeflow.agenda.lexicon import HOUR_WORDS, MONTHS, TENS, TOMORROW, UNITS, WEEKDAYS
from nudgeflow.agenda.values import Atom, Clock, Half

Rule = Callable[["re.Match[str]", str], Atom | None]

HOUR_W = "|".join(sorted(HOUR_WORDS, key=len, reverse=True))
_SMALL = "one|two|three|four|five|six|seven|eight|nine"
_TEENS = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
MIN_W = (
    rf"(?:(?:twenty|thirty|forty|fifty)(?:[-\s]?(?:{_SMALL}))?|{_TEENS}|o[h']?[-\s]?(?:{_SMALL}))"
)
MER = r"(?:\s*[ap]\.?\s?m\b\.?|(?<=\d)[ap]\b\.?)"  # "pm", "p.m.", "a m"; "3p" only attached
LOOK_BACK = 32  # characters looked at before a time for its day or "at"
MOVE_REACH = 120  # how far back a "moved"/"pushed" still governs a time
NUM = r"(?<![\w.:/-])"  # a number starts here, not inside "555-0123", "2.3" or "3/12"
LOOSE = (
    rf"(?:(?<![\w.:/])(?:[01]?\d|2[0-4])(?:[:.h][0-5]\d(?::[0-5]\d)?|h)?(?![\d/])(?:{MER})?|noon|midnight"
    rf"|(?:{HOUR_W})(?:[-\s]{MIN_W})?(?:{MER})?)"
)
DAYISH = re.compile(
    rf"\s*(?:\(|,)?\s*(?:{MER}|today|tonight|tonite|this\s+(?:morning|afternoon|evening)"
    rf"|in\s+the\s+(?:morning|afternoon|evening)|(?:on\s+)?(?:{'|'.join(WEEKDAYS)})\b"
    rf"|{'|'.join(TOMORROW)})\b",
    re.IGNORECASE,
)
DAY_BEFORE = re.compile(
    rf"(?:\b(?:{'|'.join(WEEKDAYS)}|today|{'|'.join(TOMORROW)})|\d(?:st|nd|rd|th)|\d/\d{{1,2}}"
    rf"|\b(?:{'|'.join(MONTHS)})\.?\s+\d{{1,2}}|\b(?:at|@))[\s,]*$",
    re.IGNORECASE,
)


_DIGITS = re.compile(rf"(\d{{1,2}})(?:[:.h]([0-5]\d)|h)?(?:[:.]([0-5]\d))?\s*(?:ish)?({MER})?")
_WORDS = re.compile(rf"({HOUR_W})(?:[-\s]({MIN_W}))?({MER})?")
_BARE = re.compile(rf"\d{{1,2}}|{HOUR_W}", re.IGNORECASE)
_AT = re.compile(r"(?:\bat|@|\baround|\babout)\s*$", re.IGNORECASE)


def _half(text: str | None) -> Half | None:
    if not text:
        return None
    return "am" if text.strip().lower().startswith("a") else "pm"


def word_number(text: str) -> int | None:
    """'seven' -> 7, 'forty-five' -> 45, 'oh five' -> 5; None if not a number word."""
    words = re.split(r"[-\s]+", text.lower().replace("o'", "oh "))
    total = 0
    for word in words:
        if word in TENS:
            total += TENS[word]
        elif word in UNITS:
            total += UNITS[word]
        else:
            return None
    return total


def read_clock(text: str) -> Clock | None:
    """A clock from a loose piece of text ("3", "3:30pm", "15h", "noon", "seven thirty")."""
    s = " ".join(text.lower().split())
    if s in ("noon", "midday"):
        return Clock(12, exact=True)
    if s == "midnight":
        return Clock(0, exact=True)
    m = _DIGITS.fullmatch(s)
    if m:
        hour, minute = int(m[1]), int(m[2] or 0)
        half = _half(m[4])
        if hour > 24 or (half and not 1 <= hour <= 12):
            return None
        exact = half is None and (m[1].startswith("0") or hour > 12 or "h" in s)
        return Clock(hour % 24, minute, int(m[3] or 0), half, exact)
    words = _WORDS.fullmatch(s)
    if words is None:
        return None
    past = word_number(words[2]) if words[2] else 0
    return None if past is None or past > 59 else Clock(UNITS[words[1]], past, 0, _half(words[3]))


def _atom(m: re.Match[str], clock: Clock | None, word: str = "") -> Atom | None:
    return None if clock is None else Atom("clock", m.start(), m.end(), clock=clock, word=word)


def digital(m: re.Match[str], text: str) -> Atom | None:
    """14:30, 2:30 PM, 9:01:10 AM, 8.30pm, 15h30, 15h, 3pm, 330 p.m., 1030am."""
    sep, hour, mer = m["sep"] or "", int(m["h"]), m["mer"]
    if sep in (":", ".") and m["min"] is None:
        return None
    if sep == "." and not (mer or _hour_context(text, m.start(), m.end())):
        return None  # "2.30" alone is a number; "8.30pm" and "at 8.30" are times
    if sep == "h" and not m["min"] and hour < 13 and not _hour_context(text, m.start(), m.end()):
        return None  # "1h" is a duration; "15h" and "at 9h" are times
    half = _half(mer)
    if half and not 1 <= hour <= 12:
        return None
    exact = half is None and (m["h"].startswith("0") or hour > 12 or sep == "h")
    return _atom(m, Clock(hour % 24, int(m["min"] or 0), int(m["sec"] or 0), half, exact))


def oclock(m: re.Match[str], text: str) -> Atom | None:
    """3 o'clock, three oclock pm, seven thirty p.m., six pm, nine fifty nine a m."""
    return _atom(m, read_clock(f"{m['hw']} {m['mw'] or ''} {m['mer'] or ''}".replace("  ", " ")))


def prefixed(m: re.Match[str], text: str) -> Atom | None:
    """at 4, @ 3, around 10, at 1030, at three twenty, at 3 15, to 4 (after a move verb)."""
    pre, num = (m["pre"] or "").lower(), m["num"]
    if pre == "to" and not _moved_before(text, m.start()):
        return None
    if num.isdigit() and len(num) >= 3:
        clock = read_clock(f"{num[:-2]}:{num[-2:]}")
    elif m["m2"]:
        clock = read_clock(f"{num}:{m['m2']}")
    else:
        clock = read_clock(num)
    if clock is None or (num.isdigit() and int(num) == 0):
        return None
    bound = "until" if pre in ("until", "till", "til", "before", "by", "through") else ""
    return Atom("clock", m.start("num"), m.end(), clock=clock, word=bound)


def named(m: re.Match[str], text: str) -> Atom | None:
    """noon, midday, midnight, 12 noon."""
    word = m[0].lower()
    return _atom(m, Clock(0, exact=True) if "night" in word else Clock(12, exact=True))


def past_to(m: re.Match[str], text: str) -> Atom | None:
    """half past 4, a quarter to noon, 20 past 3pm, twenty after 3, 15 minutes to noon."""
    target = read_clock(f"{m['hr']} {m['mer'] or ''}")
    mins = m["mins"].lower()
    amount = 30 if mins == "half" else 15 if "quarter" in mins else _count(mins)
    if target is None or amount is None or not 0 < amount < 60:
        return None
    before = m["dir"].lower() in ("to", "till", "til", "of", "before")
    if before and mins[0].isdigit() and not m["unit"] and not target.exact:
        return None  # "2 to 3pm" is a range, not 2:58; "15 to noon" and "5 minutes to 3" are not
    shift = -amount if before else amount
    if target.hour24 is not None:
        hour, minute = divmod((target.hour24 * 60 + target.minute + shift) % 1440, 60)
        return _atom(m, Clock(hour, minute, exact=True))
    hour, minute = divmod((target.hour * 60 + target.minute + shift) % 720, 60)
    return _atom(m, Clock(hour or 12, minute))


def half_hour(m: re.Match[str], text: str) -> Atom | None:
    """British "half three" = 3:30."""
    hour = read_clock(m["hr"])
    return None if hour is None else _atom(m, Clock(hour.hour, 30, 0, None, hour.exact))


def _count(text: str) -> int | None:
    return int(text) if text.isdigit() else word_number(text)


def span_range(m: re.Match[str], text: str) -> Atom | None:
    """3-4 PM, from 10 to 11:30, between 9:30 and 11, 10am–noon, 9.30-4.30pm."""
    pre, sep = (m["pre"] or "").lower(), m["sep"].lower()
    if sep == "and" and pre != "between":
        return None
    if sep == "-" and not any(ch.isdigit() for ch in m["a"] + m["b"]):
        return None  # "four twenty-three" is one time
    a, b = read_clock(m["a"]), read_clock(m["b"])
    if a is None or b is None or _zero(m["a"]) or _zero(m["b"]):
        return None
    loose = all(_BARE.fullmatch(side.strip()) for side in (m["a"], m["b"]))
    if loose and not (
        pre
        or DAYISH.match(text, m.end())
        or DAY_BEFORE.search(text, max(0, m.start() - LOOK_BACK), m.start())
    ):
        return None  # "3-4 people", "won 3-1"
    if _moved_before(text, m.start()):
        return Atom("clock", m.start(), m.end(), clock=b)  # "moved from 3 to 4": the new time
    a, b = pair_halves(a, b)
    return Atom("range", m.start(), m.end(), clock=a, until=b)


def _zero(text: str) -> bool:
    return text.strip() in ("0", "00")


def pair_halves(a: Clock, b: Clock) -> tuple[Clock, Clock]:
    """The half said once applies to both ends when it fits: "3-4pm" is 15-16, "11-1pm" is
    11am-1pm, "9am-5" is 9am-5pm."""
    if b.half and not a.half and not a.exact:
        same = a.with_half(b.half)
        start, end = same.hour24 or 0, b.hour24 or 0
        if start * 60 + a.minute < end * 60 + b.minute:
            return same, b
        return a.with_half("am" if b.half == "pm" else "pm"), b
    if a.half and not b.half and not b.exact:
        same = b.with_half(a.half)
        if (same.hour24 or 0) * 60 + same.minute > (a.hour24 or 0) * 60 + a.minute:
            return a, same
        return a, b.with_half("pm" if a.half == "am" else "am")
    return a, b


def _hour_context(text: str, start: int, end: int) -> bool:
    return _prefixed(text, start) or bool(
        _ZONE_NEXT.match(text, end) or DAY_BEFORE.search(text, max(0, start - LOOK_BACK), start)
    )


_ZONE_NEXT = re.compile(r"\s*\(?(?:gmt|utc|[a-z]{1,2}[sd]?t)\b", re.IGNORECASE)


def _prefixed(text: str, at: int) -> bool:
    return bool(_AT.search(text, max(0, at - 12), at))


_MOVE = re.compile(
    r"\b(?:mov(?:e|ed|ing)|push(?:ed|ing)?|resched\w*|shift(?:ed)?|postpon\w*|bump(?:ed)?"
    r"|chang(?:e|ed)|delay(?:ed)?|brought\s+forward|bring\s+forward)\b",
    re.IGNORECASE,
)
_STOP = re.compile(r"[.!?\n]")


def _moved_before(text: str, at: int) -> bool:
    """A move verb within MOVE_REACH before `at`, in the same sentence ("moved from 3 to 4").
    Looked up among the message's matches, not searched for again at every time."""
    said = cues.last_within(text, _MOVE, max(0, at - MOVE_REACH), at)
    return said is not None and cues.within(text, _STOP, said, at) is None


NOT_AFTER_NUMBER = (
    r"(?!\s*(?:%|percent|people|persons|guests|points?|pts|km|miles?|kg|lbs?|times|x\b|mins?\b"
    r"|minutes|hours?|hrs?|days?|weeks?|months?|years?|degrees|°|dollars|euros|bucks|k\b|-\d))"
)
RULES: list[tuple[str, Rule]] = [
    (rf"(?<![\d:.])\b(?P<mins>half|(?:a\s+)?quarter|\d{{1,2}}|{MIN_W})(?:\s+(?P<unit>minutes?|mins?))?\s+"
     rf"(?P<dir>past|after|to|till|til|of|before)\s+(?P<hr>\d{{1,2}}|{HOUR_W}|noon|midnight)"
     rf"(?![\d:])(?P<mer>{MER})?", past_to),
    (rf"(?:\b(?P<pre>from|between)\s+)?(?<![\w.:/-])(?P<a>{LOOSE})\s*(?P<sep>-|–|—|~|\bto\b|\btill\b|\btil\b"
     rf"|\buntill?\b|\bthrough\b|\bthru\b|\band\b)\s*(?P<b>{LOOSE})(?!\s*(?:%|-\d|:\d|/\d))",
     span_range),
    (rf"\bhalf\s+(?P<hr>{HOUR_W}|\d{{1,2}})\b(?!\s*(?:an?\b|hours?|hrs?|mins?|minutes?|[:.]\d))",
     half_hour),
    (rf"{NUM}(?P<h>[01]?\d|2[0-4])(?P<sep>[:.h])(?P<min>[0-5]\d)?(?::(?P<sec>[0-5]\d))?(?![\d:])"
     rf"(?:\s*ish)?(?P<mer>{MER})?", digital),
    (rf"{NUM}(?P<h>1[0-2]|0?[1-9])(?P<min>[0-5]\d)?(?P<sep>)(?P<sec>)(?:\s*ish)?"
     rf"(?:\s*o'?\s?clock)?(?P<mer>{MER})", digital),
    (rf"\b(?P<hw>\d{{1,2}}|{HOUR_W})(?:[-\s](?P<mw>{MIN_W}))?\s*o'?\s?clock(?P<mer>{MER})?",
     oclock),
    (rf"\b(?P<hw>{HOUR_W})(?:[-\s](?P<mw>{MIN_W}))?(?P<mer>{MER})", oclock),
    (r"\b(?:12\s*)?(?:noon|midday|mid[-\s]day|midnight)\b", named),
    (rf"(?P<pre>){NUM}(?P<num>\d{{1,2}}|{HOUR_W})(?P<m2>)(?=\s+(?:tonight|tonite|today|{'|'.join(TOMORROW)}"
     r"|this\s+(?:morning|afternoon|evening)|in\s+the\s+(?:morning|afternoon|evening|am|pm)|at\s+night)\b)",
     prefixed),
    (rf"(?P<pre>(?<!\w)@|\b(?:at|around|about|approx\.?|approximately|till|until|til|before|by"
     rf"|after|from|since|to|through)\b)\s*"
     rf"(?P<num>{NUM}\d{{1,4}}(?![\d:/]|[.,]\d)|(?:{HOUR_W})(?:[-\s]{MIN_W})?\b)"
     rf"(?:\s(?P<m2>[0-5]\d)(?!\s*\w))?(?:\s*ish)?{NOT_AFTER_NUMBER}",
     prefixed),
]  # fmt: skip
