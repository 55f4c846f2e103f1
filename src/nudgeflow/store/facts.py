"""Writing facts. Every write marks its users due now, so the next sweep looks at them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nudgeflow.facts import EventIn, RecordIn, UserIn
from nudgeflow.store import dialect
from nudgeflow.store.schema import events, preferences, records, users

_USER_COLUMNS = ["plan", "org", "role", "timezone", "locale", "traits", "addresses", "updated_at"]


def upsert_users(conn: sa.Connection, batch: Sequence[UserIn], now: datetime) -> None:
    if not batch:
        return
    batch = list({u.id: u for u in batch}.values())  # last wins: one row may change once
    rows = [
        {
            "id": u.id,
            "plan": u.plan,
            "org": u.org,
            "role": u.role,
            "timezone": u.timezone,
            "locale": u.locale,
            "traits": u.traits,
            "addresses": u.addresses.model_dump(exclude_none=True),
            "created_at": now,
            "updated_at": now,
            "next_check_at": now,
            "checked_at": now,
        }
        for u in batch
    ]
    also = {"facts_version": users.c.facts_version + 1}
    conn.execute(dialect.upsert(conn, users, ["id"], [*_USER_COLUMNS, "next_check_at"], also), rows)
    prefs = [u for u in batch if u.preferences is not None]
    if prefs:
        put_preferences(
            conn,
            [(u.id, u.preferences.model_dump(mode="json")) for u in prefs if u.preferences],
            now,
        )


def put_preferences(
    conn: sa.Connection, items: Sequence[tuple[str, dict[str, Any]]], now: datetime
) -> None:
    rows = [{"user_id": uid, "data": data, "updated_at": now} for uid, data in items]
    conn.execute(dialect.upsert(conn, preferences, ["user_id"], ["data", "updated_at"]), rows)
    mark_due(conn, [uid for uid, _ in items], now)


def delete_user(conn: sa.Connection, user_id: str) -> bool:
    """Delete the user and, by cascade, everything they own. False when there was none."""
    return bool(conn.execute(sa.delete(users).where(users.c.id == user_id)).rowcount)


def insert_events(conn: sa.Connection, batch: Sequence[EventIn], now: datetime) -> int:
    """Store events once each; returns how many were new."""
    if not batch:
        return 0
    rows = [
        {
            "user_id": e.user_id,
            "id": e.id,
            "name": e.name,
            "at": e.at,
            "props": e.props,
            "received_at": now,
        }
        for e in batch
    ]
    # RETURNING yields only the rows inserted, so repeats of an event are not counted.
    stmt = dialect.insert_ignore(conn, events, ["user_id", "id"]).returning(events.c.id)
    stored = len(conn.execute(stmt, rows).all())
    mark_due(conn, {e.user_id for e in batch}, now)
    return stored


def put_records(conn: sa.Connection, batch: Sequence[RecordIn], now: datetime) -> None:
    if not batch:
        return
    batch = list({(r.user_id, r.kind, r.key): r for r in batch}.values())
    rows = [
        {
            "user_id": r.user_id,
            "kind": r.kind,
            "key": r.key,
            "props": r.props,
            "updated_at": r.updated_at or now,
        }
        for r in batch
    ]
    conn.execute(
        dialect.upsert(conn, records, ["user_id", "kind", "key"], ["props", "updated_at"]), rows
    )
    mark_due(conn, {r.user_id for r in batch}, now)


def records_of(conn: sa.Connection, user_id: str, kind: str) -> dict[str, dict[str, Any]]:
    """The user's records of one kind: key → props."""
    where = (records.c.user_id == user_id) & (records.c.kind == kind)
    query = sa.select(records.c.key, records.c.props).where(where)
    return dict(conn.execute(query).tuples().all())


def delete_record(conn: sa.Connection, user_id: str, kind: str, key: str, now: datetime) -> bool:
    where = (records.c.user_id == user_id) & (records.c.kind == kind) & (records.c.key == key)
    deleted = bool(conn.execute(sa.delete(records).where(where)).rowcount)
    mark_due(conn, [user_id], now)
    return deleted


def mark_due(conn: sa.Connection, user_ids: Iterable[str], now: datetime) -> None:
    ids = list(user_ids)
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        conn.execute(
            sa.update(users)
            .where(users.c.id.in_(chunk))
            .values(
                next_check_at=sa.case(
                    (users.c.next_check_at > now, sa.literal(now, users.c.next_check_at.type)),
                    else_=users.c.next_check_at,
                ),
                facts_version=users.c.facts_version + 1,
            )
        )


def missing_users(conn: sa.Connection, user_ids: Iterable[str]) -> set[str]:
    """The ids among `user_ids` that name no user."""
    wanted = set(user_ids)
    found: set[str] = set()
    ids = list(wanted)
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        found.update(conn.execute(sa.select(users.c.id).where(users.c.id.in_(chunk))).scalars())
    return wanted - found


def known_plans_in_use(conn: sa.Connection) -> set[str]:
    return set(conn.execute(sa.select(users.c.plan).distinct()).scalars())


def delete_users_by_prefix(conn: sa.Connection, prefix: str) -> int:
    """Delete every user whose id starts with `prefix` (the demo's), and all they own."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return int(
        conn.execute(sa.delete(users).where(users.c.id.like(escaped + "%", escape="\\"))).rowcount
    )
