"""The sweep's set queries: claim due users, load a batch's facts, write its decisions.

A batch costs a fixed number of statements whatever its size; nothing here scans the user
base. Claims take a lease (`lease_until`) so a crashed sweep's users fall due again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Jsonb

from nudgeflow.ids import new_id
from nudgeflow.policy import Decision, PastNudge
from nudgeflow.rules import EventStats, Record
from nudgeflow.store import bulk
from nudgeflow.store.schema import (
    UTCDateTime,
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
_USER_COLUMNS = [
    bulk.json_text(c)
    if isinstance(c.type, sa.JSON)
    else bulk.raw(c)
    if isinstance(c.type, UTCDateTime)
    else c
    for c in _USER_FIELDS
]  # read by _user_row


def _user_row(row: Sequence[Any], read: bulk.Codec) -> UserRow:
    id_, plan, org, role, timezone, locale, traits, addresses, next_at, checked, version = row
    return UserRow(
        id_, plan, org, role, timezone, locale, read.read_json(traits), read.read_json(addresses),
        read.read_instant(next_at), read.read_instant(checked), version,
    )  # fmt: skip


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
        .returning(*_USER_COLUMNS)
    )
    read = bulk.codec(conn)
    return [_user_row(row, read) for row in conn.execute(stmt)]


def peek_due(
    conn: sa.Connection, now: datetime, limit: int, after: tuple[datetime, str] | None
) -> list[UserRow]:
    """Due users without claiming them (dry runs), in (next_check_at, id) order from `after`."""
    query = sa.select(*_USER_COLUMNS).where(users.c.next_check_at <= now)
    if after is not None:
        query = query.where(
            sa.tuple_(users.c.next_check_at, users.c.id)
            > sa.tuple_(sa.literal(after[0], users.c.next_check_at.type), sa.literal(after[1]))
        )
    query = query.order_by(users.c.next_check_at, users.c.id).limit(limit)
    read = bulk.codec(conn)
    return [_user_row(row, read) for row in conn.execute(query)]


def load_users(conn: sa.Connection, user_ids: Sequence[str]) -> list[UserRow]:
    read = bulk.codec(conn)
    query = sa.select(*_USER_COLUMNS).where(bulk.among(conn, users.c.id, user_ids))
    return [_user_row(row, read) for row in conn.execute(query)]


def load_user(conn: sa.Connection, user_id: str) -> UserRow | None:
    row = conn.execute(sa.select(*_USER_COLUMNS).where(users.c.id == user_id)).first()
    return _user_row(row, bulk.codec(conn)) if row else None


def load_preferences(conn: sa.Connection, user_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    query = sa.select(preferences.c.user_id, preferences.c.data).where(
        bulk.among(conn, preferences.c.user_id, user_ids)
    )
    return dict(conn.execute(query).tuples().all())


def load_facts(conn: sa.Connection, batch: Sequence[UserRow], now: datetime) -> BatchFacts:
    ids = [u.id for u in batch]
    prefs = load_preferences(conn, ids)
    read = bulk.codec(conn)
    by_user: dict[str, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    record_rows = conn.execute(
        sa.select(
            records.c.user_id, records.c.kind, records.c.key, bulk.json_text(records.c.props),
            bulk.raw(records.c.updated_at),
        ).where(bulk.among(conn, records.c.user_id, ids))
    ).all()  # fmt: skip
    for user_id, kind, key, props, updated_at in record_rows:
        by_user[user_id][kind].append(
            Record(kind, key, read.read_json(props), read.read_instant(updated_at))
        )
    stats: dict[str, dict[str, EventStats]] = defaultdict(dict)
    this_week = sa.case((events.c.at >= now - timedelta(days=7), 1), else_=0)
    event_rows = conn.execute(
        sa.select(
            events.c.user_id,
            events.c.name,
            bulk.raw(sa.func.max(events.c.at)),
            sa.func.count(),
            sa.func.sum(this_week),
        )
        .where(bulk.among(conn, events.c.user_id, ids))
        .group_by(events.c.user_id, events.c.name)
    ).all()
    for user_id, name, last_at, count, week in event_rows:
        stats[user_id][name] = EventStats(name, read.read_instant(last_at), count, int(week or 0))
    orgs = {u.org for u in batch if u.org}
    org_enabled = {}
    if orgs:
        query = sa.select(organisations.c.id, organisations.c.agent_enabled).where(
            bulk.among(conn, organisations.c.id, orgs)
        )
        org_enabled = dict(conn.execute(query).tuples().all())
    return BatchFacts(prefs, by_user, stats, org_enabled)


def load_history(
    conn: sa.Connection, user_ids: Sequence[str], keys: Iterable[str], now: datetime
) -> dict[str, list[PastNudge]]:
    """Each user's nudges of the last 90 days, and older ones that share a candidate's dedupe key."""
    key_list = sorted(set(keys))
    recent = nudges.c.created_at >= now - HISTORY
    condition = (
        sa.or_(recent, bulk.among(conn, nudges.c.dedupe_key, key_list)) if key_list else recent
    )
    rows = conn.execute(
        sa.select(
            nudges.c.user_id,
            nudges.c.id,
            nudges.c.rule,
            nudges.c.dedupe_key,
            nudges.c.status,
            bulk.raw(nudges.c.created_at),
            nudges.c.cap_day,
        ).where(bulk.among(conn, nudges.c.user_id, user_ids) & condition)
    ).all()
    read = bulk.codec(conn)
    history: dict[str, list[PastNudge]] = defaultdict(list)
    for user_id, nudge_id, rule, key, status, created_at, cap_day in rows:
        day = date.fromisoformat(cap_day) if cap_day else None
        at = read.read_instant(created_at)
        history[user_id].append(PastNudge(nudge_id, rule, key, status, at, day))
    return history


def finish_users(
    conn: sa.Connection, done: Sequence[tuple[UserRow, datetime]], now: datetime
) -> None:
    """Set each user's next check and end the lease. A fact that arrived while the user was
    being looked at moved next_check_at; then it stays, so the user is looked at again."""
    if not done:
        return
    codec = bulk.codec(conn)
    if conn.dialect.name == "postgresql":
        # One statement over arrays, not one per user: the server's work is the same, the
        # round trips and per-statement overhead are gone.
        ids = [u.id for u, _ in done]
        seen = [u.facts_version for u, _ in done]
        next_at = [at for _, at in done]
        conn.exec_driver_sql(_FINISH_ALL, (now, ids, seen, next_at))
        return
    stamp = codec.instant(now)
    conn.exec_driver_sql(
        _FINISH_ONE, [(u.facts_version, codec.instant(at), stamp, u.id) for u, at in done]
    )


_FINISH_ONE = """UPDATE users
SET next_check_at = CASE WHEN facts_version = ? THEN ? ELSE next_check_at END,
    checked_at = ?, lease_until = NULL
WHERE id = ?"""
_FINISH_ALL = """UPDATE users
SET next_check_at = CASE WHEN users.facts_version = done.seen THEN done.next_at
                         ELSE users.next_check_at END,
    checked_at = %s, lease_until = NULL
FROM unnest(%s::text[], %s::bigint[], %s::timestamptz[]) AS done(id, seen, next_at)
WHERE users.id = done.id"""


def write_decisions(
    conn: sa.Connection, decided: Sequence[tuple[str, Decision]], now: datetime
) -> None:
    """Write nudges and their outbox rows in bulk. A candidate is written the first time it is
    decided; one suppressed before is written again, in place, only once it gets through.
    Dedupe-suppressed candidates write nothing. Rows are built in the driver's form
    (`bulk.Codec`): no per-value processing by SQLAlchemy."""
    codec = bulk.codec(conn)
    stamp = codec.instant(now)
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    outbox: list[tuple[Any, ...]] = []
    for user_id, decision in decided:
        suppressed = decision.outcome == "suppressed"
        if suppressed and (decision.existing_id or decision.suppressed_by == "dedupe"):
            continue  # on record as suppressed already (explain tells the current reason)
        nudge_id = decision.existing_id or new_id("n")
        row = _nudge_row(nudge_id, user_id, decision, stamp, codec)
        (updates if decision.existing_id else inserts).append(row)
        if not suppressed:
            # A rule whose text a generator writes holds its delivery until the text is there.
            status = "held" if decision.rule.generator else "pending"
            outbox.append(
                (new_id("d"), nudge_id, decision.channel, status,
                 codec.instant(decision.deliver_at), 0, stamp, stamp)
            )  # fmt: skip
    bulk.insert_prepared(conn, nudges, inserts, _NUDGE_WRITTEN)
    if updates:
        _update_nudges(conn, updates)
    bulk.insert_prepared(conn, deliveries, outbox, _DELIVERY_WRITTEN)


# The columns a sweep writes; the others start NULL (acted_at, seen_at, delivered_at; a
# delivery's error, lease, provider id and sent time) or at their default (ambiguous: false).
# Leaving them out matters on SQLite: its driver binds None and booleans through the adapter
# lookup, which raises and clears an AttributeError each time (0.35 µs a value, about 28
# values a user: 5% of a sweep's instructions, measured).
_NUDGE_WRITTEN = [
    "id", "user_id", "rule", "playbook", "dedupe_key", "status", "reason", "score", "title",
    "body", "action_label", "action_url", "channel", "deliver_at", "expires_at", "cap_day",
    "created_at", "updated_at", "data",
]  # fmt: skip
_REWRITTEN = _NUDGE_WRITTEN[2:]  # all but id and user_id; acted_at is cleared besides
_DELIVERY_WRITTEN = [
    "id", "nudge_id", "channel", "status", "next_attempt_at", "attempts", "created_at",
    "updated_at",
]  # fmt: skip


def _nudge_row(
    nudge_id: str, user_id: str, decision: Decision, stamp: Any, codec: bulk.Codec
) -> tuple[Any, ...]:
    """The nudge's row, in `_NUDGE_WRITTEN` order; `stamp` is now in the driver's form."""
    c = decision.candidate
    return (
        nudge_id,
        user_id,
        decision.rule.name,
        decision.rule.playbook,
        c.dedupe_key,
        "suppressed" if decision.outcome == "suppressed" else "scheduled",
        decision.reason,
        decision.score,
        c.title,
        c.body,
        c.action_label,
        c.action_url,
        decision.channel,
        codec.instant(decision.deliver_at),
        codec.instant(c.expires_at),
        decision.cap_day.isoformat() if decision.cap_day else None,
        stamp,
        stamp,
        codec.json(dict(c.data)),
    )


def _update_nudges(conn: sa.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Rewrite nudges in place from their rows (a suppressed one that now gets through)."""
    sqlite = conn.dialect.name == "sqlite"
    marker = "?" if sqlite else "%s"
    changes = ", ".join(f"{name} = {marker}" for name in _REWRITTEN)
    data = _REWRITTEN.index("data")
    conn.exec_driver_sql(
        f"UPDATE nudges SET {changes}, acted_at = NULL WHERE id = {marker}",
        [(*_with_json(row[2:], data, sqlite), row[0]) for row in rows],
    )


def _with_json(values: tuple[Any, ...], index: int, sqlite: bool) -> tuple[Any, ...]:
    """The COPY takes JSON as Python values; a parameter of a statement needs it wrapped."""
    if sqlite:
        return values
    return (*values[:index], Jsonb(values[index]), *values[index + 1 :])


def record_rule_errors(
    conn: sa.Connection, errors: Sequence[tuple[str, str, str]], now: datetime
) -> None:
    """(user_id, rule, error text) rows for the operator; the rule is retried at its next tick."""
    if errors:
        conn.execute(
            sa.insert(rule_errors),
            [{"user_id": u, "rule": r, "error": e, "at": now} for u, r, e in errors],
        )
