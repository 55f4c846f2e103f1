"""Operator state: organisation kill switches, paused rules, flags, and the audit log that
records every change with who made it and what it was before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nudgeflow.store import dialect
from nudgeflow.store.schema import audit_log, organisations, rule_states, versions


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
    bump_version(conn, "flags")  # the kill switch is part of every worker's flag snapshot
    audit(
        conn,
        actor=actor,
        action="org.agent",
        target=f"org:{org}",
        before=None if before is None else {"agent_enabled": before},
        after={"agent_enabled": agent_enabled},
        now=now,
    )


def switched_off_orgs(conn: sa.Connection) -> frozenset[str]:
    """Organisations whose kill switch is on: few, so every worker keeps them in memory."""
    query = sa.select(organisations.c.id).where(organisations.c.agent_enabled.is_(False))
    return frozenset(conn.execute(query).scalars())


def bump_version(conn: sa.Connection, name: str) -> None:
    """Move counter `name` on, in the transaction of the change it announces."""
    moved = conn.execute(
        sa.update(versions).where(versions.c.name == name).values(value=versions.c.value + 1)
    )
    if moved.rowcount == 0:
        conn.execute(sa.insert(versions).values(name=name, value=1))


def version(conn: sa.Connection, name: str) -> int:
    found = conn.execute(sa.select(versions.c.value).where(versions.c.name == name)).scalar()
    return int(found or 0)


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
