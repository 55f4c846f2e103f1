"""flag rollout: roles, deny-list, beta, group id; the version counter workers watch

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("roles", JSON, server_default=sa.text("'[]'"), nullable=False)
        )
        batch_op.add_column(sa.Column("deny", JSON, server_default=sa.text("'[]'"), nullable=False))
        batch_op.add_column(
            sa.Column("beta", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("group_id", sa.String(length=128), nullable=True))
    versions = op.create_table(
        "versions",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_versions")),
    )
    op.bulk_insert(versions, [{"name": "flags", "value": 1}])


def downgrade() -> None:
    op.drop_table("versions")
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_column("group_id")
        batch_op.drop_column("beta")
        batch_op.drop_column("deny")
        batch_op.drop_column("roles")
