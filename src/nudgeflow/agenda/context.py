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
    parts = _by_clause(vague, text)  # one lookup per time: linear in a run-on message
    used: set[tuple[int, int]] = set()
    result = []
    for when in timed:
        if when.clock is None and when.offset is None:
            continue
        clause = _clause(text, when)
        if clause in parts:
            used.add(clause)
            result.append(_refined(when, parts[clause][0]))
        else:
            result.append(when)
    result += [w for clause, ws in parts.items() if clause not in used for w in ws]
    dated = [w for w in whens if w.day is not None]
    for i, when in enumerate(result):
        if when.day is None and when.offset is None:
            day = _nearest_day(when, dated, text)
            result[i] = when if day is None else replace(when, day=day.day)
    return sorted(result, key=lambda w: w.start)


def _by_clause(vague: list[When], text: str) -> dict[tuple[int, int], list[When]]:
    """The parts of the day alone, by the clause they are in, in order."""
    found: dict[tuple[int, int], list[When]] = {}
    for when in vague:
        found.setdefault(_clause(text, when), []).append(when)
    return found


def _refined(when: When, part: When) -> When:
    """`when` with the first part of the day said in its clause; every part in the clause is
    then used up, as a refinement rather than a time of its own."""
    if when.clock is not None and when.part is None:
        return replace(when, part=part.part, day=when.day or part.day)
    return when


def _clause(text: str, when: When) -> tuple[int, int]:
    return cues.bounds(text, cues.CLAUSE, when.start, when.start)


def _nearest_day(when: When, dated: list[When], text: str) -> When | None:
    """The day said nearest in the sentence, else the last said before (dated is in order)."""
    left, right = cues.sentence_of(text, when.start)
    at = bisect_left(dated, when.start, key=lambda w: w.start)
    near = [w for w in dated[max(0, at - 1) : at + 1] if left <= w.start < right]
    if near:
        return min(near, key=lambda w: abs(w.start - when.start))
    return dated[at - 1] if at else None
