"""A time takes what the rest of the message says about it: "tomorrow morning standup at
9:45" is one time, and in "Tomorrow: dentist at 8, lunch at 12:30" both are tomorrow."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import replace

from nudgeflow.agenda import cues
from nudgeflow.agenda.values import When


def in_context(whens: list[When], text: str) -> list[When]:
    """Timed expressions with their context: a part of the day said in the same clause
    ("tomorrow morning standup at 9:45") refines the clock instead of being a meeting of its
    own, and a time without a day takes the day said nearest in its sentence, else the
    last day said before it ("Tomorrow: dentist at 8, lunch at 12:30")."""
    timed = [w for w in whens if w.timed]
    vague = [w for w in timed if w.clock is None and w.offset is None]
    used: set[int] = set()
    result = []
    vague_at = {w.start for w in vague}
    for when in timed:
        if when.start not in vague_at:
            result.append(_refined(when, vague, text, used))
    result += [w for w in vague if w.start not in used]
    dated = [w for w in whens if w.day is not None]
    for i, when in enumerate(result):
        if when.day is None and when.offset is None:
            day = _nearest_day(when, dated, text)
            result[i] = when if day is None else replace(when, day=day.day)
    return sorted(result, key=lambda w: w.start)


def _refined(when: When, vague: list[When], text: str, used: set[int]) -> When:
    """`when` with the part of the day said in its clause; that part is then used up."""
    for other in vague:
        if _same_clause(text, when, other):
            used.add(other.start)
            if when.clock is not None and when.part is None:
                when = replace(when, part=other.part, day=when.day or other.day)
    return when


def _same_clause(text: str, a: When, b: When) -> bool:
    return cues.bounds(text, cues.CLAUSE, a.start, a.start) == cues.bounds(
        text, cues.CLAUSE, b.start, b.start
    )


def _nearest_day(when: When, dated: list[When], text: str) -> When | None:
    """The day said nearest in the sentence, else the last said before (dated is in order)."""
    left, right = cues.sentence_of(text, when.start)
    at = bisect_left(dated, when.start, key=lambda w: w.start)
    near = [w for w in dated[max(0, at - 1) : at + 1] if left <= w.start < right]
    if near:
        return min(near, key=lambda w: abs(w.start - when.start))
    return dated[at - 1] if at else None
