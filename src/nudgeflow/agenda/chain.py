"""Adjacent atoms make one time expression: "next Monday" + "at 3:30 pm" + "ET" with only
glue words between them ("at", "on", "the", ","). Two clocks or two days never join, so
"standup at 9 and retro at 4" stays two expressions."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

from nudgeflow.agenda.values import Atom, When

GLUE = frozenset(["at", "on", "@", "in", "the", "of", "this", "around", "about", "approx", "approximately", "~", "for", "starting", "from", "sharp", "ish", "o'clock", "oclock", "-", "–", "—", ",", "(", ")", ":", "by", "until", "till", "til", "before", "through"])  # fmt: skip
MAX_GAP = 24
LOOK_BACK = 24  # how far back "until" or "by" may stand before a clock
BOUND = re.compile(r"\b(?:until|till|til|untill|before|by|through|thru)\s*$", re.IGNORECASE)
_WORD = re.compile(r"[\w'@~]+|[-–—,():]")


def chains(atoms: list[Atom], text: str) -> list[When]:
    """The time expressions of `text`, in order (nouns are left out)."""
    found: list[When] = []
    current: When | None = None
    for atom in atoms:
        if atom.kind == "noun":
            continue
        joined = _join(current, atom, text[current.end : atom.start], text) if current else None
        if joined is None:
            if current is not None:
                found.append(current)
            current = _start(atom, text)
        else:
            current = joined
    if current is not None:
        found.append(current)
    return [w for w in found if w.timed or w.day is not None]


def _glue(gap: str) -> bool:
    return len(gap) <= MAX_GAP and all(w.lower() in GLUE for w in _WORD.findall(gap))


def _start(atom: Atom, text: str) -> When | None:
    """A new expression from `atom`; a zone or a duration alone starts none."""
    return _join(When(atom.start, atom.end), atom, "", text)


def _join(when: When | None, atom: Atom, gap: str, text: str) -> When | None:
    if when is None or not _glue(gap):
        return None
    joined = _slot(when, atom, text)
    return None if joined is None else replace(joined, end=atom.end)


def _slot(when: When, atom: Atom, text: str) -> When | None:
    """`when` with `atom` in its slot, or None when the slot is taken."""
    if atom.kind in ("clock", "range"):
        return _clock(when, atom, text)
    if atom.kind == "day":
        return _day(when, atom)
    if atom.kind == "part" and when.part is None:
        return replace(when, part=atom.part, day=when.day if when.day is not None else atom.day)
    return _measure(when, atom)


def _measure(when: When, atom: Atom) -> When | None:
    """A zone after a clock, an offset alone, a duration after a start."""
    if atom.kind == "zone" and when.clock is not None and when.zone is None:
        return replace(when, zone=atom.zone)
    if atom.kind == "offset" and when.offset is None and when.clock is None and when.day is None:
        return replace(when, offset=atom.delta)
    timed = when.clock is not None and when.until is None and when.duration is None
    return replace(when, duration=atom.delta) if atom.kind == "duration" and timed else None


def _clock(when: When, atom: Atom, text: str) -> When | None:
    """A clock or a range; after "until", "by", "before" it is a bound, not a start."""
    if when.clock is not None or _sub_day(when.offset):
        return None
    bound = atom.word == "until" or bool(
        BOUND.search(text, max(0, atom.start - LOOK_BACK), atom.start)
    )
    return replace(when, clock=atom.clock, until=atom.until, bound=bound and atom.until is None)


def _sub_day(offset: timedelta | None) -> bool:
    """ "in 2 hours" fixes the time; "in 7 days" leaves room for "at 5pm"."""
    return offset is not None and offset % timedelta(days=1) != timedelta(0)


def _day(when: When, atom: Atom) -> When | None:
    day = atom.day
    if when.day is None:
        return replace(when, day=day)
    known = when.day
    if day is None:
        return None
    if known.weekday is not None and known.month is None and day.day is not None:
        return replace(when, day=day)  # "Fri, Sep 20": the date says which Friday
    if day.weekday is not None and known.day is not None:
        return when  # "Sep 20, Friday"
    return None
