"""First answers to requests sent with an Idempotency-Key, kept to replay to their repeats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nudgeflow.store import dialect
from nudgeflow.store.schema import idempotency_keys


def find(conn: sa.Connection, caller: str, key: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            sa.select(idempotency_keys).where(
                (idempotency_keys.c.caller == caller) & (idempotency_keys.c.key == key)
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def keep(
    conn: sa.Connection,
    caller: str,
    key: str,
    *,
    fingerprint: str,
    status: int,
    content_type: str,
    body: bytes,
    now: datetime,
) -> None:
    """Keep the answer; when two repeats raced, the first one kept stays."""
    conn.execute(
        dialect.insert_ignore(conn, idempotency_keys, ["caller", "key"]),
        {"caller": caller, "key": key, "fingerprint": fingerprint, "status": status,
         "content_type": content_type, "body": body, "created_at": now},
    )  # fmt: skip


def forget_before(conn: sa.Connection, before: datetime) -> int:
    """Drop answers kept since before `before` (a day is plenty for retries)."""
    result = conn.execute(sa.delete(idempotency_keys).where(idempotency_keys.c.created_at < before))
    return int(result.rowcount)
