"""What worked: the nudges made in a period, counted per rule and channel, as SQL aggregates
(the database counts; nothing is loaded row by row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nudgeflow.store.schema import deliveries, nudges, preferences, users

STATUSES = ("accepted", "snoozed", "dismissed", "expired")


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def nudge_outcomes(conn: sa.Connection, since: datetime) -> list[dict[str, Any]]:
    """Per (rule, channel), of the nudges made since `since` and not suppressed: how many were
    made, delivered (sent on a channel), accepted, snoozed, dismissed, expired, seen or acted
    on, and the total seconds from delivery to action of those acted on."""
    sent = (
        sa.select(deliveries.c.nudge_id)
        .where(deliveries.c.status == "sent")
        .where(deliveries.c.nudge_id == nudges.c.id)
        .exists()
    )
    acted = nudges.c.acted_at.is_not(None)
    query = (
        sa.select(
            nudges.c.rule,
            nudges.c.channel,
            sa.func.count().label("created"),
            _count_if(sent).label("delivered"),
            *(_count_if(nudges.c.status == s).label(s) for s in STATUSES),
            _count_if(acted | nudges.c.seen_at.is_not(None)).label("engaged"),
            _count_if(acted & nudges.c.delivered_at.is_not(None)).label("acted"),
            _seconds_to_action(conn).label("seconds_to_action"),
        )
        .where((nudges.c.created_at >= since) & (nudges.c.status != "suppressed"))
        .group_by(nudges.c.rule, nudges.c.channel)
        .order_by(nudges.c.rule, nudges.c.channel)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def _seconds_to_action(conn: sa.Connection) -> sa.ColumnElement[float]:
    acted, shown = nudges.c.acted_at, nudges.c.delivered_at
    gap: Any
    if conn.dialect.name == "postgresql":
        gap = sa.func.extract("epoch", acted - shown)
    else:  # SQLite keeps instants as ISO text
        gap = (sa.func.julianday(acted) - sa.func.julianday(shown)) * 86_400.0
    return sa.func.coalesce(
        sa.func.sum(sa.case((acted.is_not(None) & shown.is_not(None), gap), else_=0.0)), 0.0
    )


def nudges_off(conn: sa.Connection) -> tuple[int, int]:
    """(users who turned proactive nudges or the agent off, all users)."""
    off = (preferences.c.data["proactive"].as_boolean().is_(False)) | (
        preferences.c.data["agent"].as_boolean().is_(False)
    )
    turned_off = conn.execute(
        sa.select(sa.func.count()).select_from(preferences).where(off)
    ).scalar_one()
    total = conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
    return int(turned_off), int(total)
