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


@dataclass(slots=True)
class Ticks:
    """Cadence ticks around one instant, worked out once per timezone for all the rules and
    shared by every user of a sweep: a million users live in a few hundred zones."""

    now: datetime
    rules: Sequence[Rule]
    _memo: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)

    def of_zone(self, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
        """(previous tick, next tick) for each of `rules`, in order."""
        ticks = self._memo.get(tz.key)
        if ticks is None:
            ticks = self._memo[tz.key] = [
                (rule.cadence.previous(self.now, tz), rule.cadence.next(self.now, tz))
                for rule in self.rules
            ]
        return ticks


def run_rules(
    rules: Sequence[Rule], facts: Facts, checked_at: datetime, ticks: Ticks, *, every: bool = False
) -> list[RuleRun]:
    """Run the rules that are due: rules that react to facts at every look, cadence-only rules
    when a tick fell since the user was last looked at (`every` runs all, for explain).
    `rules` are the ones `ticks` was made for."""
    runs = []
    now = ticks.now
    for rule, (previous, next_tick) in zip(rules, ticks.of_zone(facts.user.timezone), strict=True):
        if rule.on_facts:
            due, why = True, "runs at every look"
        elif previous > checked_at:
            due, why = True, f"{rule.cadence} ticked at {previous:%Y-%m-%d %H:%M} UTC"
        else:
            due, why = False, f"{rule.cadence}: next tick {next_tick:%Y-%m-%d %H:%M} UTC"
        if not (due or every):
            runs.append(RuleRun(rule, False, why, next_tick))
            continue
        try:
            candidates, rechecks = rule.evaluate(facts, now)
        except Exception as exc:  # one rule never stops a sweep
            runs.append(RuleRun(rule, due, why, next_tick, error=f"{type(exc).__name__}: {exc}"))
            continue
        runs.append(RuleRun(rule, due, why, next_tick, candidates, rechecks))
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
