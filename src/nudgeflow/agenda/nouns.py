"""What makes a time a meeting: a noun ("standup", "1:1", "dentist", "call") or "meet",
and the short title it gives ("design review", "1-on-1 with Sam")."""

from __future__ import annotations

import re

from nudgeflow.agenda.clock import Rule
from nudgeflow.agenda.lexicon import CANONICAL, NOUNS, WEAK_NOUNS
from nudgeflow.agenda.values import Atom

_ALTERNATIVES = "|".join(sorted((re.escape(n) for n in NOUNS), key=len, reverse=True))
# "1:1", "1-1", "1 on 1" are meetings, never 01:01 or a score.
ONE_ON_ONE = r"(?<![\w:/.-])(?:1\s?:\s?1s?|1-1|1\s?on\s?1|1-on-1)(?![\w:/.]|-\d|\s*[ap]\.?m\b)"
_ONE_ON_ONE = re.compile(ONE_ON_ONE, re.IGNORECASE)
_MODIFIER = re.compile(r"([A-Za-z][\w'&-]*)\s+$")
_WITH = re.compile(
    r"\s+(?:with|w/|w)\s*((?:(?:the|my|our|your|his|her|their)\s+)?"
    r"(?!(?:at|on|in|for|and|to|tomorrow|today|tonight|this|next)\b)[\w'.-]+(?:\s+[A-Z][\w'-]*)?)"
)
# Words before a noun that are not part of its name.
STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "my",
        "our",
        "your",
        "his",
        "her",
        "their",
        "this",
        "that",
        "next",
        "last",
        "tomorrow",
        "today",
        "tonight",
        "have",
        "has",
        "had",
        "got",
        "get",
        "i",
        "we",
        "you",
        "they",
        "it",
        "is",
        "are",
        "was",
        "were",
        "be",
        "am",
        "will",
        "i'll",
        "we'll",
        "there's",
        "there",
        "at",
        "on",
        "in",
        "for",
        "with",
        "and",
        "or",
        "but",
        "to",
        "of",
        "from",
        "by",
        "about",
        "quick",
        "short",
        "long",
        "big",
        "small",
        "little",
        "first",
        "quickly",
        "then",
        "also",
        "just",
        "another",
        "any",
        "no",
        "not",
        "don't",
        "never",
        "some",
        "one",
        "two",
        "30",
        "45",
        "15",
        "60",
        "min",
        "mins",
        "minute",
        "minute-long",
        "hour",
        "hours",
        "hr",
        "remind",
        "reminder",
        "me",
        "please",
        "pls",
        "do",
        "doing",
        "a.m",
        "p.m",
        "am",
        "pm",
        "cancel",
        "cancelled",
        "canceled",
        "skip",
        "skipping",
        "moved",
        "move",
        "push",
        "reschedule",
        "new",
        "usual",
        "weekly",
        "daily",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "mon",
        "tue",
        "tues",
        "wed",
        "thu",
        "thurs",
        "fri",
        "sat",
        "sun",
        "tmrw",
        "tmr",
        "morning",
        "afternoon",
        "evening",
        "night",
        "let's",
        "lets",
        "book",
        "booked",
        "set",
        "up",
        "need",
        "mtg",
    ]
)
TITLE_MODIFIERS = 2
# "meeting room", "meeting notes", "call me": the word, but no meeting.
NOT_A_MEETING = (
    r"(?!\s+(?:room|rooms|notes|minutes|link|invite|id|agenda|recording)\b)"
    r"(?!(?<=call)\s+(?:me|us|him|her|them|you)\b)"
)


def noun(m: re.Match[str], text: str) -> Atom | None:
    word = " ".join(m[0].lower().split())
    head = CANONICAL.get(word, "1:1" if _ONE_ON_ONE.fullmatch(word) else word)
    return Atom("noun", m.start(), m.end(), word=head, weak=head in WEAK_NOUNS)


def meet(m: re.Match[str], text: str) -> Atom | None:
    return Atom("noun", m.start(), m.end(), word="meeting", weak=True)


def title(text: str, atom: Atom) -> str:
    """The noun with up to two words before it that name it, and "with X" after it."""
    begin, parts = atom.start, [_shown(text[atom.start : atom.end], atom.word)]
    for _ in range(TITLE_MODIFIERS):
        m = _MODIFIER.search(text, max(0, begin - 40), begin)
        if m is None or m[1].lower() in STOP or m[1][0].isdigit():
            break
        parts.insert(0, m[1].lower())
        begin = m.start(1)
    tail = _WITH.match(text, atom.end)  # not a copy of the rest of the message per meeting
    if tail:
        parts.append("with " + tail[1].rstrip(".,!?"))
    return " ".join(parts)


def _shown(said: str, head: str) -> str:
    plain = " ".join(said.split())
    return head if plain.lower() in CANONICAL or head == "meeting" else plain.lower()


RULES: list[tuple[str, Rule]] = [
    (rf"(?<![\w:/.-])(?:{_ALTERNATIVES})(?![\w]|:\d|-\d){NOT_A_MEETING}", noun),
    (r"\b(?:meet|meeting)\s+(?=with\b|up\b|\w+\s+for\b)|\blet'?s\s+meet\b|\bmeet\s+(?=at\b|@)", meet),
]  # fmt: skip
