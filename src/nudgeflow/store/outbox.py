"""The outbox: deliveries due on a channel, claimed with a lease, and their attempts' results.

pending ──claim──► sending ──► sent | pending (retry later) | dead
   ▲                  │
   └── lease ran out ─┘  (a crash mid-attempt: flagged ambiguous, counted, sent again)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from nudgeflow.store import dialect
from nudgeflow.store.schema import deliveries, nudges, unreachable, users


@dataclass(frozen=True)
class Claimed:
    delivery: dict[str, Any]
    nudge: dict[str, Any]
    user: dict[str, Any]
    unreachable: str | None  # the address a provider said is gone, if any


def recover_interrupted(conn: sa.Connection, now: datetime) -> int:
    """Attempts whose lease ran out were cut off by a crash, maybe after the request left:
    flag them ambiguous and due; the dispatcher sends them again only where the provider
    dedupes by our id."""
    result = conn.execute(
        sa.update(deliveries)
        .where((deliveries.c.status == "sending") & (deliveries.c.lease_until <= now))
        .values(
            status="pending",
            ambiguous=True,
            lease_until=None,
            next_attempt_at=now,
            attempts=deliveries.c.attempts + 1,
            last_error="interrupted; may have been sent",
            updated_at=now,
        )
    )
    return int(result.rowcount)


def take(
    conn: sa.Connection,
    candidates: sa.Select[Any],
    status: str,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
) -> list[str]:
    """Lock up to `limit` of the deliveries `candidates` selects (their ids), soonest due
    first, and mark them `status` until the lease ends: other workers skip them meanwhile."""
    query = candidates.order_by(deliveries.c.next_attempt_at).limit(limit)
    ids = list(conn.execute(query.with_for_update(skip_locked=True, of=deliveries)).scalars())
    if ids:
        conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.id.in_(ids))
            .values(status=status, lease_until=now + lease, updated_at=now)
        )
    return ids


def claim(
    conn: sa.Connection, channels: Sequence[str], now: datetime, limit: int, lease: timedelta
) -> list[Claimed]:
    """Up to `limit` due deliveries on `channels`, with their nudge and user, leased to us."""
    due = (deliveries.c.next_attempt_at <= now) & (deliveries.c.status == "pending")
    due &= deliveries.c.channel.in_(list(channels))
    ids = take(
        conn, sa.select(deliveries.c.id).where(due), "sending", now=now, limit=limit, lease=lease
    )
    if not ids:
        return []
    rows = conn.execute(
        sa.select(deliveries, nudges, users, unreachable.c.address.label("gone"))
        .join(nudges, nudges.c.id == deliveries.c.nudge_id)
        .join(users, users.c.id == nudges.c.user_id)
        .outerjoin(
            unreachable,
            (unreachable.c.user_id == users.c.id) & (unreachable.c.channel == deliveries.c.channel),
        )
        .where(deliveries.c.id.in_(ids))
        .order_by(deliveries.c.next_attempt_at)
    ).all()
    width_d, width_n = len(deliveries.c), len(nudges.c)
    return [
        Claimed(
            dict(zip(deliveries.c.keys(), row[:width_d], strict=True)),
            dict(zip(nudges.c.keys(), row[width_d : width_d + width_n], strict=True)),
            dict(zip(users.c.keys(), row[width_d + width_n : -1], strict=True)),
            row[-1],
        )
        for row in rows
    ]


def mark_sent(conn: sa.Connection, sent: Sequence[tuple[str, str | None]], now: datetime) -> None:
    """(delivery id, provider id) of deliveries the provider took; their nudges are delivered."""
    if not sent:
        return
    conn.execute(
        sa.update(deliveries)
        .where(deliveries.c.id == sa.bindparam("did"))
        .values(
            status="sent",
            provider_id=sa.bindparam("pid"),
            sent_at=now,
            lease_until=None,
            next_attempt_at=None,
            attempts=deliveries.c.attempts + 1,
            last_error=None,
            updated_at=now,
        ),
        [{"did": d, "pid": p} for d, p in sent],
    )
    shown = sa.select(deliveries.c.nudge_id).where(deliveries.c.id.in_([d for d, _ in sent]))
    conn.execute(
        sa.update(nudges)
        .where(nudges.c.id.in_(shown) & nudges.c.status.in_(["scheduled", "snoozed"]))
        .values(
            status="delivered",
            updated_at=now,
            delivered_at=sa.func.coalesce(
                nudges.c.delivered_at, sa.literal(now, nudges.c.delivered_at.type)
            ),
        )
    )


def mark_retry(
    conn: sa.Connection, retries: Sequence[tuple[str, datetime, str]], now: datetime
) -> None:
    """(delivery id, next attempt, error) of attempts that failed for now."""
    if retries:
        conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.id == sa.bindparam("did"))
            .values(
                status="pending",
                next_attempt_at=sa.bindparam("at", type_=deliveries.c.next_attempt_at.type),
                last_error=sa.bindparam("err"),
                lease_until=None,
                attempts=deliveries.c.attempts + 1,
                updated_at=now,
            ),
            [{"did": d, "at": at, "err": e} for d, at, e in retries],
        )


def park(conn: sa.Connection, parked: Sequence[tuple[str, datetime]], now: datetime) -> None:
    """Put deliveries back without spending an attempt (a breaker open, a rate limit)."""
    if parked:
        conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.id == sa.bindparam("did"))
            .values(
                status="pending",
                next_attempt_at=sa.bindparam("at", type_=deliveries.c.next_attempt_at.type),
                lease_until=None,
                updated_at=now,
            ),
            [{"did": d, "at": at} for d, at in parked],
        )


def mark_dead(conn: sa.Connection, dead: Sequence[tuple[str, str]], now: datetime) -> None:
    """(delivery id, error) of deliveries that will not be tried again."""
    if dead:
        conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.id == sa.bindparam("did"))
            .values(
                status="dead",
                last_error=sa.bindparam("err"),
                lease_until=None,
                next_attempt_at=None,
                attempts=deliveries.c.attempts + 1,
                updated_at=now,
            ),
            [{"did": d, "err": e} for d, e in dead],
        )


def mark_unreachable(
    conn: sa.Connection, gone: Sequence[tuple[str, str, str, str]], now: datetime
) -> None:
    """(user id, channel, address, reason): the provider said this address is gone."""
    if gone:
        conn.execute(
            dialect.upsert(conn, unreachable, ["user_id", "channel"], ["address", "reason", "at"]),
            [{"user_id": u, "channel": c, "address": a, "reason": r, "at": now} for u, c, a, r in gone],
        )  # fmt: skip


def counts(conn: sa.Connection) -> dict[str, int]:
    """Deliveries by status, and how many were flagged ambiguous."""
    rows = conn.execute(
        sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
    ).all()
    by_status = {str(status): int(count) for status, count in rows}
    ambiguous = conn.execute(
        sa.select(sa.func.count()).select_from(deliveries).where(deliveries.c.ambiguous)
    ).scalar_one()
    return {**by_status, "ambiguous": int(ambiguous)}
