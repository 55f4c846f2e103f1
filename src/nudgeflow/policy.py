"""The policy: what becomes of a candidate. Pure: values in, typed decisions out.

Every candidate walks the same steps, and each step leaves a line in the decision's trace:

    organisation kill switch → flag gate → agent and proactive preferences → rule paused →
    playbook toggle → dedupe → cooldown → daily cap → channel → timing

A step either passes the candidate on or suppresses it. Timing never drops: quiet hours and
the preferred window only defer. The daily cap counts nudges in the user's local day of
delivery, and when more candidates compete than the plan allows, the highest score wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from nudgeflow.facts import Preferences
from nudgeflow.localtime import Span, local_day, window_span
from nudgeflow.rules import Candidate, Rule, User

Verdict = Literal["pass", "defer", "suppress"]
Outcome = Literal["scheduled", "deferred", "suppressed"]


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    verdict: Verdict
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {self.verdict} — {self.detail}"


@dataclass(frozen=True, slots=True)
class PastNudge:
    id: str
    rule: str
    dedupe_key: str
    status: str
    created_at: datetime
    cap_day: date | None


@dataclass(slots=True)
class History:
    """What the user's past nudges tell the policy, gathered once per user."""

    existing: dict[tuple[str, str], PastNudge] = field(default_factory=dict)
    last_fired: dict[str, datetime] = field(default_factory=dict)
    cap_used: dict[date, int] = field(default_factory=dict)
    accepts: dict[str, int] = field(default_factory=dict)
    dismissals: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, nudges: Sequence[PastNudge]) -> History:
        history = cls()
        for nudge in nudges:
            history.add(nudge)
        return history

    def add(self, nudge: PastNudge) -> None:
        self.existing[(nudge.rule, nudge.dedupe_key)] = nudge
        if nudge.status == "suppressed":
            return
        last = self.last_fired.get(nudge.rule)
        if last is None or nudge.created_at > last:
            self.last_fired[nudge.rule] = nudge.created_at
        if nudge.cap_day is not None:
            self.cap_used[nudge.cap_day] = self.cap_used.get(nudge.cap_day, 0) + 1
        if nudge.status == "accepted":
            self.accepts[nudge.rule] = self.accepts.get(nudge.rule, 0) + 1
        elif nudge.status == "dismissed":
            self.dismissals[nudge.rule] = self.dismissals.get(nudge.rule, 0) + 1


@dataclass(frozen=True, slots=True)
class UserContext:
    """Everything the policy knows about one user besides the candidates."""

    user: User
    preferences: Preferences
    org_enabled: bool
    agent_flag: tuple[bool, str]
    proactive_flag: tuple[bool, str]
    paused_rules: frozenset[str]
    history: History
    daily_limit: int
    quiet_hours: Span | None


@dataclass(frozen=True, slots=True)
class Decision:
    rule: Rule
    candidate: Candidate
    score: float
    outcome: Outcome
    deliver_at: datetime | None
    channel: str | None
    trace: tuple[Step, ...]
    cap_day: date | None = None
    existing_id: str | None = None

    @property
    def reason(self) -> str:
        """The deciding step: the one that suppressed or deferred, else the last."""
        for step in self.trace:
            if step.verdict != "pass":
                return f"{step.name}: {step.detail}"
        last = self.trace[-1]
        return f"{last.name}: {last.detail}"

    @property
    def suppressed_by(self) -> str | None:
        return next((s.name for s in self.trace if s.verdict == "suppress"), None)


@dataclass(frozen=True, slots=True)
class Verdicts:
    decisions: list[Decision]
    rechecks: list[datetime]


def score(rule: Rule, candidate: Candidate, history: History, now: datetime) -> float:
    """Priority, plus urgency as the event nears (up to +30 within a week), plus the user's own
    history with the rule (+4 per accept, −4 per dismissal, within ±20)."""
    value = rule.priority + candidate.boost
    if candidate.event_at is not None:
        hours_left = max((candidate.event_at - now).total_seconds() / 3600, 0.0)
        value += 30 * max(0.0, 1 - hours_left / 168)
    taste = 4 * (history.accepts.get(rule.name, 0) - history.dismissals.get(rule.name, 0))
    return round(value + max(-20, min(20, taste)), 3)


def decide(
    ctx: UserContext, proposals: Sequence[tuple[Rule, Candidate]], now: datetime
) -> Verdicts:
    """Decide every candidate of one user. Highest score first, so it wins the cap."""
    scored = sorted(
        ((score(rule, cand, ctx.history, now), rule, cand) for rule, cand in proposals),
        key=lambda item: -item[0],
    )
    common = _user_steps(ctx)
    cap_used = dict(ctx.history.cap_used)
    fired_now: set[str] = set()
    decisions: list[Decision] = []
    rechecks: list[datetime] = []
    for value, rule, candidate in scored:
        decision = _decide_one(
            ctx,
            common,
            rule=rule,
            candidate=candidate,
            value=value,
            now=now,
            cap_used=cap_used,
            fired_now=fired_now,
            rechecks=rechecks,
        )
        decisions.append(decision)
        if decision.outcome != "suppressed":
            fired_now.add(rule.name)
            if decision.cap_day is not None:
                cap_used[decision.cap_day] = cap_used.get(decision.cap_day, 0) + 1
    return Verdicts(decisions, rechecks)


def _user_steps(ctx: UserContext) -> tuple[tuple[Step, ...], tuple[Step, ...]]:
    """The steps that are the same for every candidate of the user: (any rule, proactive rule)."""
    org = ctx.user.org
    steps = [
        Step("kill switch", "pass", f"organisation {org} enabled" if org else "no organisation")
        if ctx.org_enabled
        else Step("kill switch", "suppress", f"organisation {org} has the agent switched off"),
        Step("flag", "pass" if ctx.agent_flag[0] else "suppress", ctx.agent_flag[1]),
        Step("preferences", "pass", "agent on")
        if ctx.preferences.agent
        else Step("preferences", "suppress", "the user switched the agent off"),
    ]
    proactive = [
        Step("flag", "pass" if ctx.proactive_flag[0] else "suppress", ctx.proactive_flag[1]),
        Step("preferences", "pass", "proactive nudges on")
        if ctx.preferences.proactive
        else Step("preferences", "suppress", "the user switched proactive nudges off"),
    ]
    return tuple(steps), tuple(steps) + tuple(proactive)


def _decide_one(
    ctx: UserContext,
    common: tuple[tuple[Step, ...], tuple[Step, ...]],
    *,
    rule: Rule,
    candidate: Candidate,
    value: float,
    now: datetime,
    cap_used: Mapping[date, int],
    fired_now: set[str],
    rechecks: list[datetime],
) -> Decision:
    trace: list[Step] = list(common[1] if rule.proactive else common[0])
    existing = ctx.history.existing.get((rule.name, candidate.dedupe_key))
    existing_id = existing.id if existing else None

    def done(
        outcome: Outcome,
        at: datetime | None = None,
        channel: str | None = None,
        day: date | None = None,
    ) -> Decision:
        return Decision(
            rule, candidate, value, outcome, at, channel, tuple(trace), day, existing_id
        )

    if any(step.verdict == "suppress" for step in trace):
        return done("suppressed")
    for step in (
        _paused(ctx, rule),
        _toggle(ctx, rule),
        _dedupe(existing, candidate),
        _cooldown(ctx, rule, now, fired_now, rechecks),
    ):
        trace.append(step)
        if step.verdict == "suppress":
            return done("suppressed")

    deliver_at, timing = _timing(ctx, rule, now)
    channel, channel_step = _channel(ctx, rule)
    day = local_day(deliver_at, ctx.user.timezone) if rule.counts_toward_cap else None
    trace.append(_cap(ctx, day, cap_used))
    if trace[-1].verdict == "suppress":
        return done("suppressed")
    trace.append(channel_step)
    if channel is None:
        return done("suppressed")
    trace.append(timing)
    if candidate.expires_at is not None and deliver_at >= candidate.expires_at:
        trace.append(
            Step(
                "expiry",
                "suppress",
                f"it would expire at {candidate.expires_at:%Y-%m-%d %H:%M} UTC before delivery",
            )
        )
        return done("suppressed")
    return done("deferred" if timing.verdict == "defer" else "scheduled", deliver_at, channel, day)


def _paused(ctx: UserContext, rule: Rule) -> Step:
    if rule.name in ctx.paused_rules:
        return Step("rule", "suppress", f"rule {rule.name} is paused by an admin")
    return Step("rule", "pass", f"rule {rule.name} active")


def _toggle(ctx: UserContext, rule: Rule) -> Step:
    if rule.playbook in ctx.preferences.playbooks_off:
        return Step("playbook", "suppress", f"the user switched playbook {rule.playbook} off")
    return Step("playbook", "pass", f"playbook {rule.playbook} on")


def _dedupe(existing: PastNudge | None, candidate: Candidate) -> Step:
    if existing is not None and existing.status != "suppressed":
        return Step(
            "dedupe",
            "suppress",
            f"{candidate.dedupe_key} already made nudge {existing.id} ({existing.status})",
        )
    return Step("dedupe", "pass", f"{candidate.dedupe_key} is new")


def _cooldown(
    ctx: UserContext, rule: Rule, now: datetime, fired_now: set[str], rechecks: list[datetime]
) -> Step:
    if rule.name in fired_now:
        return Step("cooldown", "suppress", f"rule {rule.name} already fired in this sweep")
    last = ctx.history.last_fired.get(rule.name)
    if last is not None and now < last + rule.cooldown:
        until = last + rule.cooldown
        rechecks.append(until)
        return Step(
            "cooldown",
            "suppress",
            f"last fired {last:%Y-%m-%d %H:%M} UTC; {_span(rule.cooldown)} cooldown until {until:%Y-%m-%d %H:%M} UTC",
        )
    return Step("cooldown", "pass", f"{_span(rule.cooldown)} cooldown clear")


def _cap(ctx: UserContext, day: date | None, cap_used: Mapping[date, int]) -> Step:
    if day is None:
        return Step("daily cap", "pass", "rule does not count toward the daily cap")
    used, limit, plan = cap_used.get(day, 0), ctx.daily_limit, ctx.user.plan
    if used >= limit:
        return Step("daily cap", "suppress", f"daily cap {used}/{limit} for plan {plan} on {day}")
    return Step("daily cap", "pass", f"daily cap {used + 1}/{limit} for plan {plan} on {day}")


def _channel(ctx: UserContext, rule: Rule) -> tuple[str | None, Step]:
    enabled = ctx.preferences.channels
    addresses = ctx.user.addresses
    for channel in rule.channels:
        if channel in enabled and (channel == "in_app" or addresses.get(channel)):
            return channel, Step("channel", "pass", channel)
    wanted = ", ".join(rule.channels)
    return None, Step(
        "channel",
        "suppress",
        f"none of {wanted} is enabled and reachable (enabled: {', '.join(enabled) or 'none'})",
    )


def _timing(ctx: UserContext, rule: Rule, now: datetime) -> tuple[datetime, Step]:
    """The first instant at or after now outside quiet hours and, for proactive rules, inside
    the user's preferred window. Quiet hours win when the two cannot both be met."""
    tz = ctx.user.timezone
    window = (
        window_span(ctx.preferences.window) if ctx.preferences.window and rule.proactive else None
    )
    quiet = ctx.quiet_hours
    at = now
    for _ in range(3):
        moved = window.next_start(at, tz) if window else at
        quiet_end = quiet.end_after(moved, tz) if quiet else None
        moved = quiet_end or moved
        if moved == at:
            break
        at = moved
    if quiet is not None and (quiet_end := quiet.end_after(at, tz)) is not None:
        at = quiet_end
    if at == now:
        return now, Step("timing", "pass", "now")
    local = at.astimezone(tz)
    if quiet is not None and quiet.contains(now.astimezone(tz).time().replace(tzinfo=None)):
        why = f"quiet hours {quiet} until {local:%H:%M} {tz.key}"
    else:
        why = f"window {ctx.preferences.window} from {local:%H:%M} {tz.key}"
    return at, Step("timing", "defer", f"{why} ({at:%Y-%m-%d %H:%M} UTC)")


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:g} d" if hours >= 24 and hours % 24 == 0 else f"{hours:g} h"
