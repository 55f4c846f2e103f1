"""Operators change flags: create, update, roll out, allow and deny users, disable, and the
emergency stop. Each change is validated whole before anything is written (a bad value
changes nothing), audited with who and before/after, and announced to every worker."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from nudgeflow.errors import NotFound, UnknownPlan
from nudgeflow.facts import Identifier, Role, parse
from nudgeflow.flag_snapshot import FlagSnapshot
from nudgeflow.flags import Flag
from nudgeflow.store import database
from nudgeflow.store import flags as flag_store

FlagKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]


class FlagDefinition(BaseModel):
    """A flag as operators write it; the key is given apart (the URL, the CLI argument)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    plans: list[str] = Field(default=[], description="Allowed plans; empty: every plan.")
    percentage: int = Field(default=100, ge=0, le=100, description="Rollout, 0–100.")
    allow: list[Identifier] = Field(default=[], description="User ids always on.")
    deny: list[Identifier] = Field(default=[], description="User ids always off (wins).")
    roles: list[Role] = Field(default=[], description="Roles always on, e.g. admin.")
    beta: bool = Field(default=False, description="Only users who opted in (trait beta).")
    group_id: FlagKey | None = Field(default=None, description="Bucketing group; the key if unset.")


class FlagAdmin:
    def __init__(
        self,
        db: sa.Engine,
        *,
        plans: Iterable[str],
        snapshot: FlagSnapshot,
        now: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._plans = frozenset(plans)
        self._snapshot = snapshot
        self._now = now

    def all(self) -> list[dict[str, Any]]:
        with self._db.connect() as conn:
            found = flag_store.load(conn)
        return [flag_store.as_row(found[key]) for key in sorted(found)]

    def get(self, key: str) -> dict[str, Any]:
        with self._db.connect() as conn:
            return flag_store.as_row(self._existing(conn, key))

    def put(
        self, key: str, definition: Mapping[str, Any] | FlagDefinition, *, actor: str
    ) -> dict[str, Any]:
        """Create the flag or replace its whole definition."""
        flag = self._build(key, definition)
        with self._changing() as conn:
            before = flag_store.get(conn, key)
            action = "flag.create" if before is None else "flag.update"
            flag_store.save(conn, flag, before=before, action=action, actor=actor, now=self._now())
        return flag_store.as_row(flag)

    def update(self, key: str, changes: Mapping[str, Any], *, actor: str) -> dict[str, Any]:
        """Change some fields of an existing flag; the others stay."""
        return self._change(key, "flag.update", actor, lambda current: {**current, **changes})

    def rollout(self, key: str, percentage: int, *, actor: str) -> dict[str, Any]:
        return self._change(key, "flag.rollout", actor, lambda d: {**d, "percentage": percentage})

    def allow(
        self, key: str, *, add: Iterable[str] = (), remove: Iterable[str] = (), actor: str
    ) -> dict[str, Any]:
        return self._change(key, "flag.allow", actor, _edit_list("allow", add, remove))

    def deny(
        self, key: str, *, add: Iterable[str] = (), remove: Iterable[str] = (), actor: str
    ) -> dict[str, Any]:
        return self._change(key, "flag.deny", actor, _edit_list("deny", add, remove))

    def disable(self, key: str, *, actor: str) -> dict[str, Any]:
        return self._change(key, "flag.disable", actor, lambda d: {**d, "enabled": False})

    def enable(self, key: str, *, actor: str) -> dict[str, Any]:
        return self._change(key, "flag.enable", actor, lambda d: {**d, "enabled": True})

    def off_all(self, *, actor: str) -> list[str]:
        """The emergency stop: every enabled flag disabled, in one transaction; their keys."""
        with self._changing() as conn:
            stopped = sorted((f for f in flag_store.load(conn).values() if f.enabled), key=_key)
            for before in stopped:
                flag = self._build(before.key, {**_definition(before), "enabled": False})
                flag_store.save(
                    conn, flag, before=before, action="flag.off_all", actor=actor, now=self._now()
                )
        return [f.key for f in stopped]

    def _change(
        self, key: str, action: str, actor: str, edit: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Read, edit and write one flag in one transaction, so concurrent edits serialize."""
        with self._changing() as conn:
            before = flag_store.get(conn, key)
            if before is None:
                raise NotFound("flag", key)
            flag = self._build(key, edit(_definition(before)))
            flag_store.save(conn, flag, before=before, action=action, actor=actor, now=self._now())
        return flag_store.as_row(flag)

    @contextmanager
    def _changing(self) -> Iterator[sa.Connection]:
        """A write transaction; after it commits, this process's snapshot looks again."""
        with database.writer(self._db).begin() as conn:
            yield conn
        self._snapshot.invalidate()

    def _build(self, key: str, definition: Mapping[str, Any] | FlagDefinition) -> Flag:
        """The flag, or InvalidInput naming the bad field before anything is written."""
        parse(_Key, {"key": key})
        valid = parse(FlagDefinition, definition)
        for plan in valid.plans:
            if plan not in self._plans:
                raise UnknownPlan(plan, sorted(self._plans))
        return Flag(key, **valid.model_dump())

    def _existing(self, conn: sa.Connection, key: str) -> Flag:
        found = flag_store.get(conn, key)
        if found is None:
            raise NotFound("flag", key)
        return found


class _Key(BaseModel):
    key: FlagKey


def _definition(flag: Flag) -> dict[str, Any]:
    row = flag_store.as_row(flag)
    del row["key"]
    return row


def _key(flag: Flag) -> str:
    return flag.key


def _edit_list(
    field: str, add: Iterable[str], remove: Iterable[str]
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    adding, removing = set(add), set(remove)
    return lambda d: {**d, field: sorted((set(d[field]) | adding) - removing)}
