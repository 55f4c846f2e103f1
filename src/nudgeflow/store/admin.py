"""Operator state: organisation kill switches, paused rules, flags, and the audit log that
records every change with who made it and what it was before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nudgeflow.flags import Flag
from nudgeflow.store import dialect
from nudgeflow.store.schema import audit_log, flags, organisations, rule_states


def audit(
    conn: sa.Connection,
    *,
    actor: str,
    action: str,
    target: str,
    before: Any,
    after: Any,
    now: datetime,
) -> None:
    conn.execute(
        sa.insert(audit_log).values(
            at=now, actor=actor, action=action, target=target, before=before, after=after
        )
    )


def audit_entries(conn: sa.Connection, limit: int = 100) -> list[dict[str, Any]]:
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    return [dict(row) for row in conn.execute(query).mappings()]


def set_org(
    conn: sa.Connection, org: str, agent_enabled: bool, *, actor: str, now: datetime
) -> None:
    before = conn.execute(
        sa.select(organisations.c.agent_enabled).where(organisations.c.id == org)
    ).scalar()
    conn.execute(
        dialect.upsert(conn, organisations, ["id"], ["agent_enabled", "updated_at"]),
        {"id": org, "agent_enabled": agent_enabled, "updated_at": now},
    )
    audit(
        conn,
        actor=actor,
        action="org.agent",
        target=f"org:{org}",
        before=None if before is None else {"agent_enabled": before},
        after={"agent_enabled": agent_enabled},
        now=now,
    )


def org_enabled(conn: sa.Connection, org: str) -> bool:
    enabled = conn.execute(
        sa.select(organisations.c.agent_enabled).where(organisations.c.id == org)
    ).scalar()
    return True if enabled is None else bool(enabled)


def paused_rules(conn: sa.Connection) -> frozenset[str]:
    return frozenset(
        conn.execute(sa.select(rule_states.c.rule).where(rule_states.c.paused)).scalars()
    )


def set_rule_paused(
    conn: sa.Connection, rule: str, paused: bool, *, actor: str, now: datetime
) -> None:
    before = conn.execute(
        sa.select(rule_states.c.paused).where(rule_states.c.rule == rule)
    ).scalar()
    conn.execute(
        dialect.upsert(conn, rule_states, ["rule"], ["paused", "updated_at", "updated_by"]),
        {"rule": rule, "paused": paused, "updated_at": now, "updated_by": actor},
    )
    audit(
        conn,
        actor=actor,
        action="rule.pause" if paused else "rule.resume",
        target=f"rule:{rule}",
        before={"paused": bool(before)},
        after={"paused": paused},
        now=now,
    )


def load_flags(conn: sa.Connection) -> dict[str, Flag]:
    return {
        row.key: Flag(
            row.key, row.enabled, frozenset(row.plans), row.percentage, frozenset(row.allow)
        )
        for row in conn.execute(sa.select(flags))
    }


def set_flag(conn: sa.Connection, flag: Flag, *, actor: str, now: datetime) -> None:
    before = load_flags(conn).get(flag.key)
    row = _flag_row(flag)
    conn.execute(
        dialect.upsert(
            conn, flags, ["key"], ["enabled", "plans", "percentage", "allow", "updated_at"]
        ),
        {**row, "updated_at": now},
    )
    audit(
        conn,
        actor=actor,
        action="flag.set",
        target=f"flag:{flag.key}",
        before=_flag_row(before) if before else None,
        after=row,
        now=now,
    )


def _flag_row(flag: Flag) -> dict[str, Any]:
    return {
        "key": flag.key,
        "enabled": flag.enabled,
        "plans": sorted(flag.plans),
        "percentage": flag.percentage,
        "allow": sorted(flag.allow),
    }
