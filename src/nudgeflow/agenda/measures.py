"""Amounts of time: offsets from now ("in 2 hours", "45 minutes from now", "3 days ago")
and durations ("30 min call", "for an hour", "a 45-minute interview")."""

from __future__ import annotations

import re
from datetime import timedelta

from nudgeflow.agenda.clock import Rule, word_number
from nudgeflow.agenda.lexicon import FUZZY_COUNTS, unit_delta
from nudgeflow.agenda.values import Atom

FUZZY = "|".join(sorted((re.escape(k) for k in FUZZY_COUNTS), key=len, reverse=True))
WORDS = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty(?:[-\s]five)?|fifty|sixty|ninety)"
COUNT = rf"(?:\d+(?:\.\d+)?|\d/\d|{FUZZY}|{WORDS})"
UNIT = r"(?:seconds?|secs?|minutes?|mins?|mn|hours?|hrs?|h|days?|weeks?|wks?)\b\.?"
SHORT_UNIT = r"(?:minutes?|mins?|mn|m|hours?|hrs?|h)\b"
AMOUNT = (
    rf"(?P<n>{COUNT})(?:\s+and\s+(?:a\s+|an\s+)?(?P<half>half))?(?:\s*more)?[\s-]*(?P<u>{UNIT})"
    rf"(?:\s*(?:and\s+)?(?:(?P<and_half>a\s+half)|(?P<n2>\d+)\s*(?P<u2>minutes?|mins?|m)\b))?"
)


def amount(m: re.Match[str]) -> timedelta | None:
    """30 min, an hour and a half, 2.5 hours, 1/2 h, a couple of hours, 2 hours 15 minutes."""
    count = _count(m["n"])
    if count is None:
        return None
    count += 0.5 if m["half"] or m["and_half"] else 0.0
    delta = unit_delta(m["u"], count)
    if m["n2"]:
        delta += unit_delta(m["u2"], float(m["n2"]))
    return delta


def _count(text: str) -> float | None:
    s = " ".join(text.lower().split())
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        return float(s)
    if re.fullmatch(r"\d/\d", s):
        a, b = s.split("/")
        return int(a) / int(b) if int(b) else None
    if s in FUZZY_COUNTS:
        return FUZZY_COUNTS[s]
    number = word_number(s)
    return None if number is None else float(number)


def offset(m: re.Match[str], text: str) -> Atom | None:
    delta = amount(m)
    if delta is None:
        return None
    sign = -1 if "ago" in m[0].lower() else 1
    return Atom("offset", m.start(), m.end(), delta=sign * delta)


def duration(m: re.Match[str], text: str) -> Atom | None:
    delta = amount(m)
    if delta is None or delta > timedelta(hours=12) or delta <= timedelta(0):
        return None
    return Atom("duration", m.start(), m.end(), delta=delta, word="for" if m["for"] else "")


def minutes(m: re.Match[str], text: str) -> Atom | None:
    """ "call in 10": minutes, in chat, when the number ends the clause."""
    return Atom("offset", m.start(), m.end(), delta=timedelta(minutes=int(m["n"])))


RULES: list[tuple[str, Rule]] = [
    (r"\bin\s+(?P<n>[1-9]\d?)(?=\s*(?:$|[.!?,;)]|\s+(?:and|then|with|pls|please)\b))", minutes),
    (rf"\bin\s+(?:about\s+|around\s+|approximately\s+|another\s+|just\s+|like\s+)?{AMOUNT}", offset),
    (rf"\b{AMOUNT}\s+(?:from\s+(?:right\s+)?now|later|hence|ago)\b", offset),
    (rf"(?:\b(?P<for>for)\s+(?:about\s+|around\s+|roughly\s+)?)?(?<![\w.])"
     rf"{AMOUNT.replace('(?P<u>' + UNIT + ')', '(?P<u>' + SHORT_UNIT + ')')}(?:[\s-]+long)?",
     duration),
]  # fmt: skip
