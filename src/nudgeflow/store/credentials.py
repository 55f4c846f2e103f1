"""API keys and the installation's own secrets, as rows."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nudgeflow.store import dialect
from nudgeflow.store.schema import api_keys, instance_secrets


def insert_key(
    conn: sa.Connection, key_id: str, *, name: str, admin: bool, secret_hash: str, now: datetime
) -> None:
    conn.execute(
        sa.insert(api_keys).values(
            id=key_id, name=name, admin=admin, secret_hash=secret_hash, created_at=now
        )
    )


def find_key(conn: sa.Connection, key_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).mappings().first()
    return dict(row) if row else None


def list_keys(conn: sa.Connection) -> list[dict[str, Any]]:
    query = sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
    return [dict(row) for row in conn.execute(query).mappings()]


def revoke_key(conn: sa.Connection, key_id: str, now: datetime) -> bool:
    result = conn.execute(
        sa.update(api_keys)
        .where((api_keys.c.id == key_id) & api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount > 0


def instance_secret(conn: sa.Connection, name: str) -> str:
    """The secret `name`, made on first use. Two processes racing keep the first one written."""
    conn.execute(
        dialect.insert_ignore(conn, instance_secrets, ["name"]),
        {"name": name, "value": secrets.token_urlsafe(48)},
    )
    value = conn.execute(
        sa.select(instance_secrets.c.value).where(instance_secrets.c.name == name)
    ).scalar_one()
    return str(value)
