"""Reading nudges and moving them along their lifecycle; the in-app outbox and expiry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa

from nudgeflow.store.schema import deliveries, nudges, users

OPEN = ("scheduled", "delivered", "snoozed")


def list_nudges(
    conn: sa.Connection,
    *,
    user_id: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    query = sa.select(nudges)
    if user_id is not None:
        query = query.where(nudges.c.user_id == user_id)
    if status is not None:
        query = query.where(nudges.c.status == status)
    query = query.order_by(nudges.c.created_at.desc(), nudges.c.id.desc()).limit(limit)
    return [dict(row) for row in conn.execute(query).mappings()]


def _inbox_query(by_status: bool, paged: bool) -> sa.Select[Any]:
    query = sa.select(nudges).where(nudges.c.user_id == sa.bindparam("user_id"))
    if by_status:
        query = query.where(nudges.c.status == sa.bindparam("status"))
    else:  # two comparisons, not NOT IN, which would be compiled again for every call
        query = query.where((nudges.c.status != "scheduled") & (nudges.c.status != "suppressed"))
    if paged:
        after = sa.tuple_(sa.bindparam("at", type_=nudges.c.created_at.type), sa.bindparam("id"))
        query = query.where(sa.tuple_(nudges.c.created_at, nudges.c.id) < after)
    order = (nudges.c.created_at.desc(), nudges.c.id.desc())
    return query.order_by(*order).limit(sa.bindparam("limit"))


# The inbox is the busiest read: its four statements are built once.
_INBOX = {(s, p): _inbox_query(s, p) for s in (False, True) for p in (False, True)}


def inbox(
    conn: sa.Connection,
    user_id: str,
    status: str | None,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> list[dict[str, Any]]:
    """A page of the user's nudges in `status`, or else those shown to them (all but
    scheduled and suppressed), newest first, after the (created_at, id) of the last one of
    the page before."""
    query = _INBOX[status is not None, after is not None]
    params = {"user_id": user_id, "status": status, "limit": limit,
              "at": after[0] if after else None, "id": after[1] if after else None}  # fmt: skip
    return [dict(row) for row in conn.execute(query, params).mappings()]


# An empty page is the one time the inbox asks whether the user exists: built once too.
_HAS_USER = sa.select(users.c.id).where(users.c.id == sa.bindparam("user_id"))


def has_user(conn: sa.Connection, user_id: str) -> bool:
    return conn.execute(_HAS_USER, {"user_id": user_id}).first() is not None


def mark_seen(conn: sa.Connection, user_id: str, nudge_ids: Sequence[str], now: datetime) -> int:
    """Mark the user's nudges among `nudge_ids` seen, once; others' ids are ignored."""
    result = conn.execute(
        sa.update(nudges)
        .where(nudges.c.user_id == user_id)
        .where(nudges.c.id.in_(list(nudge_ids)) & nudges.c.seen_at.is_(None))
        .values(seen_at=now)
    )
    mine = conn.execute(
        sa.select(nudges.c.id).where(
            (nudges.c.user_id == user_id) & nudges.c.id.in_(list(nudge_ids))
        )
    ).scalars()
    cancel_deliveries(conn, list(mine), now)  # a fallback waiting for quiet hours is moot now
    return int(result.rowcount)


def unseen(
    conn: sa.Connection, rule: str, channel: str, delivered_before: datetime, limit: int
) -> list[dict[str, Any]]:
    """The rule's nudges shown in the inbox before `delivered_before`, not seen nor acted on,
    and not yet considered for `channel`."""
    considered = (
        sa.select(deliveries.c.id)
        .where((deliveries.c.nudge_id == nudges.c.id) & (deliveries.c.channel == channel))
        .exists()
    )
    query = (
        sa.select(nudges)
        .where((nudges.c.rule == rule) & (nudges.c.status == "delivered"))
        .where((nudges.c.channel == "in_app") & (nudges.c.delivered_at <= delivered_before))
        .where(nudges.c.seen_at.is_(None) & ~considered)
        .limit(limit)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def get_nudge(conn: sa.Connection, nudge_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(nudges).where(nudges.c.id == nudge_id)).mappings().first()
    return dict(row) if row else None


def set_status(
    conn: sa.Connection, nudge_id: str, status: str, now: datetime, **values: Any
) -> dict[str, Any]:
    """Move the nudge to `status`; returns it as it now is."""
    update = sa.update(nudges).where(nudges.c.id == nudge_id)
    update = update.values(status=status, updated_at=now, **values)
    if conn.dialect.update_returning:
        update = update.returning(*nudges.c)
    moved = _one(conn, update, nudge_id, {})
    assert moved is not None
    return moved


@cache
def _move(status: str, allowed_from: frozenset[str], owned: bool, returning: bool) -> sa.Update:
    now = sa.bindparam("now", type_=nudges.c.updated_at.type)
    update = sa.update(nudges).where(nudges.c.id == sa.bindparam("nudge_id"))
    update = update.where(sa.or_(*(nudges.c.status == s for s in sorted(allowed_from))))
    if owned:
        update = update.where(nudges.c.user_id == sa.bindparam("owner"))
    update = update.values(status=status, updated_at=now, acted_at=now)
    return update.returning(*nudges.c) if returning else update


def move(
    conn: sa.Connection,
    nudge_id: str,
    status: str,
    allowed_from: frozenset[str],
    *,
    now: datetime,
    owner: str | None,
) -> dict[str, Any] | None:
    """An action's common case in one prebuilt statement: the nudge (of `owner`, if given)
    moves to `status` and is returned if it was in `allowed_from`; else None, unchanged."""
    update = _move(status, allowed_from, owner is not None, conn.dialect.update_returning)
    return _one(conn, update, nudge_id, {"nudge_id": nudge_id, "now": now, "owner": owner})


def _one(
    conn: sa.Connection, update: sa.Update, nudge_id: str, params: dict[str, Any]
) -> dict[str, Any] | None:
    """Run an update of one nudge, which has RETURNING where the database does (SQLite
    3.35+, PostgreSQL: one round trip), and give the row it left, or None if none matched."""
    if conn.dialect.update_returning:
        row = conn.execute(update, params).mappings().first()
        return dict(row) if row else None
    return get_nudge(conn, nudge_id) if conn.execute(update, params).rowcount else None


def capped_on(conn: sa.Connection, user_id: str, day: str, *, excluding: str) -> int:
    """How many of the user's nudges count toward the cap of local day `day`."""
    query = (
        sa.select(sa.func.count())
        .select_from(nudges)
        .where(nudges.c.user_id == user_id, nudges.c.cap_day == day)
        .where(nudges.c.status != "suppressed", nudges.c.id != excluding)
    )
    return int(conn.execute(query).scalar_one())


def reschedule_delivery(conn: sa.Connection, nudge_id: str, at: datetime, now: datetime) -> None:
    """Send the nudge again on its channel at `at` (a snooze coming back)."""
    conn.execute(
        sa.update(deliveries)
        .where(deliveries.c.nudge_id == nudge_id)
        .values(status="pending", next_attempt_at=at, updated_at=now)
    )


# Not sent yet: due, or waiting for its generated text.
_UNSENT = deliveries.c.status.in_(("pending", "held", "writing"))

_CANCEL_ONE = (
    sa.update(deliveries)
    .where((deliveries.c.nudge_id == sa.bindparam("nudge")) & _UNSENT)
    .values(status="cancelled", next_attempt_at=None,
            updated_at=sa.bindparam("now", type_=deliveries.c.updated_at.type))
)  # fmt: skip


def cancel_deliveries(conn: sa.Connection, nudge_ids: Sequence[str], now: datetime) -> None:
    if len(nudge_ids) == 1:  # an action on a nudge: prebuilt
        conn.execute(_CANCEL_ONE, {"nudge": nudge_ids[0], "now": now})
    elif nudge_ids:
        conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.nudge_id.in_(list(nudge_ids)) & _UNSENT)
            .values(status="cancelled", next_attempt_at=None, updated_at=now)
        )


def deliver_in_app(conn: sa.Connection, now: datetime, limit: int) -> int:
    """The in-app channel: a due delivery is the nudge showing up in the inbox."""
    due = conn.execute(
        sa.select(deliveries.c.id, deliveries.c.nudge_id)
        .where((deliveries.c.next_attempt_at <= now) & (deliveries.c.channel == "in_app"))
        .where(deliveries.c.status == "pending")
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not due:
        return 0
    conn.execute(
        sa.update(deliveries)
        .where(deliveries.c.id.in_([d.id for d in due]))
        .values(
            status="sent", next_attempt_at=None, attempts=deliveries.c.attempts + 1, updated_at=now
        )
    )
    conn.execute(
        sa.update(nudges)
        .where(
            nudges.c.id.in_([d.nudge_id for d in due])
            & nudges.c.status.in_(["scheduled", "snoozed"])
        )
        .values(
            status="delivered",
            updated_at=now,
            delivered_at=sa.func.coalesce(
                nudges.c.delivered_at, sa.literal(now, nudges.c.delivered_at.type)
            ),
        )
    )
    return len(due)


def expire_due(conn: sa.Connection, now: datetime, limit: int) -> int:
    """Open nudges whose expiry has passed become expired; their pending sends are cancelled."""
    ids = list(
        conn.execute(
            sa.select(nudges.c.id)
            .where((nudges.c.expires_at <= now) & nudges.c.status.in_(OPEN))
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if ids:
        conn.execute(
            sa.update(nudges).where(nudges.c.id.in_(ids)).values(status="expired", updated_at=now)
        )
        cancel_deliveries(conn, ids, now)
    return len(ids)
