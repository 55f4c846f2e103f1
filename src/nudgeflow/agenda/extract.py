"""Meetings in a chat message: `extract(text, now=..., timezone=...)`.

A meeting is a time expression (see `chain`) with a meeting word in the same sentence
(see `nouns`), not past, negated, cancelled or an old time being moved, that resolves to
an instant after `now`. A time without a day takes the day said earlier in the message
("Tomorrow: dentist at 8, lunch at 12:30"). The same start said twice is one meeting."""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfoNotFoundError

from nudgeflow.agenda import cues
from nudgeflow.agenda.chain import chains
from nudgeflow.agenda.context import in_context
from nudgeflow.agenda.lexicon import NOUN_PARTS
from nudgeflow.agenda.nouns import title
from nudgeflow.agenda.resolve import Context, resolve
from nudgeflow.agenda.scan import scan
from nudgeflow.agenda.values import Atom, Resolved, When
from nudgeflow.agenda.zones import real_zone

WEAK_REACH = 30  # characters between a weak noun ("coffee") and its time
NEIGHBOURS = 4  # nouns looked at on each side of a time: the nearest are among them
SEPARATED = 50  # how much farther a noun after "and"/"then"/"," counts
_LINK = re.compile(r",|\b(?:and|then)\b", re.IGNORECASE)
MAX_TEXT = 4000  # what the API accepts; longer text is cut, never a reason to be slow
# Time words read per message: a chat message about meetings holds a handful (at most 5 in
# the realistic set); past this many it is a timetable or noise, and the rest is not read.
# Everything else is linear in the text, so this bounds the worst case (~25 ms here).
MAX_TIMES = 64


@dataclass(frozen=True)
class Meeting:
    title: str
    start: datetime  # aware, UTC
    end: datetime | None  # aware, UTC; None when neither said nor implied by a duration
    confidence: float  # in [0, 1]; under 0.5 the schedule logs it and does not keep it
    span: tuple[int, int]  # where in the text the time was said


def extract(text: str, *, now: datetime, timezone: str) -> list[Meeting]:
    """The upcoming meetings in `text`, soonest first, read in the user's `timezone`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    ctx = context(now, timezone)
    text = text[:MAX_TEXT]
    atoms = _first_times(scan(text))
    nouns = [a for a in atoms if a.kind == "noun"]
    found: list[Meeting] = []
    for when in in_context(chains(atoms, text), text):
        meeting = _meeting(when, nouns, atoms, text, ctx)
        if meeting is not None:
            found.append(meeting)
    return _distinct(found)


def _first_times(atoms: list[Atom]) -> list[Atom]:
    """The atoms before the time word past MAX_TIMES."""
    times = [i for i, atom in enumerate(atoms) if atom.kind != "noun"]
    return atoms if len(times) <= MAX_TIMES else atoms[: times[MAX_TIMES]]


def context(now: datetime, timezone: str) -> Context:
    try:
        zone: tzinfo = real_zone(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown timezone: {timezone!r}") from error
    return Context(now.astimezone(UTC), zone, day_first=day_first(timezone))


def day_first(timezone: str) -> bool:
    """3/12 is 12 March in the Americas and 3 December elsewhere."""
    return not timezone.startswith(("America/", "US/", "Canada/", "Pacific/Honolulu"))


def _meeting(
    when: When, nouns: list[Atom], atoms: list[Atom], text: str, ctx: Context
) -> Meeting | None:
    noun = _noun_for(when, nouns, text)
    if noun is None or _dismissed(when, noun, text):
        return None
    named = title(text, noun)
    resolved = resolve(_hinted(when, named), ctx)
    if resolved is None:
        return None
    resolved = _next_week_if_passed(when, resolved, ctx)
    if resolved.start <= ctx.now:
        return None
    end = resolved.end or _noun_duration(noun, atoms, text, resolved.start)
    confidence = _confidence(when, noun, resolved, _tentative(when, noun, text))
    return Meeting(named, resolved.start, end, confidence, (when.start, when.end))


def _dismissed(when: When, noun: Atom, text: str) -> bool:
    """Not a meeting to come: a bound ("in a meeting until 4"), a part of the day far from
    its noun, an old time being moved, or a past, negated or cancelled meeting."""
    if when.bound or (when.clock is None and when.offset is None and not _near(text, when, noun)):
        return True
    left, right = cues.sentence_of(text, min(when.start, noun.start))
    first = min(when.start, noun.start)
    near = (max(left, first - cues.REACH), min(right, first + cues.REACH))
    moved = cues.within(text, cues.MOVED, *near)
    if moved is not None and when.start < moved:
        return True  # "move the 3pm standup to 4": the old time
    clause = cues.scope(text, min(when.start, noun.start), max(when.end, noun.end))
    if cues.said(text, cues.CANCELLED, clause) or cues.said(text, cues.NEGATED, clause):
        return True
    return moved is None and cues.said(text, cues.PAST, clause)


def _tentative(when: When, noun: Atom, text: str) -> bool:
    """A proposal or a question ("maybe a call at 3?") rather than a plan."""
    first, last = min(when.start, noun.start), max(when.end, noun.end)
    clause_end = cues.bounds(text, cues.CLAUSE, last, last)[1]
    asked = cues.said(text, cues.TENTATIVE, cues.scope(text, first, last))
    return asked or text[clause_end : clause_end + 1] == "?"


def _hinted(when: When, named: str) -> When:
    """A bare hour for a dinner is in the evening, for a breakfast in the morning."""
    if when.clock is None or when.part is not None or when.clock.hour24 is not None:
        return when
    hint = next((NOUN_PARTS[w] for w in named.split() if w in NOUN_PARTS), None)
    return when if hint is None else replace(when, part=hint)


def _near(text: str, when: When, noun: Atom) -> bool:
    """A part of the day alone ("tonight") needs its meeting word in the same clause."""
    return cues.bounds(text, cues.CLAUSE, when.start, when.start) == cues.bounds(
        text, cues.CLAUSE, noun.start, noun.start
    )


def _noun_for(when: When, nouns: list[Atom], text: str) -> Atom | None:
    """The meeting word nearest the time in its sentence; weak ones only close by."""
    left, right = cues.sentence_of(text, when.start)
    at = bisect_left(nouns, when.start, key=lambda n: n.start)
    best: tuple[int, Atom] | None = None
    for noun in nouns[max(0, at - NEIGHBOURS) : at + NEIGHBOURS]:
        if not (left <= noun.start < right):
            continue
        distance = max(noun.start - when.end, when.start - noun.end, 0)
        if noun.weak and distance > WEAK_REACH:
            continue
        if noun.start >= when.end and cues.within(text, _LINK, when.end, noun.start) is not None:
            distance += SEPARATED  # "call at 10 and then lunch": the lunch has its own time
        if best is None or distance < best[0]:
            best = (distance, noun)
    return None if best is None else best[1]


def _next_week_if_passed(when: When, resolved: Resolved, ctx: Context) -> Resolved:
    """ "Monday at 9" said on a Monday afternoon is next Monday."""
    day = when.day
    if day is None or day.weekday is None or day.mode != "bare" or day.day is not None:
        return resolved
    if resolved.start > ctx.now:
        return resolved
    zone = when.zone or ctx.zone
    start = _week_later(resolved.start, zone)
    end = None if resolved.end is None else _week_later(resolved.end, zone)
    return replace(resolved, start=start, end=end)


def _week_later(at: datetime, zone: tzinfo) -> datetime:
    """The same wall time a week later, whatever daylight saving did in between."""
    return (at.astimezone(zone) + timedelta(days=7)).astimezone(UTC)


def _noun_duration(noun: Atom, atoms: list[Atom], text: str, start: datetime) -> datetime | None:
    """ "30 min call", "a 45-minute interview": the length said just before the noun."""
    at = bisect_left(atoms, noun.start, key=lambda a: a.start)
    atom = atoms[at - 1] if at else None
    if atom is None or atom.kind != "duration" or atom.delta is None:
        return None
    gap = text[atom.end : noun.start].strip(" -").lower()
    return start + atom.delta if gap in ("", "long") else None


def _confidence(when: When, noun: Atom, resolved: Resolved, tentative: bool) -> float:
    score = 0.55 + (0.05 if noun.weak else 0.15)
    score += 0.1 if resolved.guessed else 0.2
    score += 0.05 if when.day is not None or when.offset is not None else 0.0
    if tentative:
        score *= 0.5
    return round(min(1.0, max(0.0, score)), 2)


def _distinct(found: list[Meeting]) -> list[Meeting]:
    """One meeting per start minute: the later mention may add the end or a better title."""
    kept: dict[datetime, Meeting] = {}
    for meeting in found:
        key = meeting.start.replace(second=0, microsecond=0)
        known = kept.get(key)
        if known is None:
            kept[key] = meeting
            continue
        kept[key] = replace(
            known,
            end=known.end or meeting.end,
            title=meeting.title if known.title == "meeting" else known.title,
            confidence=max(known.confidence, meeting.confidence),
        )
    return sorted(kept.values(), key=lambda m: m.start)
