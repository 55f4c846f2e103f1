"""The sweep's set queries: claim due users, load a batch's facts, write its decisions.

A batch costs a fixed number of statements whatever its size; nothing here scans the user
base. Claims take a lease (`lease_until`) so a crashed sweep's users fall due again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from nudgeflow.ids import new_id
from nudgeflow.policy import Decision, PastNudge
from nudgeflow.rules import EventStats, Record
from nudgeflow.store.schema import (
    deliveries,
    events,
    nudges,
    organisations,
    preferences,
    records,
    rule_errors,
    users,
)

HISTORY = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class UserRow:
    id: str
    plan: str
    org: str | None
    role: str
    timezone: str
    locale: str
    traits: dict[str, Any]
    addresses: dict[str, str]
    next_check_at: datetime
    checked_at: datetime
    facts_version: int


@dataclass(slots=True)
class BatchFacts:
    """The facts of a batch of users, gathered in a few set queries."""

    preferences: dict[str, dict[str, Any]]
    records: dict[str, dict[str, list[Record]]]
    events: dict[str, dict[str, EventStats]]
    org_enabled: dict[str, bool]


_USER_FIELDS = [users.c[name] for name in UserRow.__slots__]


def claim_due(conn: sa.Connection, now: datetime, limit: int, lease: timedelta) -> list[UserRow]:
    """Lease up to `limit` users whose check is due; others skip them until the lease ends."""
    due = (
        sa.select(users.c.id)
        .where(users.c.next_check_at <= now)
        .where(sa.or_(users.c.lease_until.is_(None), users.c.lease_until <= now))
        .order_by(users.c.next_check_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        sa.update(users)
        .where(users.c.id.in_(due.scalar_subquery()))
        .values(lease_until=now + lease)
        .returning(*_USER_FIELDS)
    )
    return [UserRow(*row) for row in conn.execute(stmt)]


def peek_due(
    conn: sa.Connection, now: datetime, limit: int, after: tuple[datetime, str] | None
) -> list[UserRow]:
    """Due users without claiming them (dry runs), in (next_check_at, id) order from `after`."""
    query = sa.select(*_USER_FIELDS).where(users.c.next_check_at <= now)
    if after is not None:
        query = query.where(
            sa.tuple_(users.c.next_check_at, users.c.id)
            > sa.tuple_(sa.literal(after[0], users.c.next_check_at.type), sa.literal(after[1]))
        )
    query = query.order_by(users.c.next_check_at, users.c.id).limit(limit)
    return [UserRow(*row) for row in conn.execute(query)]


def load_user(conn: sa.Connection, user_id: str) -> UserRow | None:
    row = conn.execute(sa.select(*_USER_FIELDS).where(users.c.id == user_id)).first()
    return UserRow(*row) if row else None


def load_preferences(conn: sa.Connection, user_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    query = sa.select(preferences.c.user_id, preferences.c.data).where(
        preferences.c.user_id.in_(user_ids)
    )
    return dict(conn.execute(query).tuples().all())


def load_facts(conn: sa.Connection, batch: Sequence[UserRow], now: datetime) -> BatchFacts:
    ids = [u.id for u in batch]
    prefs = load_preferences(conn, ids)
    by_user: dict[str, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    record_rows = conn.execute(
        sa.select(
            records.c.user_id, records.c.kind, records.c.key, records.c.props, records.c.updated_at
        ).where(records.c.user_id.in_(ids))
    )
    for user_id, kind, key, props, updated_at in record_rows:
        by_user[user_id][kind].append(Record(kind, key, props, updated_at))
    stats: dict[str, dict[str, EventStats]] = defaultdict(dict)
    this_week = sa.case((events.c.at >= now - timedelta(days=7), 1), else_=0)
    event_rows = conn.execute(
        sa.select(
            events.c.user_id,
            events.c.name,
            sa.func.max(events.c.at),
            sa.func.count(),
            sa.func.sum(this_week),
        )
        .where(events.c.user_id.in_(ids))
        .group_by(events.c.user_id, events.c.name)
    )
    for user_id, name, last_at, count, week in event_rows:
        stats[user_id][name] = EventStats(name, _instant(last_at), count, int(week or 0))
    orgs = {u.org for u in batch if u.org}
    org_enabled = {}
    if orgs:
        query = sa.select(organisations.c.id, organisations.c.agent_enabled).where(
            organisations.c.id.in_(orgs)
        )
        org_enabled = dict(conn.execute(query).tuples().all())
    return BatchFacts(prefs, by_user, stats, org_enabled)


def _instant(value: Any) -> datetime:
    # max() over a column loses its type on SQLite, so the text comes back as is.
    at: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(UTC)


def load_history(
    conn: sa.Connection, user_ids: Sequence[str], keys: Iterable[str], now: datetime
) -> dict[str, list[PastNudge]]:
    """Each user's nudges of the last 90 days, and older ones that share a candidate's dedupe key."""
    key_list = sorted(set(keys))
    recent = nudges.c.created_at >= now - HISTORY
    condition = sa.or_(recent, nudges.c.dedupe_key.in_(key_list)) if key_list else recent
    rows = conn.execute(
        sa.select(
            nudges.c.user_id,
            nudges.c.id,
            nudges.c.rule,
            nudges.c.dedupe_key,
            nudges.c.status,
            nudges.c.created_at,
            nudges.c.cap_day,
        ).where(nudges.c.user_id.in_(list(user_ids)) & condition)
    )
    history: dict[str, list[PastNudge]] = defaultdict(list)
    for user_id, nudge_id, rule, key, status, created_at, cap_day in rows:
        day = date.fromisoformat(cap_day) if cap_day else None
        history[user_id].append(PastNudge(nudge_id, rule, key, status, created_at, day))
    return history


def finish_users(
    conn: sa.Connection, done: Sequence[tuple[UserRow, datetime]], now: datetime
) -> None:
    """Set each user's next check and end the lease. A fact that arrived while the user was
    being looked at moved next_check_at; then it stays, so the user is looked at again."""
    if not done:
        return
    stmt = (
        sa.update(users)
        .where(users.c.id == sa.bindparam("uid"))
        .values(
            next_check_at=sa.case(
                (
                    users.c.facts_version == sa.bindparam("seen", type_=sa.BigInteger()),
                    sa.bindparam("next", type_=users.c.next_check_at.type),
                ),
                else_=users.c.next_check_at,
            ),
            checked_at=now,
            lease_until=None,
        )
    )
    conn.execute(stmt, [{"uid": u.id, "seen": u.facts_version, "next": at} for u, at in done])


def write_decisions(
    conn: sa.Connection, decided: Sequence[tuple[str, Decision]], now: datetime
) -> None:
    """Write nudges and their outbox rows in bulk. A candidate suppressed before is re-decided
    in place (same id); anything else is new. Dedupe-suppressed candidates write nothing."""
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    for user_id, decision in decided:
        if decision.suppressed_by == "dedupe":
            continue
        row = _nudge_row(user_id, decision, now)
        (updates if decision.existing_id else inserts).append(row)
        if decision.outcome != "suppressed":
            outbox.append(_delivery_row(row, now))
    if inserts:
        conn.execute(sa.insert(nudges), inserts)
    if updates:
        changing = [c for c in _NUDGE_COLUMNS if c not in ("id", "user_id")]
        stmt = (
            sa.update(nudges)
            .where(nudges.c.id == sa.bindparam("nid"))
            .values({c: sa.bindparam(f"v_{c}", type_=nudges.c[c].type) for c in changing})
        )
        conn.execute(
            stmt, [{"nid": r["id"], **{f"v_{c}": r[c] for c in changing}} for r in updates]
        )
    if outbox:
        conn.execute(sa.insert(deliveries), outbox)


def _nudge_row(user_id: str, decision: Decision, now: datetime) -> dict[str, Any]:
    c = decision.candidate
    return {
        "id": decision.existing_id or new_id("n"),
        "user_id": user_id,
        "rule": decision.rule.name,
        "playbook": decision.rule.playbook,
        "dedupe_key": c.dedupe_key,
        "status": "suppressed" if decision.outcome == "suppressed" else "scheduled",
        "reason": decision.reason,
        "score": decision.score,
        "title": c.title,
        "body": c.body,
        "action_label": c.action_label,
        "action_url": c.action_url,
        "channel": decision.channel,
        "deliver_at": decision.deliver_at,
        "expires_at": c.expires_at,
        "cap_day": decision.cap_day.isoformat() if decision.cap_day else None,
        "created_at": now,
        "updated_at": now,
        "acted_at": None,
        "data": dict(c.data),
    }


_NUDGE_COLUMNS = [col.name for col in nudges.columns]


def _delivery_row(nudge: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "id": new_id("d"),
        "nudge_id": nudge["id"],
        "channel": nudge["channel"],
        "status": "pending",
        "next_attempt_at": nudge["deliver_at"],
        "attempts": 0,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
    }


def record_rule_errors(
    conn: sa.Connection, errors: Sequence[tuple[str, str, str]], now: datetime
) -> None:
    """(user_id, rule, error text) rows for the operator; the rule is retried at its next tick."""
    if errors:
        conn.execute(
            sa.insert(rule_errors),
            [{"user_id": u, "rule": r, "error": e, "at": now} for u, r, e in errors],
        )
