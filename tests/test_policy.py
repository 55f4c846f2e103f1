"""The policy step by step, on values: each step's verdict and the numbers in its trace."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from nudgeflow.cadence import parse_cadence
from nudgeflow.facts import Preferences
from nudgeflow.localtime import Span, zone
from nudgeflow.policy import Decision, History, PastNudge, UserContext, decide, score
from nudgeflow.rules import Candidate, Facts, Rule, RuleOutput, User

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Berlin


def _none(facts: Facts, now: datetime) -> RuleOutput:
    return None


def rule(name: str = "r", **changes: Any) -> Rule:
    base = Rule(
        name,
        "career",
        _none,
        parse_cadence("daily"),
        timedelta(days=1),
        channels=("in_app", "email"),
    )
    return replace(base, **changes)


def ctx(**changes: Any) -> UserContext:
    user = User(
        "u1", "free", "uni", "user", zone("Europe/Berlin"), "en", {}, {"email": "u@example.org"}
    )
    base = UserContext(
        user=user, preferences=Preferences(), org_enabled=True, agent_flag=(True, "flag agent: on"),
        proactive_flag=(True, "flag proactive: on"), paused_rules=frozenset(), history=History(),
        daily_limit=2, quiet_hours=Span(time(22), time(7)),
    )  # fmt: skip
    return replace(base, **changes)


def one(
    context: UserContext, r: Rule | None = None, cand: Candidate | None = None, now: datetime = NOW
) -> Decision:
    [decision] = decide(context, [(r or rule(), cand or Candidate("k", "t", "b"))], now).decisions
    return decision


def past(
    rule_name: str = "r", key: str = "old", status: str = "delivered", hours_ago: float = 1
) -> PastNudge:
    return PastNudge(
        "n_1", rule_name, key, status, NOW - timedelta(hours=hours_ago), date(2026, 11, 23)
    )


@pytest.mark.parametrize(
    ("context", "step", "reason"),
    [
        (ctx(org_enabled=False), "kill switch", "organisation uni has the agent switched off"),
        (ctx(agent_flag=(False, "flag agent: plan free not allowed")), "flag", "flag agent: plan free not allowed"),
        (ctx(preferences=Preferences(agent=False)), "preferences", "the user switched the agent off"),
        (ctx(preferences=Preferences(proactive=False)), "preferences", "the user switched proactive nudges off"),
        (ctx(paused_rules=frozenset({"r"})), "rule", "rule r is paused by an admin"),
        (ctx(preferences=Preferences(playbooks_off=("career",))), "playbook", "the user switched playbook career off"),
        (ctx(history=History.of([past(key="k")])), "dedupe", "k already made nudge n_1 (delivered)"),
        (ctx(preferences=Preferences(channels=("telegram",))), "channel", "none of in_app, email is enabled and reachable (enabled: telegram)"),
    ],
)  # fmt: skip
def test_each_gate_suppresses_with_its_reason(context: UserContext, step: str, reason: str) -> None:
    decision = one(context)
    assert (decision.outcome, decision.suppressed_by, decision.reason) == (
        "suppressed",
        step,
        f"{step}: {reason}",
    )


def test_proactive_gates_spare_rules_that_answer_the_user() -> None:
    decision = one(ctx(preferences=Preferences(proactive=False)), rule(proactive=False))
    assert decision.outcome == "scheduled"


def test_a_suppressed_nudge_does_not_dedupe_and_the_rules_cooldown_counts() -> None:
    assert one(ctx(history=History.of([past(key="k", status="suppressed")]))).outcome == "scheduled"
    inside = one(ctx(history=History.of([past(hours_ago=5)])))
    assert (
        inside.reason
        == "cooldown: last fired 2026-11-23 03:00 UTC; 1 d cooldown until 2026-11-24 03:00 UTC"
    )
    verdicts = decide(
        ctx(history=History.of([past(hours_ago=5)])), [(rule(), Candidate("k", "t", "b"))], NOW
    )
    assert verdicts.rechecks == [datetime(2026, 11, 24, 3, 0, tzinfo=UTC)]
    assert one(ctx(history=History.of([past(hours_ago=25)]))).outcome == "scheduled"


def test_the_cap_lets_the_highest_scores_through_and_spares_uncapped_rules() -> None:
    rules = [
        rule("low", priority=10),
        rule("high", priority=90),
        rule("mid", priority=50),
        rule("free", priority=5, counts_toward_cap=False),
    ]
    decisions = decide(ctx(), [(r, Candidate(r.name, "t", "b")) for r in rules], NOW).decisions
    outcome = {d.rule.name: d.outcome for d in decisions}
    assert outcome == {
        "high": "scheduled",
        "mid": "scheduled",
        "low": "suppressed",
        "free": "scheduled",
    }
    low = next(d for d in decisions if d.rule.name == "low")
    assert low.reason == "daily cap: daily cap 2/2 for plan free on 2026-11-23"


def test_the_channel_falls_through_to_one_the_user_can_be_reached_on() -> None:
    decision = one(ctx(), rule(channels=("telegram", "email")))
    assert decision.channel == "email"


def test_a_candidate_can_name_its_own_channels_and_never_falls_outside_them() -> None:
    said_in_app = Candidate("k", "t", "b", channels=("in_app",))
    assert one(ctx(), rule(channels=("email",)), said_in_app).channel == "in_app"
    said_on_telegram = Candidate("k", "t", "b", channels=("telegram",))
    unreachable = one(ctx(), rule(channels=("in_app", "email")), said_on_telegram)
    assert (unreachable.outcome, unreachable.channel) == ("suppressed", None)
    assert unreachable.reason.startswith("channel:")


def test_quiet_hours_and_the_window_defer_and_never_drop() -> None:
    night = one(ctx(), now=datetime(2026, 11, 23, 22, 30, tzinfo=UTC))  # 23:30 Berlin
    assert (night.outcome, night.deliver_at) == (
        "deferred",
        datetime(2026, 11, 24, 6, 0, tzinfo=UTC),
    )
    assert night.reason.startswith("timing: quiet hours 22:00–07:00 until 07:00 Europe/Berlin")
    evening = one(ctx(preferences=Preferences(window="evening")))
    assert evening.deliver_at == datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 18:00 Berlin
    assert evening.cap_day == date(2026, 11, 23)


def test_a_candidate_that_would_expire_before_delivery_is_suppressed() -> None:
    expiring = Candidate("k", "t", "b", expires_at=datetime(2026, 11, 24, 5, 0, tzinfo=UTC))
    decision = one(ctx(), cand=expiring, now=datetime(2026, 11, 23, 22, 30, tzinfo=UTC))
    assert decision.reason == "expiry: it would expire at 2026-11-24 05:00 UTC before delivery"


def test_the_score_adds_urgency_and_the_users_own_taste() -> None:
    r = rule(priority=50)
    assert score(r, Candidate("k", "t", "b"), History(), NOW) == 50
    in_a_day = Candidate("k", "t", "b", event_at=NOW + timedelta(hours=24))
    assert score(r, in_a_day, History(), NOW) == round(50 + 30 * (1 - 24 / 168), 3)
    liked = History(accepts={"r": 2}, dismissals={"r": 1})
    assert score(r, Candidate("k", "t", "b"), liked, NOW) == 54
    assert score(r, Candidate("k", "t", "b"), History(dismissals={"r": 9}), NOW) == 30
