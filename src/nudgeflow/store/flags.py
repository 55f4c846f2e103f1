"""Flags at rest: one row per flag, every change audited with before and after, and the
"flags" version moved on so every worker reloads its snapshot."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nudgeflow.flags import Flag
from nudgeflow.store import dialect
from nudgeflow.store.admin import audit, bump_version
from nudgeflow.store.schema import flags

COLUMNS = ("enabled", "plans", "percentage", "allow", "roles", "deny", "beta", "group_id")


def load(conn: sa.Connection) -> dict[str, Flag]:
    return {row.key: _flag(row) for row in conn.execute(sa.select(flags))}


def get(conn: sa.Connection, key: str) -> Flag | None:
    row = conn.execute(sa.select(flags).where(flags.c.key == key)).first()
    return None if row is None else _flag(row)


def save(
    conn: sa.Connection, flag: Flag, *, before: Flag | None, action: str, actor: str, now: datetime
) -> None:
    """Write `flag` (which was `before`), audit the change as `action`, announce it."""
    row = as_row(flag)
    conn.execute(
        dialect.upsert(conn, flags, ["key"], [*COLUMNS, "updated_at"]), {**row, "updated_at": now}
    )
    audit(
        conn,
        actor=actor,
        action=action,
        target=f"flag:{flag.key}",
        before=None if before is None else as_row(before),
        after=row,
        now=now,
    )
    bump_version(conn, "flags")


def as_row(flag: Flag) -> dict[str, Any]:
    """The flag as plain JSON-able values, lists sorted: the row, the audit, the API."""
    return {
        "key": flag.key,
        "enabled": flag.enabled,
        "plans": sorted(flag.plans),
        "percentage": flag.percentage,
        "allow": sorted(flag.allow),
        "roles": sorted(flag.roles),
        "deny": sorted(flag.deny),
        "beta": flag.beta,
        "group_id": flag.group_id,
    }


def _flag(row: sa.Row[Any]) -> Flag:
    return Flag(
        row.key,
        row.enabled,
        frozenset(row.plans),
        row.percentage,
        frozenset(row.allow),
        roles=frozenset(row.roles),
        deny=frozenset(row.deny),
        beta=row.beta,
        group_id=row.group_id,
    )
