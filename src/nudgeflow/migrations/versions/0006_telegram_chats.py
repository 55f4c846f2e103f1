"""telegram chats: which user a chat is, by primary key, and the bot's state with the chat

Until now the bot found a chat's user by scanning `users.addresses->>'telegram'` on every update,
and kept its conversation state (`timezone_confirmed`, `telegram_pending`) in the user's
traits, which the host app replaces. The backfill makes a row for every Telegram address: a
chat two users claimed goes to the one updated last (the user the bot answered as), and the
other's address is dropped, as linking did; the two traits move into the row.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import nudgeflow.store.schema

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC_TIME = nudgeflow.store.schema.UTCDateTime(timezone=True)
CONFIRMED, PENDING = "timezone_confirmed", "telegram_pending"  # the traits the bot used

users = sa.table(
    "users",
    sa.column("id", sa.String),
    sa.column("traits", JSON),
    sa.column("addresses", JSON),
    sa.column("updated_at", UTC_TIME),
)
chats = sa.table(
    "telegram_chats",
    sa.column("chat_id", sa.String),
    sa.column("user_id", sa.String),
    sa.column("linked_at", UTC_TIME),
    sa.column("timezone_confirmed", sa.Boolean),
    sa.column("pending", JSON),
)


def upgrade() -> None:
    op.create_table(
        "telegram_chats",
        sa.Column("chat_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("linked_at", UTC_TIME, nullable=False),
        sa.Column("timezone_confirmed", sa.Boolean(), nullable=True),
        sa.Column("pending", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_telegram_chats_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_telegram_chats")),
        sa.UniqueConstraint("user_id", name=op.f("uq_telegram_chats_user_id")),
    )
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    claimed = (
        sa.select(users.c.id, users.c.traits, users.c.addresses, users.c.updated_at)
        .where(users.c.addresses["telegram"].as_string().is_not(None))
        .order_by(users.c.updated_at.desc(), users.c.id)
    )
    owners: set[str] = set()
    rows, rewrites = [], []
    for user_id, traits, addresses, updated_at in conn.execute(claimed):
        chat = str(addresses["telegram"])
        state = {k: v for k, v in traits.items() if k not in (CONFIRMED, PENDING)}
        if chat in owners:  # someone updated later has it
            rewrites.append(_rewrite(user_id, traits, {**addresses, "telegram": None}))
            continue
        owners.add(chat)
        pending = traits.get(PENDING)
        confirmed = traits.get(CONFIRMED)
        rows.append({"chat_id": chat, "user_id": user_id, "linked_at": updated_at,
                     "timezone_confirmed": confirmed if isinstance(confirmed, bool) else None,
                     "pending": pending if isinstance(pending, list) else []})  # fmt: skip
        if state != traits:
            rewrites.append(_rewrite(user_id, state, addresses))
    if rows:
        conn.execute(chats.insert(), rows)
    if rewrites:
        conn.execute(users.update().where(users.c.id == sa.bindparam("uid")), rewrites)


def _rewrite(user_id: str, traits: dict[str, Any], addresses: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in addresses.items() if v is not None}
    return {"uid": user_id, "traits": traits, "addresses": kept}


def downgrade() -> None:
    """The state goes back into the traits, where the code before 0006 reads it."""
    conn = op.get_bind()
    found = sa.select(chats.c.user_id, chats.c.timezone_confirmed, chats.c.pending, users.c.traits)
    found = found.join_from(chats, users, users.c.id == chats.c.user_id)
    back = []
    for user_id, confirmed, pending, traits in conn.execute(found):
        state = {CONFIRMED: confirmed, PENDING: pending or None}
        restored = {**traits, **{k: v for k, v in state.items() if v is not None}}
        if restored != traits:
            back.append({"uid": user_id, "traits": restored})
    if back:
        conn.execute(users.update().where(users.c.id == sa.bindparam("uid")), back)
    op.drop_table("telegram_chats")
