"""Scores of the grammar on the public peer corpora (tests/data/time-corpus, see its
README): the share of time expressions whose start we read exactly, to the minute.
Used by the regression tests and printed by `python -m bench.corpus`.

* Duckling (`duckling-en.json`): vectors whose expected grain is hour, minute or second,
  outside the `latent` section; the reference time is at a fixed UTC offset (-02:00).
  An open interval "until 2pm" has no start: it is read right when we say none either.
* Recognizers-Text (`recognizers-en.json`): vectors with a reference time and exactly one
  expected entity, a `datetime` or `datetimerange` with a start; the reference is naive,
  read as UTC. These follow Microsoft's conventions ("this evening" starts at 16:00), so
  the figure is reported, not a goal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from nudgeflow.agenda.expression import parse_time_expression

TIMED_GRAINS = frozenset({"hour", "minute", "second"})
TIMED_TYPES = frozenset({"datetime", "datetimerange"})


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    now: datetime
    zone: tzinfo
    start: datetime | None  # naive wall time in `zone`; None for "until 2pm"


@dataclass
class Score:
    name: str
    hits: int = 0
    misses: list[tuple[Case, datetime | None]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.hits + len(self.misses)

    @property
    def share(self) -> float:
        return self.hits / self.total if self.total else 0.0


def duckling_cases(path: Path) -> Iterator[Case]:
    for vector in _vectors(path):
        expected = vector.get("expected") or {}
        if vector["section"] == "latent" or expected.get("grain") not in TIMED_GRAINS:
            continue
        offset = _offset(vector["reference_utc_offset"])
        now = datetime.fromisoformat(vector["reference"]).replace(tzinfo=offset)
        start = expected.get("start")
        yield Case(vector["id"], vector["text"], now, offset, _naive(start))


def recognizers_cases(path: Path) -> Iterator[Case]:
    for vector in _vectors(path):
        entities = vector.get("expected") or []
        if vector.get("reference") is None or len(entities) != 1:
            continue
        [entity] = entities
        if entity["type"] not in TIMED_TYPES or not entity.get("start"):
            continue
        now = datetime.fromisoformat(vector["reference"]).replace(tzinfo=UTC)
        yield Case(vector["id"], vector["text"], now, UTC, _naive(entity["start"]))


def score(name: str, cases: Iterator[Case]) -> Score:
    result = Score(name)
    for case in cases:
        found = parse_time_expression(case.text, case.now, case.zone)
        start = None if found is None or found[0] is None else _wall(found[0], case.zone)
        hit = found is not None and start == case.start
        if hit:
            result.hits += 1
        else:
            result.misses.append((case, start))
    return result


def _vectors(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    vectors: list[dict[str, Any]] = data["vectors"]
    return vectors


def _offset(text: str) -> tzinfo:
    sign = -1 if text.startswith("-") else 1
    hours, minutes = text.lstrip("+-").split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def _naive(text: str | None) -> datetime | None:
    if text is None or text.startswith("-"):
        return None  # BC years are not Python dates; no such vector is time-grained
    return datetime.fromisoformat(text).replace(second=0)


def _wall(at: datetime, zone: tzinfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
