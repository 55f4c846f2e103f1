"""Connections: SQLite in WAL mode (the embedded default) or PostgreSQL through psycopg 3.

SQLite has one writer: write transactions open with BEGIN IMMEDIATE so two writers queue on
the busy timeout instead of failing half-way; reads stay plain deferred transactions.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg.types.json import set_json_loads
from sqlalchemy.engine import Engine

WRITE = "nudgeflow_write"


def connect(url: str) -> Engine:
    """An engine for `url`, tuned for its database. Plain `sqlite:///path` and
    `postgresql://…` URLs get the drivers nudgeflow ships with."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite(url)
    # Sessions in UTC: instants come back as UTC datetimes, as on SQLite.
    engine = sa.create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        connect_args={"options": "-c timezone=UTC"},
    )

    @sa.event.listens_for(engine, "connect")
    def _json(dbapi_connection: Any, _record: Any) -> None:
        set_json_loads(read_json, dbapi_connection)  # this connection's jsonb only

    return engine


def read_json(text: str | bytes) -> Any:
    """JSON columns as the hot paths read them (claims, sweeps): orjson, several times faster
    than the standard library; what orjson refuses (NaN, which json.dumps writes) goes to
    the standard library."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _sqlite(url: str) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False},
        json_deserializer=read_json,
    )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we say BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def writer(engine: Engine) -> Engine:
    """The same engine, marked so its transactions take SQLite's write lock up front."""
    return engine.execution_options(**{WRITE: True})


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("nudgeflow") / "migrations"))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo migrations down to `revision` ("base": all of them)."""
    command.downgrade(_alembic_config(engine), revision)


def is_current(engine: Engine) -> bool:
    """Whether every migration has been applied."""
    script = ScriptDirectory.from_config(_alembic_config(engine))
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == set(script.get_heads())
