"""Streaming JSONL import of users, events and records.

A file of any size streams through in batches; it never sits in memory whole. Every invalid
line is reported with its line number and field. By default a file with any invalid line
writes nothing; with `skip_invalid` the valid lines are written and the rejects go to a file.
Either way the writes of one file happen in one transaction: all of it or none of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError

from nudgeflow.facts import EventIn, RecordIn, UserIn, describe
from nudgeflow.store import coaching as coaching_store
from nudgeflow.store import facts as fact_store
from nudgeflow.store.database import writer

Kind = Literal["users", "events", "records"]
BATCH = 2000
MODELS: dict[Kind, type[BaseModel]] = {"users": UserIn, "events": EventIn, "records": RecordIn}


@dataclass(frozen=True, slots=True)
class Reject:
    line: int
    field: str
    error: str
    text: str

    def as_json(self) -> str:
        return json.dumps(
            {"line": self.line, "field": self.field, "error": self.error, "input": self.text}
        )

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.error}"


@dataclass
class ImportReport:
    kind: Kind
    lines: int = 0
    written: int = 0
    rejected: int = 0
    rejects: list[Reject] = field(default_factory=list)  # the first few, for the message
    committed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "lines": self.lines,
            "written": self.written,
            "rejected": self.rejected,
            "committed": self.committed,
            "first_rejects": [str(r) for r in self.rejects],
        }


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if text.strip():
                yield number, text.rstrip("\n")


def _parse(model: type[BaseModel], number: int, text: str) -> BaseModel | Reject:
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            return Reject(number, "(line)", "not a JSON object", text)
        return Reject(number, *describe(exc), text)


def _batches(
    path: Path, model: type[BaseModel]
) -> Iterator[list[tuple[int, str, BaseModel | Reject]]]:
    batch: list[tuple[int, str, BaseModel | Reject]] = []
    for number, text in _lines(path):
        batch.append((number, text, _parse(model, number, text)))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class Importer:
    def __init__(self, db: sa.Engine, now: datetime, plans: set[str]) -> None:
        self.db = db
        self.now = now
        self.plans = plans

    def run(
        self,
        kind: Kind,
        path: Path,
        *,
        skip_invalid: bool = False,
        rejects_to: IO[str] | None = None,
    ) -> ImportReport:
        report = ImportReport(kind)
        if not skip_invalid:
            self._scan(kind, path, report, rejects_to)
            if report.rejected:
                return report
            report.lines = 0
        with writer(self.db).begin() as conn:
            for batch in _batches(path, MODELS[kind]):
                valid = self._check(conn, kind, batch, report, rejects_to)
                if report.rejected and not skip_invalid:
                    conn.rollback()  # the file changed under us: still all or nothing
                    report.written = 0
                    return report
                _WRITERS[kind](conn, valid, self.now)
                report.written += len(valid)
        report.committed = True
        return report

    def _scan(
        self, kind: Kind, path: Path, report: ImportReport, rejects_to: IO[str] | None
    ) -> None:
        """A first pass that only validates, so a bad line 900,000 leaves nothing written."""
        with self.db.connect() as conn:
            for batch in _batches(path, MODELS[kind]):
                self._check(conn, kind, batch, report, rejects_to)

    def _check(
        self,
        conn: sa.Connection,
        kind: Kind,
        batch: list[tuple[int, str, BaseModel | Reject]],
        report: ImportReport,
        rejects_to: IO[str] | None,
    ) -> list[Any]:
        missing = self._missing_users(conn, kind, batch)
        valid = []
        for number, text, item in batch:
            report.lines += 1
            reject = item if isinstance(item, Reject) else self._refuse(item, number, text, missing)
            if reject is None:
                valid.append(item)
                continue
            report.rejected += 1
            if len(report.rejects) < 20:
                report.rejects.append(reject)
            if rejects_to is not None:
                rejects_to.write(reject.as_json() + "\n")
        return valid

    def _missing_users(
        self, conn: sa.Connection, kind: Kind, batch: list[tuple[int, str, BaseModel | Reject]]
    ) -> set[str]:
        if kind == "users":
            return set()
        ids = {item.user_id for _, _, item in batch if isinstance(item, EventIn | RecordIn)}
        return fact_store.missing_users(conn, ids)

    def _refuse(self, item: BaseModel, number: int, text: str, missing: set[str]) -> Reject | None:
        if isinstance(item, UserIn) and item.plan not in self.plans:
            return Reject(
                number,
                "plan",
                f"unknown plan {item.plan!r}; known plans: {', '.join(sorted(self.plans))}",
                text,
            )
        if isinstance(item, EventIn | RecordIn) and item.user_id in missing:
            return Reject(number, "user_id", f"no user {item.user_id!r}; import users first", text)
        return None


def _write_users(conn: sa.Connection, batch: Sequence[UserIn], now: datetime) -> None:
    fact_store.upsert_users(conn, batch, now)
    coaching_store.follow_users(conn, batch, now)  # preferences may turn coaching on or off


_WRITERS: dict[Kind, Callable[[sa.Connection, Any, datetime], Any]] = {
    "users": _write_users,
    "events": fact_store.insert_events,
    "records": fact_store.put_records,
}
