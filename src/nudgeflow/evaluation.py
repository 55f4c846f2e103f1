"""Looking at one user: which rules are due, what they propose, what the policy decides.

Pure: the sweep and `explain` both call it with facts already loaded and the time given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from nudgeflow.config import Settings
from nudgeflow.facts import Preferences
from nudgeflow.flags import AGENT, PROACTIVE, FlagGate
from nudgeflow.localtime import Span, zone
from nudgeflow.policy import Decision, History, UserContext, decide
from nudgeflow.rules import Candidate, Facts, Rule, User

MIN_RECHECK = timedelta(minutes=1)
_DEFAULT_PREFERENCES = Preferences()


@dataclass(frozen=True, slots=True)
class RuleRun:
    rule: Rule
    due: bool
    why: str
    next_tick: datetime
    candidates: Sequence[Candidate] = ()
    rechecks: Sequence[datetime] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Tick:
    """One rule's cadence in one zone around `now`: its previous and next tick, and the runs
    that are the same for every user of the zone (a sweep makes millions of runs, most of them
    with nothing to say): the rule not due, and the rule due with no candidate nor recheck."""

    previous: datetime
    next: datetime
    idle: RuleRun
    quiet: RuleRun


@dataclass(slots=True)
class Ticks:
    """Cadence ticks around one instant, worked out once per timezone for all the rules and
    shared by every user of a sweep: a million users live in a few hundred zones."""

    now: datetime
    rules: Sequence[Rule]
    _memo: dict[str, list[Tick]] = field(default_factory=dict)

    def of_zone(self, tz: ZoneInfo) -> list[Tick]:
        """The tick of each of `rules`, in order."""
        ticks = self._memo.get(tz.key)
        if ticks is None:
            ticks = self._memo[tz.key] = [self._tick(rule, tz) for rule in self.rules]
        return ticks

    def _tick(self, rule: Rule, tz: ZoneInfo) -> Tick:
        previous, next_tick = rule.cadence.previous(self.now, tz), rule.cadence.next(self.now, tz)
        if rule.on_facts:
            due = "runs at every look"
        else:
            due = f"{rule.cadence} ticked at {previous:%Y-%m-%d %H:%M} UTC"
        waiting = f"{rule.cadence}: next tick {next_tick:%Y-%m-%d %H:%M} UTC"
        return Tick(
            previous,
            next_tick,
            idle=RuleRun(rule, False, waiting, next_tick),
            quiet=RuleRun(rule, True, due, next_tick),
        )


def run_rules(
    rules: Sequence[Rule], facts: Facts, checked_at: datetime, ticks: Ticks, *, every: bool = False
) -> list[RuleRun]:
    """Run the rules that are due: rules that react to facts at every look, cadence-only rules
    when a tick fell since the user was last looked at (`every` runs all, for explain).
    `rules` are the ones `ticks` was made for."""
    runs = []
    now = ticks.now
    for rule, tick in zip(rules, ticks.of_zone(facts.user.timezone), strict=True):
        due = rule.on_facts or tick.previous > checked_at
        if not (due or every):
            runs.append(tick.idle)
            continue
        shared = tick.quiet if due else tick.idle
        try:
            candidates, rechecks = rule.evaluate(facts, now)
        except Exception as exc:  # one rule never stops a sweep
            error = f"{type(exc).__name__}: {exc}"
            runs.append(RuleRun(rule, due, shared.why, tick.next, error=error))
            continue
        if candidates or rechecks:
            runs.append(RuleRun(rule, due, shared.why, tick.next, candidates, rechecks))
        else:
            runs.append(shared)
    return runs


def proposals(runs: Sequence[RuleRun]) -> list[tuple[Rule, Candidate]]:
    return [(run.rule, c) for run in runs if run.due for c in run.candidates]


def next_check(runs: Sequence[RuleRun], extra: Sequence[datetime], now: datetime) -> datetime:
    """The earliest of every rule's next tick and every requested recheck still ahead."""
    soonest = min((run.next_tick for run in runs), default=now + timedelta(days=1))
    floor = now + MIN_RECHECK
    for run in runs:
        for at in run.rechecks:
            if at < soonest:
                soonest = max(at, floor)
    for at in extra:
        if at < soonest:
            soonest = max(at, floor)
    return soonest


def build_user(row: Any) -> User:
    return User(
        row.id,
        row.plan,
        row.org,
        row.role,
        zone(row.timezone),
        row.locale,
        row.traits,
        row.addresses,
    )


def parse_preferences(data: Mapping[str, Any] | None) -> Preferences:
    return Preferences.model_validate(data) if data else _DEFAULT_PREFERENCES


def context(
    user: User,
    preferences: Preferences,
    *,
    settings: Settings,
    org_enabled: bool,
    flags: FlagGate,
    paused: frozenset[str],
    history: History,
) -> UserContext:
    quiet = preferences.quiet_hours or settings.quiet_hours
    plan = settings.plans.get(user.plan)
    return UserContext(
        user=user,
        preferences=preferences,
        org_enabled=org_enabled,
        agent_flag=flags.evaluate(AGENT, user),
        proactive_flag=flags.evaluate(PROACTIVE, user),
        paused_rules=paused,
        history=history,
        daily_limit=plan.daily_limit if plan else 0,
        quiet_hours=Span(quiet.start, quiet.end) if quiet else None,
    )


def decide_user(
    ctx: UserContext, runs: Sequence[RuleRun], ticks: Ticks
) -> tuple[list[Decision], datetime]:
    verdicts = decide(ctx, proposals(runs), ticks.now)
    return verdicts.decisions, next_check(runs, verdicts.rechecks, ticks.now)
