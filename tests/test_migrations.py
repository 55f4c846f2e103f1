"""The migrations build exactly the schema the code describes, and unwind cleanly."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from nudgeflow.store import database
from nudgeflow.store.schema import metadata


def test_migrated_database_matches_the_schema_module(database_url: str) -> None:
    engine = database.connect(database_url)
    database.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_every_migration_downgrades_and_upgrades_again(database_url: str) -> None:
    engine = database.connect(database_url)
    database.upgrade(engine)
    database.downgrade(engine, "base")
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    database.upgrade(engine)
    assert database.is_current(engine)
    engine.dispose()
