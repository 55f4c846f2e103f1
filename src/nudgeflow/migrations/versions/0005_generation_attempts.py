"""generation attempts: generated content, its rating, cost, and what it settled

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 07:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import nudgeflow.store.schema

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC_TIME = nudgeflow.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "generation_attempts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("nudge_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("generator", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("message_type", sa.String(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("push_text", sa.Text(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("recommendation", sa.String(length=8), nullable=True),
        sa.Column("context", JSON, nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("host_ref", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["nudge_id"],
            ["nudges.id"],
            name=op.f("fk_generation_attempts_nudge_id_nudges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_generation_attempts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation_attempts")),
    )
    op.create_index("ix_generation_attempts_nudge_id", "generation_attempts", ["nudge_id"])
    op.create_index("ix_generation_attempts_user_id_at", "generation_attempts", ["user_id", "at"])
    op.create_index("ix_generation_attempts_at", "generation_attempts", ["at"])


def downgrade() -> None:
    op.drop_table("generation_attempts")
