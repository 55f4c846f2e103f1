"""Per-message latency of the meeting extractor, against peer date parsers on the same messages.

    python -m bench.extract [--passes 3]

The messages are the realistic test set (tests/data/agenda-messages.jsonl). In one run, each
message goes `--passes` times through nudgeflow's `extract` and through each peer installed:
ctparse (`ctparse`), dateparser (`search_dates`) and recognizers-text-date-time (an English
datetime model built once, then `parse`), after one warm-up call each. A message's latency is
its fastest pass, so a busy machine's preemptions do not count as parser time; the line
"every call" shows ours over all calls too. A peer that does not import is skipped, noted.
dateparser and recognizers-text-date-time are in the `dev` extra (requirements.lock);
ctparse is not: it wants python-dateutil<3, which would take the locked 4.0 (under croniter, a
runtime dependency) back to 2.9. `pip install ctparse` in a venv of its own adds it to the table.

Then the adversarial messages (tests/data/agenda-adversarial.jsonl): Telegram's longest
message, 4,096 characters, of one piece repeated — digits, clock times, "3-4 PM", "from 10 to
11 and", "meet at 9 at 10 at 11", … — through ours only (a peer takes seconds on some).
Goal: nudgeflow median <= 1 ms, p99 <= 5 ms, max < 50 ms, adversarial messages included.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import statistics
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from nudgeflow.agenda import extract

DATA = Path(__file__).parent.parent / "tests" / "data"
MESSAGES = DATA / "agenda-messages.jsonl"
ADVERSARIAL = DATA / "agenda-adversarial.jsonl"
# When the adversarial messages are said: a Monday morning in Berlin.
ADVERSARIAL_AT = (datetime(2026, 11, 23, 8, 0, tzinfo=UTC), "Europe/Berlin")

NOT_LOCKED = {"ctparse": "; not in the dev extra: it needs python-dateutil<3, the lock has 4.0"}
Message = tuple[str, datetime, str]  # text, now (UTC), the user's timezone
Parse = Callable[[Message], object]


def messages() -> list[Message]:
    rows = [json.loads(line) for line in MESSAGES.read_text(encoding="utf-8").splitlines()]
    return [(r["text"], datetime.fromisoformat(r["now"]), r["timezone"]) for r in rows]


def adversarial() -> list[tuple[str, Message]]:
    """(name, message): each recipe's piece repeated to its length."""
    rows = [json.loads(line) for line in ADVERSARIAL.read_text(encoding="utf-8").splitlines()]
    now, zone = ADVERSARIAL_AT
    return [(r["name"], (_repeated(r["unit"], r["length"]), now, zone)) for r in rows]


def _repeated(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


def local(message: Message) -> datetime:
    """The peers take a naive local reference time."""
    _, now, zone = message
    return now.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def ours(message: Message) -> object:
    text, now, zone = message
    return extract(text, now=now, timezone=zone)


def peers() -> tuple[dict[str, Parse], list[str]]:
    """The peers that import, and a note for each that does not."""
    found: dict[str, Parse] = {}
    notes = []
    for name, make in (
        ("ctparse", _ctparse),
        ("dateparser search_dates", _dateparser),
        ("recognizers-text-date-time", _recognizers),
    ):
        try:
            found[name] = make()
        except ImportError as error:
            why = NOT_LOCKED.get(name, "")
            notes.append(f"({name} is not installed or does not import: {error}{why})")
    return found, notes


def _ctparse() -> Parse:
    parse = importlib.import_module("ctparse").ctparse
    logging.getLogger("ctparse").setLevel(logging.ERROR)  # one warning per message it misses
    return lambda m: parse(m[0], ts=local(m))


def _dateparser() -> Parse:
    search = importlib.import_module("dateparser.search").search_dates

    def run(m: Message) -> object:
        settings = {"RELATIVE_BASE": local(m), "PREFER_DATES_FROM": "future"}
        return search(m[0], languages=["en"], settings=settings)

    return run


def _recognizers() -> Parse:
    date_time = importlib.import_module("recognizers_date_time")
    culture = importlib.import_module("recognizers_text").Culture.English
    model: Any = date_time.DateTimeRecognizer(culture).get_datetime_model(culture)
    return lambda m: model.parse(m[0], local(m))


def timings(parse: Parse, batch: list[Message], passes: int) -> list[list[float]]:
    """Milliseconds per call: for each message, one entry per pass (after a warm-up call)."""
    parse(batch[0])
    found: list[list[float]] = [[] for _ in batch]
    for _ in range(passes):
        for calls, message in zip(found, batch, strict=True):
            start = time.perf_counter()
            parse(message)
            calls.append((time.perf_counter() - start) * 1000)
    return found


def row(name: str, ms: list[float]) -> str:
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    median = statistics.median(ordered)
    return f"  {name:<28} {median:>10.3f} {p99:>10.3f} {ordered[-1]:>10.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passes", type=int, default=3, help="passes over the messages")
    args = parser.parse_args()
    batch = messages()
    chosen, notes = peers()
    for note in notes:
        print(note)
    print(f"\n{len(batch)} messages; milliseconds per message")
    print(f"  {'':<28} {'median':>10} {'p99':>10} {'max':>10}")
    calls = timings(ours, batch, args.passes)
    print(row("nudgeflow extract", [min(c) for c in calls]), flush=True)
    print(row("  (every call)", [ms for c in calls for ms in c]), flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dateparser's own deprecation warnings
        for name, parse in chosen.items():
            print(row(name, [min(c) for c in timings(parse, batch, args.passes)]), flush=True)
    named = adversarial()
    hard = [min(c) for c in timings(ours, [m for _, m in named], args.passes)]
    print(f"\n{len(named)} adversarial messages of {len(named[0][1][0]):,} characters")
    print(row("nudgeflow extract", hard), flush=True)
    slowest = max(range(len(hard)), key=hard.__getitem__)
    print(f"  slowest: {named[slowest][0]!r}, {hard[slowest]:.1f} ms")
    every = [min(c) for c in calls] + hard
    print(f"\nall {len(every)} messages: nudgeflow max {max(every):.3f} ms")
    print("goal: nudgeflow median <= 1 ms, p99 <= 5 ms, max < 50 ms")


if __name__ == "__main__":
    main()
