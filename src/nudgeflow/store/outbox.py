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

from nudgeflow.store import bulk, dialect
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
    query = (
        sa.select(*_CLAIMED_COLUMNS, unreachable.c.address)
        .join(nudges, nudges.c.id == deliveries.c.nudge_id)
        .join(users, users.c.id == nudges.c.user_id)
        .outerjoin(
            unreachable,
            (unreachable.c.user_id == users.c.id) & (unreachable.c.channel == deliveries.c.channel),
        )
        .where(bulk.among(conn, deliveries.c.id, ids))
        .order_by(deliveries.c.next_attempt_at)
    )
    read = bulk.codec(conn)
    return [_claimed(row, read) for row in conn.execute(query).tuples().all()]


def _claimed(row: tuple[Any, ...], read: bulk.Codec) -> Claimed:
    """A row of `_CLAIMED_COLUMNS` and the unreachable address, as a channel reads it."""
    (delivery_id, channel, attempts, ambiguous, created_at, nudge_id, user_id, rule, title,
     body, action_label, action_url, expires_at, locale, timezone, addresses, gone) = row  # fmt: skip
    delivery = {"id": delivery_id, "channel": channel, "attempts": attempts,
                "ambiguous": bool(ambiguous), "created_at": read.read_instant(created_at)}  # fmt: skip
    nudge = {"id": nudge_id, "user_id": user_id, "rule": rule, "title": title, "body": body,
             "action_label": action_label, "action_url": action_url,
             "expires_at": read.read_instant(expires_at) if expires_at else None}  # fmt: skip
    user = {"id": user_id, "locale": locale, "timezone": timezone,
            "addresses": read.read_json(addresses) if addresses else {}}  # fmt: skip
    return Claimed(delivery, nudge, user, gone)


# What a channel reads of a claimed delivery (`channels.base.Outgoing`), and no more: every
# column more is a value more to convert, 500 times a round. Instants and JSON come raw and
# are read by `bulk.Codec`.
_CLAIMED_COLUMNS = (
    deliveries.c.id, deliveries.c.channel, deliveries.c.attempts, bulk.raw(deliveries.c.ambiguous),
    bulk.raw(deliveries.c.created_at), nudges.c.id, nudges.c.user_id, nudges.c.rule,
    nudges.c.title, nudges.c.body, nudges.c.action_label, nudges.c.action_url,
    bulk.raw(nudges.c.expires_at), users.c.locale, users.c.timezone,
    bulk.json_text(users.c.addresses),
)  # fmt: skip


def mark_sent(conn: sa.Connection, sent: Sequence[tuple[str, str | None]], now: datetime) -> None:
    """(delivery id, provider id) of deliveries the provider took; their nudges are delivered."""
    if not sent:
        return
    ids = [d for d, _ in sent]
    if conn.dialect.name == "postgresql":  # one statement over arrays, as a sweep finishes users
        conn.exec_driver_sql(_SENT_ALL, (now, now, ids, [p for _, p in sent]))
    else:  # the driver's own executemany: no per-value processing
        stamp = bulk.codec(conn).instant(now)
        conn.exec_driver_sql(_SENT_ONE, [(p, stamp, stamp, d) for d, p in sent])
    shown = sa.select(deliveries.c.nudge_id).where(bulk.among(conn, deliveries.c.id, ids))
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


_SENT = """status = 'sent', sent_at = {at}, lease_until = NULL, next_attempt_at = NULL,
    attempts = deliveries.attempts + 1, last_error = NULL, updated_at = {at}"""
_SENT_ONE = f"UPDATE deliveries SET provider_id = ?, {_SENT.format(at='?')} WHERE id = ?"
_SENT_ALL = f"""UPDATE deliveries SET {_SENT.format(at="%s")}, provider_id = done.provider_id
FROM unnest(%s::text[], %s::text[]) AS done(id, provider_id)
WHERE deliveries.id = done.id"""


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
