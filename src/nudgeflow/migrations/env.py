"""Alembic environment: runs against the engine nudgeflow hands over (see store.database)."""

from __future__ import annotations

from alembic import context

from nudgeflow.store.database import connect
from nudgeflow.store.schema import metadata

config = context.config
engine = config.attributes.get("engine") or connect(config.get_main_option("sqlalchemy.url") or "")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
