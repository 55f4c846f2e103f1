"""delivery attempts: leases, provider ids, ambiguity; unreachable addresses

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 04:13:43.938870
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nudgeflow.store.schema

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unreachable",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", nudgeflow.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_unreachable_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "channel", name=op.f("pk_unreachable")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "lease_until", nudgeflow.store.schema.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("provider_id", sa.String(length=256), nullable=True))
        batch_op.add_column(
            sa.Column("sent_at", nudgeflow.store.schema.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("ambiguous", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("ambiguous")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("provider_id")
        batch_op.drop_column("lease_until")

    op.drop_table("unreachable")
