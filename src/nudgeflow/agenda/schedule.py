"""A user's schedule, changed by what they write. Pure: given the entries so far, the
meetings found in one message and the message itself, `apply` says which entries to add or
change — the same meeting mentioned again is one entry, "my 3pm is moved to 4" moves it,
"cancel the dentist" cancels it, and a match under MIN_CONFIDENCE is only reported.

Entries are stored as records of kind `meeting` (key: the entry id), so the agenda playbook
reads them like any other fact and `explain` shows them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

KIND = "meeting"
MIN_CONFIDENCE = 0.5
GENERIC = frozenset({"meeting", "call", "appointment", "event", "session", "sync"})
STOP = frozenset({"the", "a", "an", "my", "our", "with", "at", "on", "for", "to", "and"})

CANCEL = re.compile(
    r"\b(cancel(?:l?ed|ling|s)?|call(?:ed|ing)?\s+off|scrap(?:ped)?|is\s+off|not\s+happening)\b",
    re.IGNORECASE,
)
MOVE = re.compile(
    r"\b(mov(?:e|ed|ing)|push(?:ed)?|resched\w*|shift(?:ed)?|postpon\w*|bump(?:ed)?|chang(?:e|ed))\b",
    re.IGNORECASE,
)
TO = re.compile(r"\bto\b\s+(?P<new>.+)", re.IGNORECASE | re.DOTALL)
CLOCK = re.compile(
    r"\b(?P<h>[01]?\d|2[0-3])(?::(?P<m>[0-5]\d))?\s*(?P<half>[ap])?\.?m?\.?(?![\d:/])",
    re.IGNORECASE,
)


class Found(Protocol):
    """What the extractor finds: a meeting in a message."""

    @property
    def title(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime | None: ...
    @property
    def confidence(self) -> float: ...


Status = Literal["scheduled", "cancelled"]


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    start: datetime
    end: datetime | None
    channel: str  # where it was mentioned: its reminders go there and nowhere else
    confidence: float
    source: str  # the message it came from (or was last changed by)
    status: Status = "scheduled"

    def props(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "start": self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "channel": self.channel,
            "confidence": round(self.confidence, 3),
            "source": self.source,
            "status": self.status,
        }

    @classmethod
    def from_props(cls, key: str, props: dict[str, Any]) -> Entry:
        end = props.get("end")
        return cls(
            id=key,
            title=str(props["title"]),
            start=datetime.fromisoformat(props["start"]),
            end=None if end is None else datetime.fromisoformat(end),
            channel=str(props["channel"]),
            confidence=float(props["confidence"]),
            source=str(props["source"]),
            status=props.get("status", "scheduled"),
        )


@dataclass(frozen=True)
class Message:
    id: str
    text: str
    channel: str
    at: datetime
    timezone: ZoneInfo


@dataclass
class Changes:
    added: list[Entry]
    updated: list[Entry]
    cancelled: list[Entry]
    ignored: list[Found]  # under MIN_CONFIDENCE: logged, not scheduled

    @property
    def written(self) -> list[Entry]:
        return [*self.added, *self.updated, *self.cancelled]


def apply(
    entries: Sequence[Entry],
    found: Sequence[Found],
    message: Message,
    new_id: Callable[[], str],
) -> Changes:
    """What `message`, in which `found` meetings were extracted, does to `entries`."""
    upcoming = [e for e in entries if e.status == "scheduled" and e.start > message.at]
    changes = Changes([], [], [], [f for f in found if f.confidence < MIN_CONFIDENCE])
    confident = [f for f in found if f.confidence >= MIN_CONFIDENCE]
    if CANCEL.search(message.text):
        changes.cancelled = [replace(e, status="cancelled", source=message.id)
                             for e in _referred(upcoming, message.text, message.timezone)]  # fmt: skip
        return changes
    moved = _move(upcoming, confident, message)
    if moved is not None:
        changes.updated.append(moved)
        return changes
    known = {e.id: e for e in upcoming}
    new_ids: list[str] = []
    for meeting in confident:
        same = next((e for e in known.values() if _same(e, meeting)), None)
        if same is None:
            entry = _entry(new_id(), meeting, message)
            known[entry.id] = entry
            new_ids.append(entry.id)
        else:
            known[same.id] = _merge(same, meeting)
    changes.added = [known[i] for i in new_ids]
    before = {e.id: e for e in upcoming}
    changes.updated = [e for i, e in known.items() if i in before and e != before[i]]
    return changes


def _entry(entry_id: str, meeting: Found, message: Message) -> Entry:
    return Entry(entry_id, meeting.title, meeting.start, meeting.end, message.channel,
                 meeting.confidence, message.id)  # fmt: skip


def _same(entry: Entry, meeting: Found) -> bool:
    """The same meeting: the same start, and titles that share a word (or one is generic)."""
    if entry.start != meeting.start:
        return False
    ours, theirs = _words(entry.title), _words(meeting.title)
    return bool(ours & theirs) or ours <= GENERIC or theirs <= GENERIC


def _merge(entry: Entry, meeting: Found) -> Entry:
    """A second mention may add the end or a better title; it never loses what we knew."""
    better_title = _words(entry.title) <= GENERIC and not _words(meeting.title) <= GENERIC
    return replace(
        entry,
        title=meeting.title if better_title else entry.title,
        end=entry.end or meeting.end,
        confidence=max(entry.confidence, meeting.confidence),
    )


def _move(upcoming: Sequence[Entry], found: Sequence[Found], message: Message) -> Entry | None:
    """ "my 3pm is moved to 4", "push the dentist to Friday 10am": the entry, moved."""
    match = _moved_to(message.text)
    if match is None:
        return None
    before = message.text[: match.start("new")]
    targets = _referred(upcoming, before, message.timezone)
    if len(targets) != 1:
        return None
    [entry] = targets
    start = _new_start(entry, match.group("new"), found, message.timezone)
    if start is None or start == entry.start:
        return None
    end = None if entry.end is None else start + (entry.end - entry.start)
    return replace(entry, start=start, end=end, source=message.id)


def _moved_to(text: str) -> re.Match[str] | None:
    """ "… moved … to <new>": the first move verb, then the first "to" after it. Two searches,
    as one pattern with a lazy gap between the two is quadratic in a long message."""
    verb = MOVE.search(text)
    return None if verb is None else TO.search(text, verb.end())


def _new_start(
    entry: Entry, said: str, found: Sequence[Found], timezone: ZoneInfo
) -> datetime | None:
    """Where the meeting moves: what the extractor read, else a bare hour on the same day,
    taken as the one nearest the old start ("3pm … to 4" is 16:00)."""
    later = [f.start for f in found if f.start != entry.start]
    if later:
        return later[0]
    clock = CLOCK.search(said)
    if clock is None:
        return None
    old = entry.start.astimezone(timezone)
    minute = int(clock.group("m") or 0)
    options = _hours(int(clock.group("h")), clock.group("half"))
    hour = min(options, key=lambda h: abs(h * 60 + minute - old.hour * 60 - old.minute))
    local = old.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return local.astimezone(entry.start.tzinfo)


def _referred(entries: Sequence[Entry], text: str, timezone: ZoneInfo) -> list[Entry]:
    """The entries a message speaks of: by a word of their title, else by their local hour
    ("my 3pm"). Several by title: the soonest."""
    words = _words(text)
    by_title = sorted((e for e in entries if (_words(e.title) - GENERIC) & words),
                      key=lambda e: e.start)  # fmt: skip
    if by_title:
        return by_title[:1]
    hours = {(h, int(m.group("m") or 0)) for m in CLOCK.finditer(text)
             for h in _hours(int(m.group("h")), m.group("half"))}  # fmt: skip
    by_time = [e for e in entries if _local_clock(e.start, timezone) in hours]
    if by_time:
        return sorted(by_time, key=lambda e: e.start)[:1]
    if len(entries) == 1 and words & GENERIC:
        return list(entries)  # "the meeting is cancelled" with one meeting ahead
    return []


def _local_clock(at: datetime, timezone: ZoneInfo) -> tuple[int, int]:
    local = at.astimezone(timezone)
    return local.hour, local.minute


def _hours(hour: int, half: str | None) -> list[int]:
    if half is None:
        return [hour, hour + 12] if 1 <= hour <= 11 else [hour % 24]
    pm = half.lower() == "p"
    return [(hour % 12) + (12 if pm else 0)]


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP and not w.isdigit()}


def upcoming(
    entries: Sequence[Entry], now: datetime, horizon: timedelta | None = None
) -> list[Entry]:
    """Scheduled entries still ahead (or under way), soonest first."""
    keep = [e for e in entries if e.status == "scheduled" and (e.end or e.start) > now
            and (horizon is None or e.start <= now + horizon)]  # fmt: skip
    return sorted(keep, key=lambda e: e.start)
