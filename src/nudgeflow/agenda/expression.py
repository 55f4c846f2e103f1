"""One time expression on its own, no meeting word needed: what the public corpora test
("3-4pm", "tomorrow at 5", "in 2 hours"). The same grammar as `extract`, without the
meeting rules and without dropping the past, so the scores measure the grammar itself."""

from __future__ import annotations

from datetime import datetime, tzinfo

from nudgeflow.agenda.chain import chains
from nudgeflow.agenda.context import in_context
from nudgeflow.agenda.resolve import Context, resolve
from nudgeflow.agenda.scan import scan
from nudgeflow.agenda.values import When


def parse_time_expression(
    text: str, now: datetime, zone: tzinfo, *, day_first: bool = False
) -> tuple[datetime | None, datetime | None] | None:
    """The start and end (aware, UTC) of the main time expression in `text`, or None.
    The main one is the longest that says a time of day, else the longest with a day.
    A bound ("until 2pm", "before 11") has an end and no start."""
    whens = in_context(chains(scan(text), text), text) or chains(scan(text), text)
    if not whens:
        return None
    best = max(whens, key=_weight)
    resolved = resolve(best, Context(now, zone, day_first))
    if resolved is None:
        return None
    return (None, resolved.start) if best.bound else (resolved.start, resolved.end)


def _weight(when: When) -> tuple[bool, int]:
    return (when.timed and not when.bound, when.end - when.start)
