"""Fallback: an in-app nudge its user has not seen within the rule's `fallback.after` goes out
on the fallback channel too (`@playbook.rule(fallback=("email", "4h"))`), through the same
policy (policy.fall_back) and the same outbox. Each nudge is considered once: when the policy
says no, a cancelled delivery records why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nudgeflow.config import Settings
from nudgeflow.evaluation import build_user, context, parse_preferences
from nudgeflow.flags import FlagGate
from nudgeflow.ids import new_id
from nudgeflow.policy import History, fall_back
from nudgeflow.rules import Rule
from nudgeflow.store import admin, dialect, nudges, sweeps
from nudgeflow.store.schema import deliveries


def fall_back_due(
    conn: sa.Connection,
    rules: list[Rule],
    settings: Settings,
    now: datetime,
    limit: int,
    *,
    flags: FlagGate,
) -> int:
    """Queue the fallbacks due now for up to `limit` nudges per rule; how many were queued."""
    paused = admin.paused_rules(conn)
    queued = 0
    for rule in (r for r in rules if r.fallback is not None):
        assert rule.fallback is not None
        due = nudges.unseen(
            conn, rule.name, rule.fallback.channel, now - rule.fallback.after, limit
        )
        if not due:
            continue
        ids = sorted({n["user_id"] for n in due})
        users = {row.id: build_user(row) for row in sweeps.load_users(conn, ids)}
        prefs = sweeps.load_preferences(conn, ids)
        rows = []
        for nudge in due:
            user = users[nudge["user_id"]]
            ctx = context(user, parse_preferences(prefs.get(user.id)), settings=settings,
                          org_enabled=admin.org_enabled(conn, user.org) if user.org else True,
                          flags=flags, paused=paused, history=History.of(()))  # fmt: skip
            at, trace = fall_back(ctx, rule, nudge["expires_at"], now)
            rows.append(_delivery(nudge["id"], rule.fallback.channel, at, trace[-1], now))
            queued += at is not None
        conn.execute(dialect.insert_ignore(conn, deliveries, ["nudge_id", "channel"]), rows)
    return queued


def _delivery(
    nudge_id: str, channel: str, at: datetime | None, last: Any, now: datetime
) -> dict[str, Any]:
    return {"id": new_id("d"), "nudge_id": nudge_id, "channel": channel,
            "status": "pending" if at else "cancelled", "next_attempt_at": at, "attempts": 0,
            "last_error": None if at else f"fallback: {last.name}: {last.detail}",
            "created_at": now, "updated_at": now, "ambiguous": False}  # fmt: skip
