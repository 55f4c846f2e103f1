"""One suite over every back end: each test that takes `engine` runs on SQLite and on
PostgreSQL (from NUDGEFLOW_TEST_POSTGRES_URL; skipped without it unless CI asks for it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from nudgeflow.clock import FrozenClock
from nudgeflow.config import load_settings
from nudgeflow.engine import Engine

PG_URL = os.environ.get("NUDGEFLOW_TEST_POSTGRES_URL")
# A Monday, 08:00 UTC: 09:00 in Berlin, 03:00 in New York, 17:00 in Tokyo.
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nudgeflow.db'}"
        return
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("NUDGEFLOW_TEST_POSTGRES_URL is not set; CI must run the PostgreSQL suite")
        pytest.skip("NUDGEFLOW_TEST_POSTGRES_URL is not set")
    name = f"nf_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        PG_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    base = sa.engine.make_url(PG_URL)
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def engine(database_url: str, clock: FrozenClock) -> Iterator[Engine]:
    eng = Engine(database_url, settings=load_settings(database_url=database_url), clock=clock)
    yield eng
    eng.close()
