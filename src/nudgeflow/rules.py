"""Rules and playbooks: pure functions from one user's facts to candidate nudges.

    career = Playbook("career")

    @career.rule(cadence="daily", cooldown="7d", priority=60)
    def resume_weak(facts: Facts, now: datetime) -> RuleOutput:
        ...
        return Candidate(dedupe_key=..., title=..., body=...)

A rule returns candidates, a `Recheck` (when to look again), a list of both, or None. It never
touches the store, the network or the clock: the sweep gives it the facts and the time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from types import MappingProxyType
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

from nudgeflow.cadence import Cadence, parse_cadence

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class User:
    id: str
    plan: str
    org: str | None
    role: str
    timezone: ZoneInfo
    locale: str
    traits: Mapping[str, Any]
    addresses: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Record:
    kind: str
    key: str
    props: Mapping[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EventStats:
    """What a rule needs of an append-only event stream: when it last happened, how often."""

    name: str
    last_at: datetime
    count: int
    last_7_days: int = 0


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything a rule may read about one user at one moment."""

    user: User
    records: Mapping[str, Sequence[Record]] = field(default_factory=dict)
    events: Mapping[str, EventStats] = field(default_factory=dict)

    def records_of(self, kind: str) -> Sequence[Record]:
        return self.records.get(kind, ())

    def record(self, kind: str, key: str) -> Record | None:
        return next((r for r in self.records_of(kind) if r.key == key), None)

    def last_event(self, *names: str) -> datetime | None:
        times = [self.events[n].last_at for n in names if n in self.events]
        return max(times, default=None)

    def event_count(self, name: str) -> int:
        stats = self.events.get(name)
        return stats.count if stats else 0

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.user.timezone)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A proposed nudge. `event_at` (an interview's time, say) makes it more urgent as it nears."""

    dedupe_key: str
    title: str
    body: str
    action_label: str = "Open"
    action_url: str = ""
    expires_at: datetime | None = None
    event_at: datetime | None = None
    boost: float = 0.0
    data: Mapping[str, Any] = field(default_factory=dict)
    # Where this one may go, in order of preference; empty: the rule's channels. A meeting
    # reminder goes back where the meeting was mentioned, and nowhere else.
    channels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require_aware("Candidate.expires_at", self.expires_at)
        _require_aware("Candidate.event_at", self.event_at)


@dataclass(frozen=True, slots=True)
class Recheck:
    """Look at this user again at `at` (an interview in 5 days: look again 48 h before)."""

    at: datetime

    def __post_init__(self) -> None:
        _require_aware("Recheck.at", self.at)


def _require_aware(name: str, at: datetime | None) -> None:
    # A naive time would only fail later, comparing with aware ones, outside the rule.
    if at is not None and at.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with a timezone), got {at}")


RuleOutput: TypeAlias = Candidate | Recheck | Iterable[Candidate | Recheck] | None
RuleFunction: TypeAlias = Callable[[Facts, datetime], RuleOutput]


@dataclass(frozen=True, slots=True)
class Fallback:
    """An in-app nudge not seen within `after` goes out on `channel` too (say, email)."""

    channel: str
    after: timedelta


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    playbook: str
    function: RuleFunction
    cadence: Cadence
    cooldown: timedelta
    priority: int = 50
    category: str = "engagement"
    channels: tuple[str, ...] = ("in_app",)
    counts_toward_cap: bool = True
    proactive: bool = True
    on_facts: bool = True
    description: str = ""
    fallback: Fallback | None = None
    # Who writes the message: None, the rule's own copy; "template" or "llm", the generation
    # stage, which holds the nudge's delivery until its text is written (coaching messages).
    generator: str | None = None

    def evaluate(self, facts: Facts, now: datetime) -> tuple[list[Candidate], list[datetime]]:
        """Run the rule; its candidates and the times it asked to look again."""
        output = self.function(facts, now)
        if output is None:
            return [], []
        if isinstance(output, Candidate):
            return [output], []
        if isinstance(output, Recheck):
            return [], [output.at]
        candidates: list[Candidate] = []
        rechecks: list[datetime] = []
        for item in output:
            if isinstance(item, Candidate):
                candidates.append(item)
            elif isinstance(item, Recheck):
                rechecks.append(item.at)
            else:
                raise TypeError(f"rule {self.name} returned {item!r}; want Candidate or Recheck")
        return candidates, rechecks


_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$")
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def describe_duration(delta: timedelta) -> str:
    """`12 h`, `7 d`: the inverse of parse_duration, for people."""
    hours = delta.total_seconds() / 3600
    if hours >= 24 and hours % 24 == 0:
        return f"{hours / 24:g} d"
    return f"{hours:g} h" if hours >= 1 else f"{hours * 60:g} min"


def parse_duration(text: str | timedelta) -> timedelta:
    """`30m`, `4h`, `1d`, `1w` as a timedelta."""
    if isinstance(text, timedelta):
        return text
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 4h, 1d or 1w")
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


@dataclass(frozen=True, slots=True)
class Schedule:
    """The local send times daily and weekly cadences use unless a rule names its own."""

    daily_at: time = time(9)
    weekly_on: int = 0


class Playbook:
    """A named group of rules that a user can switch off as one ("playbook toggles")."""

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self._specs: list[tuple[RuleFunction, dict[str, Any]]] = []

    def rule(
        self,
        *,
        cadence: str = "daily",
        cooldown: str | timedelta = "1d",
        priority: int = 50,
        category: str = "engagement",
        channels: Sequence[str] = ("in_app",),
        counts_toward_cap: bool = True,
        proactive: bool = True,
        on_facts: bool = True,
        fallback: tuple[str, str | timedelta] | None = None,
        generator: str | None = None,
        name: str | None = None,
    ) -> Callable[[RuleFunction], RuleFunction]:
        """Register a rule. Settings are checked now, so a typo fails at import, not at 3 am."""
        parse_cadence(cadence)
        spec = {
            "name": name,
            "cadence": cadence,
            "cooldown": parse_duration(cooldown),
            "priority": priority,
            "category": category,
            "channels": tuple(channels),
            "counts_toward_cap": counts_toward_cap,
            "proactive": proactive,
            "on_facts": on_facts,
            "fallback": Fallback(fallback[0], parse_duration(fallback[1])) if fallback else None,
            "generator": generator,
        }

        def register(function: RuleFunction) -> RuleFunction:
            self._specs.append((function, spec))
            return function

        return register

    def rules(
        self, schedule: Schedule = Schedule(), overrides: Mapping[str, Any] = _EMPTY
    ) -> list[Rule]:
        """The playbook's rules with local send times and per-rule overrides applied."""
        built = []
        for function, spec in self._specs:
            settings = dict(spec)
            name = settings.pop("name") or function.__name__
            settings.update(overrides.get(name, {}))
            cadence = parse_cadence(
                settings.pop("cadence"), daily_at=schedule.daily_at, weekly_on=schedule.weekly_on
            )
            settings["cooldown"] = parse_duration(settings["cooldown"])
            settings["channels"] = tuple(settings["channels"])
            built.append(
                Rule(
                    name=name,
                    playbook=self.name,
                    function=function,
                    cadence=cadence,
                    description=(function.__doc__ or "").strip().split("\n")[0],
                    **settings,
                )
            )
        return built
