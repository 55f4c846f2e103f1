"""Loading the demo career population fast enough for a million users.

`Engine.upsert_users` validates each fact and is what applications use; a benchmark needs
13 million rows in minutes, so here the same demo facts go straight to the tables: SQLite
through executemany, PostgreSQL through COPY.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import orjson
import sqlalchemy as sa

from nudgeflow.demo import DemoUser, population
from nudgeflow.facts import Preferences
from nudgeflow.store import bulk, database
from nudgeflow.store.schema import events, preferences, records, users

CHUNK = 20_000


def load(engine: sa.Engine, count: int, *, seed: int, now: datetime) -> None:
    """Create the schema and load `count` demo users, all due at `now`."""
    database.upgrade(engine)
    people = population(count, seed=seed, now=now)
    with engine.begin() as conn:
        while chunk := list(islice(people, CHUNK)):
            for table, rows in _rows(chunk, now).items():
                _write(conn, table, rows)


def _rows(chunk: Sequence[DemoUser], now: datetime) -> dict[sa.Table, list[tuple[Any, ...]]]:
    out: dict[sa.Table, list[tuple[Any, ...]]] = {
        users: [],
        preferences: [],
        records: [],
        events: [],
    }
    for person in chunk:
        u = person.user
        out[users].append(
            (u["id"], u["plan"], u["org"], u["role"], u["timezone"], u["locale"], u["traits"],
             u["addresses"], now, now, now, now, None, 0)
        )  # fmt: skip
        if "preferences" in u:
            prefs = Preferences.model_validate(u["preferences"]).model_dump(mode="json")
            out[preferences].append((u["id"], prefs, now))
        for r in person.records:
            out[records].append(
                (r["user_id"], r["kind"], r["key"], r["props"], _instant(r["updated_at"]))
            )
        for e in person.events:
            out[events].append(
                (e["user_id"], e["id"], e["name"], _instant(e["at"]), e.get("props", {}), now)
            )
    return out


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _write(conn: sa.Connection, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
    if conn.dialect.name == "sqlite":
        bulk.insert_rows(conn, table, rows)
        return
    json_columns = [i for i, c in enumerate(table.columns) if isinstance(c.type, sa.JSON)]
    names = ", ".join(c.name for c in table.columns)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in _json_as_text(rows, json_columns):
            copy.write_row(row)


def _json_as_text(rows: list[tuple[Any, ...]], columns: list[int]) -> Iterator[list[Any]]:
    for row in rows:
        values = list(row)
        for i in columns:
            values[i] = orjson.dumps(values[i]).decode()
        yield values
