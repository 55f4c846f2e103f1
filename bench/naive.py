"""The baseline: a sweep as hand-written cron jobs do it.

Every user is loaded, every rule runs its own queries for its user, and each nudge is
inserted and committed on its own. It decides with the same rules and the same pure policy
as nudgeflow, so the two differ only in how they reach the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from nudgeflow.config import Settings
from nudgeflow.evaluation import build_user, context, parse_preferences
from nudgeflow.flags import FlagGate
from nudgeflow.ids import new_id
from nudgeflow.policy import History, PastNudge, decide
from nudgeflow.rules import Candidate, EventStats, Facts, Record, Rule
from nudgeflow.store.schema import deliveries, events, nudges, preferences, records, users


def naive_sweep(engine: sa.Engine, rules: Sequence[Rule], settings: Settings, now: datetime) -> int:
    """Look at every user; returns how many nudges it wrote."""
    with engine.connect() as conn:
        everyone = conn.execute(sa.select(users)).all()
    written = 0
    for row in everyone:
        with engine.begin() as conn:
            written += _one_user(conn, row, rules, settings, now)
    return written


def _one_user(
    conn: sa.Connection, row: Any, rules: Sequence[Rule], settings: Settings, now: datetime
) -> int:
    user = build_user(row)
    proposals: list[tuple[Rule, Candidate]] = []
    for rule in rules:  # each rule fetches what it needs, as separate jobs would
        facts = Facts(user, _records(conn, user.id), _events(conn, user.id, now))
        candidates, _rechecks = rule.evaluate(facts, now)
        proposals.extend((rule, c) for c in candidates)
    prefs = conn.execute(
        sa.select(preferences.c.data).where(preferences.c.user_id == user.id)
    ).scalar()
    past = conn.execute(sa.select(nudges).where(nudges.c.user_id == user.id)).all()
    history = History.of(
        [
            PastNudge(n.id, n.rule, n.dedupe_key, n.status, n.created_at, _day(n.cap_day))
            for n in past
        ]
    )
    ctx = context(
        user, parse_preferences(prefs), settings=settings, org_enabled=True,
        flags=FlagGate({}), paused=frozenset(), history=history,
    )  # fmt: skip
    written = 0
    for decision in decide(ctx, proposals, now).decisions:
        if decision.outcome == "suppressed" or decision.existing_id:
            continue
        nudge_id = new_id("n")
        c = decision.candidate
        conn.execute(
            sa.insert(nudges).values(
                id=nudge_id, user_id=user.id, rule=decision.rule.name,
                playbook=decision.rule.playbook, dedupe_key=c.dedupe_key, status="scheduled",
                reason=decision.reason, score=decision.score, title=c.title, body=c.body,
                action_label=c.action_label, action_url=c.action_url, channel=decision.channel,
                deliver_at=decision.deliver_at, expires_at=c.expires_at,
                cap_day=decision.cap_day.isoformat() if decision.cap_day else None,
                created_at=now, updated_at=now, data=dict(c.data),
            )
        )  # fmt: skip
        conn.execute(
            sa.insert(deliveries).values(
                id=new_id("d"), nudge_id=nudge_id, channel=decision.channel, status="pending",
                next_attempt_at=decision.deliver_at, attempts=0, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        written += 1
    conn.execute(
        sa.update(users).where(users.c.id == user.id).values(checked_at=now, next_check_at=now + timedelta(days=1))
    )  # fmt: skip
    return written


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _records(conn: sa.Connection, user_id: str) -> dict[str, list[Record]]:
    by_kind: dict[str, list[Record]] = {}
    query = sa.select(records).where(records.c.user_id == user_id)
    for r in conn.execute(query):
        by_kind.setdefault(r.kind, []).append(Record(r.kind, r.key, r.props, r.updated_at))
    return by_kind


def _events(conn: sa.Connection, user_id: str, now: datetime) -> dict[str, EventStats]:
    query = sa.select(events.c.name, events.c.at).where(events.c.user_id == user_id)
    stats: dict[str, EventStats] = {}
    for name, at in conn.execute(query):
        old = stats.get(name)
        week = int(at >= now - timedelta(days=7))
        stats[name] = (
            EventStats(name, at, 1, week)
            if old is None
            else EventStats(name, max(old.last_at, at), old.count + 1, old.last_7_days + week)
        )
    return stats
