"""Coaching schedules at rest: the engine's records of kind `coaching`, one per user who turned
coaching on (see `coaching.schedule`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from nudgeflow.coaching.schedule import KEY, KIND, Schedule, on_preferences, seeded
from nudgeflow.facts import Preferences, RecordIn, UserIn
from nudgeflow.store import facts as fact_store
from nudgeflow.store.schema import records, users


def follow(
    conn: sa.Connection, chosen: Sequence[tuple[str, str, Preferences]], now: datetime
) -> None:
    """Start, change or stop coaching schedules as (user, timezone, preferences) now say."""
    current = schedules(conn, [user_id for user_id, _, _ in chosen])
    kept, dropped = [], []
    for user_id, zone, prefs in chosen:
        old = current.get(user_id)
        rng = seeded(user_id, now)
        new = on_preferences(old, prefs.frequency, prefs.window, zone, now=now, rng=rng)
        if new is None and old is not None:
            dropped.append(user_id)
        elif new is not None and new != old:
            kept.append((user_id, new))
    put(conn, kept, now)
    drop(conn, dropped, now)


def follow_users(conn: sa.Connection, batch: Sequence[UserIn], now: datetime) -> None:
    """`follow` for users written with their preferences (an upsert, an import)."""
    follow(conn, [(u.id, u.timezone, u.preferences) for u in batch if u.preferences], now)


def schedules(conn: sa.Connection, user_ids: Sequence[str]) -> dict[str, Schedule]:
    query = sa.select(records.c.user_id, records.c.props).where(
        (records.c.kind == KIND) & (records.c.key == KEY) & records.c.user_id.in_(list(user_ids))
    )
    return {user_id: Schedule.from_props(props) for user_id, props in conn.execute(query)}


def put(conn: sa.Connection, items: Sequence[tuple[str, Schedule]], now: datetime) -> None:
    """Keep these schedules; their users are due, so the rule looks again at once."""
    rows = [RecordIn(user_id=uid, kind=KIND, key=KEY, props=s.as_props()) for uid, s in items]
    fact_store.put_records(conn, rows, now)


def drop(conn: sa.Connection, user_ids: Sequence[str], now: datetime) -> None:
    for user_id in user_ids:
        fact_store.delete_record(conn, user_id, KIND, KEY, now)


def timezones(conn: sa.Connection, user_ids: Sequence[str]) -> dict[str, str]:
    query = sa.select(users.c.id, users.c.timezone).where(users.c.id.in_(list(user_ids)))
    return dict(conn.execute(query).tuples().all())


def due(conn: sa.Connection, now: datetime, limit: int) -> list[tuple[str, str, Schedule]]:
    """(user, timezone, schedule) of users due for a look (the `next_check_at` index, as the
    sweep finds them) who have coaching on, soonest first; `nudgeflow coach due` keeps those
    whose message slot has come."""
    query = (
        sa.select(users.c.id, users.c.timezone, records.c.props)
        .join(records, records.c.user_id == users.c.id)
        .where((users.c.next_check_at <= now) & (records.c.kind == KIND) & (records.c.key == KEY))
        .order_by(users.c.next_check_at)
        .limit(limit)
    )
    return [(uid, zone, Schedule.from_props(props)) for uid, zone, props in conn.execute(query)]
