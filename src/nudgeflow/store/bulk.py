"""Raw driver statements for the sweep's hot path.

SQLAlchemy's per-value bind and result processing costs more than the database itself when a
sweep writes a hundred thousand rows; here rows go to the driver's executemany as tuples,
with only the instants and JSON adapted, the way the column types in `schema` store them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
import sqlalchemy as sa
from psycopg.types.json import Jsonb

from nudgeflow.store.schema import UTCDateTime


class Codec:
    """How one database takes and gives back instants and JSON (SQLite: ISO text and JSON
    text, as `schema.UTCDateTime` and `sa.JSON` write them; PostgreSQL: native types)."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        self.marker = "?" if self.sqlite else "%s"
        self._last: tuple[datetime | None, Any] = (None, None)

    def instant(self, value: datetime | None) -> Any:
        if value is None or not self.sqlite:
            return value
        last, text = self._last
        if value is last:  # a batch stamps many rows with the same `now`
            return text
        text = value.astimezone(UTC).isoformat(timespec="microseconds")
        self._last = (value, text)
        return text

    def json(self, value: Any) -> Any:
        return orjson.dumps(value).decode() if self.sqlite else Jsonb(value)

    @staticmethod
    def read_instant(value: Any) -> datetime:
        at: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return at if at.tzinfo is UTC else at.astimezone(UTC)

    @staticmethod
    def read_json(value: Any) -> Any:
        return orjson.loads(value) if isinstance(value, str) else value


@cache
def _codec(dialect: str) -> Codec:
    return Codec(dialect)


def codec(conn: sa.Connection) -> Codec:
    return _codec(conn.dialect.name)


def insert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[tuple[Any, ...]]) -> None:
    """INSERT rows of plain Python values, one per column of `table` in order, in one
    executemany."""
    if not rows:
        return
    adapt = codec(conn)
    adapters = _adapters(table, adapt)
    if adapters:
        rows = [_adapted(row, adapters) for row in rows]
    names = ", ".join(c.name for c in table.columns)
    markers = ", ".join([adapt.marker] * len(table.columns))
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({markers})", list(rows))


def _adapted(
    row: tuple[Any, ...], adapters: Sequence[tuple[int, Callable[[Any], Any]]]
) -> tuple[Any, ...]:
    values = list(row)
    for index, adapt in adapters:
        if values[index] is not None:
            values[index] = adapt(values[index])
    return tuple(values)


def _adapters(table: sa.Table, adapt: Codec) -> list[tuple[int, Callable[[Any], Any]]]:
    found: list[tuple[int, Callable[[Any], Any]]] = []
    for index, column in enumerate(table.columns):
        if isinstance(column.type, UTCDateTime):
            if adapt.sqlite:
                found.append((index, adapt.instant))
        elif isinstance(column.type, sa.JSON):
            found.append((index, adapt.json))
    return found
