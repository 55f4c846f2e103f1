"""The little that differs between SQLite and PostgreSQL, in one place."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT that supports ON CONFLICT on the connection's database."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    keys: list[str],
    columns: list[str],
    also: dict[str, Any] | None = None,
) -> Any:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET columns = the new values, plus `also`."""
    stmt = insert(conn, table)
    return stmt.on_conflict_do_update(
        index_elements=keys,
        set_={**{name: stmt.excluded[name] for name in columns}, **(also or {})},
    )


def insert_ignore(conn: sa.Connection, table: sa.Table, keys: list[str]) -> Any:
    """INSERT … ON CONFLICT (keys) DO NOTHING."""
    return insert(conn, table).on_conflict_do_nothing(index_elements=keys)
