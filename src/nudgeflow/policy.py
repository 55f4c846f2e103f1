"""The policy: what becomes of a candidate. Pure: values in, typed decisions out.

Every candidate walks the same steps, and each step leaves a line in the decision's trace:

    organisation kill switch → flag gate → agent and proactive preferences → rule paused →
    playbook toggle → dedupe → cooldown → daily cap → channel → timing

A step either passes the candidate on or suppresses it. Timing never drops: quiet hours and
the preferred window only defer. The daily cap counts nudges in the user's local day of
delivery, and when more candidates compete than the plan allows, the highest score wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from nudgeflow.facts import Preferences
from nudgeflow.localtime import Span, local_day, window_span
from nudgeflow.rules import Candidate, Rule, User, describe_duration

Verdict = Literal["pass", "defer", "suppress"]
Outcome = Literal["scheduled", "deferred", "suppressed"]


@dataclass(frozen=True, slots=True)
class Step:
    """One line of a decision's trace. The detail is formatted only when read: a sweep makes
    millions of steps and reads one per candidate, the deciding one."""

    name: str
    verdict: Verdict
    text: str
    args: tuple[Any, ...] = ()

    @property
    def detail(self) -> str:
        return self.text.format(*self.args) if self.args else self.text

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
        """The deciding step: the one that suppressed, else the one that deferred, else the last
        (a deferral past the expiry is suppressed by the expiry, not by the timing)."""
        deferred = None
        for step in self.trace:  # one pass: every written nudge asks
            if step.verdict == "suppress":
                return f"{step.name}: {step.detail}"
            if step.verdict == "defer" and deferred is None:
                deferred = step
        deciding = deferred or self.trace[-1]
        return f"{deciding.name}: {deciding.detail}"

    @property
    def suppressed_by(self) -> str | None:
        if self.outcome != "suppressed":  # nothing suppresses on the way to a delivery
            return None
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
    decider = _Decider(ctx, now)
    return Verdicts(
        [decider.one(rule, cand, value) for value, rule, cand in scored], decider.rechecks
    )


class _Decider:
    """One user's decisions. What is the same for every candidate (the user's gates, the
    delivery time, the channel per rule) is worked out once."""

    def __init__(self, ctx: UserContext, now: datetime) -> None:
        self.ctx = ctx
        self.now = now
        self.gates = _user_steps(ctx)
        self.cap_used = dict(ctx.history.cap_used)
        self.fired: set[str] = set()
        self.rechecks: list[datetime] = []
        self._channels: dict[tuple[str, ...], tuple[str | None, Step]] = {}

    def one(self, rule: Rule, candidate: Candidate, value: float) -> Decision:
        existing = self.ctx.history.existing.get((rule.name, candidate.dedupe_key))
        trace, outcome, at, channel, day = self._walk(rule, candidate, existing)
        if outcome != "suppressed":
            self.fired.add(rule.name)
            if day is not None:
                self.cap_used[day] = self.cap_used.get(day, 0) + 1
        return Decision(
            rule,
            candidate,
            value,
            outcome,
            at,
            channel,
            tuple(trace),
            day,
            existing.id if existing else None,
        )

    def _walk(
        self, rule: Rule, candidate: Candidate, existing: PastNudge | None
    ) -> tuple[list[Step], Outcome, datetime | None, str | None, date | None]:
        gates, blocked = self.gates[rule.proactive]
        trace = list(gates)
        if blocked:
            return trace, "suppressed", None, None, None
        for step in (
            _rule_step(rule.name, rule.name in self.ctx.paused_rules),
            _playbook_step(rule.playbook, rule.playbook in self.ctx.preferences.playbooks_off),
            _dedupe(existing, candidate),
            self._cooldown(rule),
        ):
            trace.append(step)
            if step.verdict == "suppress":
                return trace, "suppressed", None, None, None
        deliver_at, timing, local = self.timing(rule.proactive)
        day = local if rule.counts_toward_cap else None
        trace.append(self._cap(day))
        if trace[-1].verdict == "suppress":
            return trace, "suppressed", None, None, None
        channel, channel_step = self.channel(candidate.channels or rule.channels)
        trace.append(channel_step)
        if channel is None:
            return trace, "suppressed", None, None, None
        trace.append(timing)
        if candidate.expires_at is not None and deliver_at >= candidate.expires_at:
            trace.append(
                Step(
                    "expiry",
                    "suppress",
                    "it would expire at {:%Y-%m-%d %H:%M} UTC before delivery",
                    (candidate.expires_at,),
                )
            )
            return trace, "suppressed", None, None, None
        return (
            trace,
            "deferred" if timing.verdict == "defer" else "scheduled",
            deliver_at,
            channel,
            day,
        )

    def _cooldown(self, rule: Rule) -> Step:
        if rule.name in self.fired:
            return Step("cooldown", "suppress", "rule {} already fired in this sweep", (rule.name,))
        last = self.ctx.history.last_fired.get(rule.name)
        if last is not None and self.now < last + rule.cooldown:
            until = last + rule.cooldown
            self.rechecks.append(until)
            return Step(
                "cooldown", "suppress", "last fired {:%Y-%m-%d %H:%M} UTC; {} cooldown until {:%Y-%m-%d %H:%M} UTC",
                (last, _span(rule.cooldown), until),
            )  # fmt: skip
        return _cooldown_clear(rule.cooldown)

    def _cap(self, day: date | None) -> Step:
        if day is None:
            return _NOT_CAPPED
        used, limit, plan = self.cap_used.get(day, 0), self.ctx.daily_limit, self.ctx.user.plan
        if used >= limit:
            return Step(
                "daily cap",
                "suppress",
                "daily cap {}/{} for plan {} on {}",
                (used, limit, plan, day),
            )
        return Step(
            "daily cap", "pass", "daily cap {}/{} for plan {} on {}", (used + 1, limit, plan, day)
        )

    def timing(self, proactive: bool) -> tuple[datetime, Step, date]:
        ctx = self.ctx
        window = ctx.preferences.window if proactive else None
        at, step, day = _timing_in(ctx.user.timezone, window, ctx.quiet_hours, self.now)
        return (self.now if step is _NOW else at), step, day

    def channel(self, wanted: tuple[str, ...]) -> tuple[str | None, Step]:
        cached = self._channels.get(wanted)
        if cached is None:
            cached = self._channels[wanted] = _channel(self.ctx, wanted)
        return cached


def fall_back(
    ctx: UserContext, rule: Rule, expires_at: datetime | None, now: datetime
) -> tuple[datetime | None, tuple[Step, ...]]:
    """When an in-app nudge nobody saw goes out on the rule's fallback channel, or None: the
    same gates as a new nudge (kill switch, flags, preferences, paused rule, playbook), the
    channel enabled and reachable, and quiet hours; never at or past its expiry. It already
    counted toward the cap when it was made."""
    assert rule.fallback is not None
    gates, _ = _user_steps(ctx)[rule.proactive]
    at, timing = _timing(ctx, rule.proactive, now)
    steps = (
        *gates,
        _rule_step(rule.name, rule.name in ctx.paused_rules),
        _playbook_step(rule.playbook, rule.playbook in ctx.preferences.playbooks_off),
        _channel(ctx, (rule.fallback.channel,))[1],
        timing,
    )
    if expires_at is not None and at >= expires_at:
        steps = (*steps, Step("expiry", "suppress", "it expires at {:%Y-%m-%d %H:%M} UTC first", (expires_at,)))  # fmt: skip
    stop = next((i for i, s in enumerate(steps) if s.verdict == "suppress"), None)
    return (at, steps) if stop is None else (None, steps[: stop + 1])


_NOT_CAPPED = Step("daily cap", "pass", "rule does not count toward the daily cap")


def _user_steps(ctx: UserContext) -> dict[bool, tuple[tuple[Step, ...], bool]]:
    """The steps that are the same for every candidate of the user, for rules that are
    proactive (True) or not, and whether they already suppress."""
    preferences = ctx.preferences
    return _gates(
        ctx.user.org, ctx.org_enabled, ctx.agent_flag, ctx.proactive_flag,
        preferences.agent, preferences.proactive,
    )  # fmt: skip


@lru_cache(maxsize=4096)
def _gates(  # noqa: PLR0917 (a cache key: positional arguments hash fastest)
    org: str | None,
    org_enabled: bool,
    agent_flag: tuple[bool, str],
    proactive_flag: tuple[bool, str],
    agent: bool,
    proactive: bool,
) -> dict[bool, tuple[tuple[Step, ...], bool]]:
    """`_user_steps` from the values they depend on, which most users share: made once for
    each organisation and flag answer, not for each user (5 µs a user, measured). Shared, so
    never changed by a caller."""
    steps = (
        Step("kill switch", "pass", f"organisation {org} enabled" if org else "no organisation")
        if org_enabled
        else Step("kill switch", "suppress", f"organisation {org} has the agent switched off"),
        Step("flag", "pass" if agent_flag[0] else "suppress", agent_flag[1]),
        Step("preferences", "pass", "agent on")
        if agent
        else Step("preferences", "suppress", "the user switched the agent off"),
    )
    proactive_steps = (
        *steps,
        Step("flag", "pass" if proactive_flag[0] else "suppress", proactive_flag[1]),
        Step("preferences", "pass", "proactive nudges on")
        if proactive
        else Step("preferences", "suppress", "the user switched proactive nudges off"),
    )
    return {
        False: (steps, any(s.verdict == "suppress" for s in steps)),
        True: (proactive_steps, any(s.verdict == "suppress" for s in proactive_steps)),
    }


@lru_cache(maxsize=4096)
def _rule_step(name: str, paused: bool) -> Step:
    if paused:
        return Step("rule", "suppress", f"rule {name} is paused by an admin")
    return Step("rule", "pass", f"rule {name} active")


@lru_cache(maxsize=4096)
def _playbook_step(playbook: str, off: bool) -> Step:
    if off:
        return Step("playbook", "suppress", f"the user switched playbook {playbook} off")
    return Step("playbook", "pass", f"playbook {playbook} on")


def _dedupe(existing: PastNudge | None, candidate: Candidate) -> Step:
    if existing is not None and existing.status != "suppressed":
        return Step(
            "dedupe",
            "suppress",
            "{} already made nudge {} ({})",
            (candidate.dedupe_key, existing.id, existing.status),
        )
    return Step("dedupe", "pass", "{} is new", (candidate.dedupe_key,))


@lru_cache(maxsize=1024)
def _cooldown_clear(cooldown: timedelta) -> Step:
    return Step("cooldown", "pass", f"{_span(cooldown)} cooldown clear")


def _channel(ctx: UserContext, wanted: tuple[str, ...]) -> tuple[str | None, Step]:
    enabled = ctx.preferences.channels
    addresses = ctx.user.addresses
    for channel in wanted:
        if channel in enabled and (channel == "in_app" or addresses.get(channel)):
            return channel, Step("channel", "pass", channel)
    return None, Step(
        "channel",
        "suppress",
        f"none of {', '.join(wanted)} is enabled and reachable (enabled: {', '.join(enabled) or 'none'})",
    )


def _timing(ctx: UserContext, proactive: bool, now: datetime) -> tuple[datetime, Step]:
    at, step, _ = _timing_in(
        ctx.user.timezone, ctx.preferences.window if proactive else None, ctx.quiet_hours, now
    )
    return (now if step is _NOW else at), step


@lru_cache(maxsize=4096)
def _timing_in(
    tz: ZoneInfo, window_name: str | None, quiet: Span | None, now: datetime
) -> tuple[datetime, Step, date]:
    """The first instant at or after now outside quiet hours and inside the preferred window
    (proactive rules only have one), the step that says so, and its local day. Quiet hours win
    when the two cannot both be met. The same for every user of a zone with the same hours
    and window: worked out once a sweep for each (a few hundred), not for each user. "Now"
    is the caller's own `now`: an equal instant in another zone may be the one cached."""
    window = window_span(window_name) if window_name else None
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
        return now, _NOW, local_day(now, tz)
    local = at.astimezone(tz)
    if quiet is not None and quiet.contains(now.astimezone(tz).time().replace(tzinfo=None)):
        why = f"quiet hours {quiet} until {local:%H:%M} {tz.key}"
    else:
        why = f"window {window_name} from {local:%H:%M} {tz.key}"
    return at, Step("timing", "defer", f"{why} ({at:%Y-%m-%d %H:%M} UTC)"), local.date()


_NOW = Step("timing", "pass", "deliver now")


@lru_cache(maxsize=1024)
def _span(delta: timedelta) -> str:
    return describe_duration(delta)
