"""Generated content at rest. A nudge whose rule has a generator is written with its delivery
`held`; the generation stage claims held deliveries that are due (`writing`, with a lease, so
two workers never write the same message), keeps every attempt with its rating and cost, and
then either fills in the text and lets the delivery go (`pending`) or suppresses the nudge."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from nudgeflow.store import outbox
from nudgeflow.store.schema import (
    deliveries,
    events,
    generation_attempts,
    nudges,
    records,
    users,
)


@dataclass(frozen=True)
class Held:
    delivery_id: str
    nudge: dict[str, Any]
    user: dict[str, Any]


def claim(
    conn: sa.Connection,
    now: datetime,
    limit: int,
    lease: timedelta,
    *,
    user_id: str | None = None,
) -> list[Held]:
    """Up to `limit` held deliveries that are due (or whose writer's lease ran out), leased;
    only `user_id`'s when given."""
    mine = sa.true() if user_id is None else nudges.c.user_id == user_id
    waiting = (deliveries.c.status == "held") | (
        (deliveries.c.status == "writing") & (deliveries.c.lease_until <= now)
    )
    candidates = (
        sa.select(deliveries.c.id)
        .join(nudges, nudges.c.id == deliveries.c.nudge_id)
        .where((deliveries.c.next_attempt_at <= now) & waiting & mine)
    )
    ids = outbox.take(conn, candidates, "writing", now=now, limit=limit, lease=lease)
    if not ids:
        return []
    rows = conn.execute(
        sa.select(deliveries.c.id, nudges, users)
        .join(nudges, nudges.c.id == deliveries.c.nudge_id)
        .join(users, users.c.id == nudges.c.user_id)
        .where(deliveries.c.id.in_(ids))
        .order_by(deliveries.c.next_attempt_at)
    ).all()
    width = len(nudges.c)
    return [
        Held(
            row[0],
            dict(zip(nudges.c.keys(), row[1 : 1 + width], strict=True)),
            dict(zip(users.c.keys(), row[1 + width :], strict=True)),
        )
        for row in rows
    ]


def record(conn: sa.Connection, attempts: Sequence[dict[str, Any]]) -> None:
    if attempts:
        conn.execute(sa.insert(generation_attempts), list(attempts))


def release(
    conn: sa.Connection,
    held: Held,
    *,
    title: str,
    body: str,
    data: dict[str, Any],
    now: datetime,
) -> bool:
    """The text goes into the nudge and its delivery may go. False when the nudge was acted
    on or expired meanwhile (its delivery was cancelled then): nothing changes."""
    moved = conn.execute(
        sa.update(deliveries)
        .where((deliveries.c.id == held.delivery_id) & (deliveries.c.status == "writing"))
        .values(status="pending", lease_until=None, updated_at=now)
    )
    if not moved.rowcount:
        return False
    conn.execute(
        sa.update(nudges)
        .where(nudges.c.id == held.nudge["id"])
        .values(title=title, body=body, data=data, updated_at=now)
    )
    return True


def skip(conn: sa.Connection, held: Held, reason: str, now: datetime) -> None:
    """Nothing good enough to send: the nudge is suppressed with the reason, its delivery
    cancelled."""
    conn.execute(
        sa.update(nudges)
        .where((nudges.c.id == held.nudge["id"]) & (nudges.c.status == "scheduled"))
        .values(status="suppressed", reason=reason, updated_at=now)
    )
    conn.execute(
        sa.update(deliveries)
        .where((deliveries.c.id == held.delivery_id) & (deliveries.c.status == "writing"))
        .values(status="cancelled", next_attempt_at=None, lease_until=None, updated_at=now)
    )


def spent(
    conn: sa.Connection, since: datetime, user_ids: Sequence[str]
) -> tuple[float, dict[str, float]]:
    """USD spent on attempts since `since`: by everyone, and by each of `user_ids`."""
    total = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(generation_attempts.c.cost), 0.0)).where(
            generation_attempts.c.at >= since
        )
    ).scalar_one()
    by_user = conn.execute(
        sa.select(generation_attempts.c.user_id, sa.func.sum(generation_attempts.c.cost))
        .where((generation_attempts.c.at >= since) & generation_attempts.c.user_id.in_(user_ids))
        .group_by(generation_attempts.c.user_id)
    ).all()
    return float(total), {user_id: float(cost) for user_id, cost in by_user}


def recent_types(
    conn: sa.Connection, user_ids: Sequence[str], since: datetime
) -> dict[str, list[str]]:
    """The types of each user's messages sent since `since`, newest first."""
    rows = conn.execute(
        sa.select(generation_attempts.c.user_id, generation_attempts.c.message_type)
        .where(generation_attempts.c.user_id.in_(user_ids) & generation_attempts.c.sent)
        .where(generation_attempts.c.at >= since)
        .order_by(generation_attempts.c.at.desc(), generation_attempts.c.attempt.desc())
    )
    return {user_id: [t for (t,) in types] for user_id, types in _by_user(rows).items()}


def records_for_context(
    conn: sa.Connection, user_ids: Sequence[str], kinds: Sequence[str], since: datetime
) -> dict[str, list[tuple[str, dict[str, Any], datetime]]]:
    """Each user's records of `kinds` updated since `since`, newest first: what a generator
    reads (journal entries, insights)."""
    rows = conn.execute(
        sa.select(records.c.user_id, records.c.kind, records.c.props, records.c.updated_at)
        .where(records.c.user_id.in_(user_ids) & records.c.kind.in_(kinds))
        .where(records.c.updated_at >= since)
        .order_by(records.c.updated_at.desc())
    )
    return _by_user(rows)


def recent_events(
    conn: sa.Connection, user_ids: Sequence[str], since: datetime
) -> dict[str, list[tuple[str, dict[str, Any], datetime]]]:
    """Each user's events since `since`, newest first: (name, props, when)."""
    rows = conn.execute(
        sa.select(events.c.user_id, events.c.name, events.c.props, events.c.at)
        .where(events.c.user_id.in_(user_ids) & (events.c.at >= since))
        .order_by(events.c.at.desc())
    )
    return _by_user(rows)


def _by_user(rows: Iterable[Sequence[Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """Rows whose first column is a user id, grouped by it, in their order, without it."""
    found: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for user_id, *rest in rows:
        found[user_id].append(tuple(rest))
    return found


def attempts_of(conn: sa.Connection, user_id: str, limit: int = 20) -> list[dict[str, Any]]:
    query = (
        sa.select(generation_attempts)
        .where(generation_attempts.c.user_id == user_id)
        .order_by(generation_attempts.c.at.desc(), generation_attempts.c.attempt.desc())
        .limit(limit)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def link_host_ref(conn: sa.Connection, nudge_id: str, host_ref: str) -> bool:
    """What the host app made of a generated message (a journal entry's id), on its attempt."""
    moved = conn.execute(
        sa.update(generation_attempts)
        .where((generation_attempts.c.nudge_id == nudge_id) & generation_attempts.c.sent)
        .values(host_ref=host_ref)
    )
    return bool(moved.rowcount)
