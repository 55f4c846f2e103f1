"""Operators roll flags out with an admin key: create, change, roll out, allow and deny users,
disable, and stop everything at once. Every change is audited with the key that made it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from nudgeflow.api.auth import Admin
from nudgeflow.api.problems import documented
from nudgeflow.api.state import EngineDep
from nudgeflow.facts import Identifier, Role
from nudgeflow.flag_admin import FlagDefinition, FlagKey

router = APIRouter(
    prefix="/v1/admin/flags", tags=["flags"], responses=documented(401, 403, 404, 422)
)

Key = Annotated[FlagKey, Path(description="The flag's key.")]


class FlagOut(FlagDefinition):
    key: str


class FlagPatch(BaseModel):
    """Only the fields given change."""

    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool | None = None
    plans: list[str] | None = None
    percentage: StrictInt | None = Field(default=None, ge=0, le=100)
    allow: list[Identifier] | None = None
    deny: list[Identifier] | None = None
    roles: list[Role] | None = None
    beta: StrictBool | None = None
    group_id: FlagKey | None = None


class Rollout(BaseModel):
    model_config = ConfigDict(extra="forbid")
    percentage: StrictInt = Field(ge=0, le=100, description="Users whose bucket is at most this.")


class ListChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    add: list[Identifier] = []
    remove: list[Identifier] = []


class Stopped(BaseModel):
    disabled: list[str] = Field(description="The flags that were on and are now off.")


class FlagAnswer(BaseModel):
    on: bool
    reason: str
    rule: str


@router.get("", response_model=list[FlagOut])
def flags(engine: EngineDep, _: Admin) -> list[dict[str, Any]]:
    return engine.flags.all()


@router.post("/off-all", response_model=Stopped)
def off_all(engine: EngineDep, who: Admin) -> dict[str, Any]:
    """The emergency stop: every flag that is on goes off, in one change."""
    return {"disabled": engine.flags.off_all(actor=who.name)}


@router.get("/{key}", response_model=FlagOut)
def flag(key: Key, engine: EngineDep, _: Admin) -> dict[str, Any]:
    return engine.flags.get(key)


@router.put("/{key}", response_model=FlagOut)
def put_flag(key: Key, definition: FlagDefinition, engine: EngineDep, who: Admin) -> dict[str, Any]:
    """Create the flag or replace its whole definition."""
    return engine.flags.put(key, definition, actor=who.name)


@router.patch("/{key}", response_model=FlagOut)
def patch_flag(key: Key, patch: FlagPatch, engine: EngineDep, who: Admin) -> dict[str, Any]:
    return engine.flags.update(key, patch.model_dump(exclude_unset=True), actor=who.name)


@router.post("/{key}/rollout", response_model=FlagOut)
def rollout(key: Key, change: Rollout, engine: EngineDep, who: Admin) -> dict[str, Any]:
    """Raising the percentage only adds users; lowering it removes only those above it."""
    return engine.flags.rollout(key, change.percentage, actor=who.name)


@router.post("/{key}/allow", response_model=FlagOut)
def allow(key: Key, change: ListChange, engine: EngineDep, who: Admin) -> dict[str, Any]:
    return engine.flags.allow(key, add=change.add, remove=change.remove, actor=who.name)


@router.post("/{key}/deny", response_model=FlagOut)
def deny(key: Key, change: ListChange, engine: EngineDep, who: Admin) -> dict[str, Any]:
    return engine.flags.deny(key, add=change.add, remove=change.remove, actor=who.name)


@router.post("/{key}/disable", response_model=FlagOut)
def disable(key: Key, engine: EngineDep, who: Admin) -> dict[str, Any]:
    return engine.flags.disable(key, actor=who.name)


@router.post("/{key}/enable", response_model=FlagOut)
def enable(key: Key, engine: EngineDep, who: Admin) -> dict[str, Any]:
    return engine.flags.enable(key, actor=who.name)


@router.get("/{key}/evaluate", response_model=FlagAnswer)
def evaluate(
    key: Key, user_id: Annotated[Identifier, Query()], engine: EngineDep, _: Admin
) -> dict[str, Any]:
    """The flag for one user, with the rule that decided and why."""
    answer = engine.evaluate_flag(key, user_id)
    return {"on": answer.on, "reason": answer.reason, "rule": answer.rule}
