"""Operators, with an admin key: rules, organisations' kill switches, sweeps on demand, the
report of what worked, and the audit log. Every change is audited with the key that made it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from nudgeflow.api.auth import Admin
from nudgeflow.api.problems import documented
from nudgeflow.api.state import EngineDep
from nudgeflow.facts import Identifier, Instant

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=documented(401, 403, 422))

RuleName = Annotated[str, Path(max_length=128)]


class RuleOut(BaseModel):
    rule: str
    playbook: str
    cadence: str
    cooldown: str
    priority: int
    category: str
    channels: list[str]
    counts_toward_cap: bool
    paused: bool
    description: str


class Organisation(BaseModel):
    id: str
    agent_enabled: bool


class OrganisationChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Strict (as the flags and numbers of the API's other bodies): 0, "no" or "off" is refused,
    # not read as false. The schema says boolean; a client sending those has a bug to hear of.
    agent_enabled: StrictBool = Field(description="false silences every user of the organisation.")


class SweepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: StrictBool = False
    at: Instant | None = Field(default=None, description="Sweep at this instant; default now.")


@router.get("/rules", response_model=list[RuleOut])
def rules(engine: EngineDep, _: Admin) -> list[dict[str, Any]]:
    return engine.rule_list()


def _rule(engine: Any, name: str) -> dict[str, Any]:
    return next(r for r in engine.rule_list() if r["rule"] == name)


@router.post("/rules/{name}/pause", response_model=RuleOut, responses=documented(404))
def pause(name: RuleName, engine: EngineDep, who: Admin) -> dict[str, Any]:
    """Stop the rule making nudges, for everyone, until resumed."""
    engine.pause_rule(name, actor=who.name)
    return _rule(engine, name)


@router.post("/rules/{name}/resume", response_model=RuleOut, responses=documented(404))
def resume(name: RuleName, engine: EngineDep, who: Admin) -> dict[str, Any]:
    engine.resume_rule(name, actor=who.name)
    return _rule(engine, name)


@router.get("/orgs/{org}", response_model=Organisation)
def organisation(org: Annotated[Identifier, Path()], engine: EngineDep, _: Admin) -> dict[str, Any]:
    return engine.organisation(org)


@router.put("/orgs/{org}", response_model=Organisation)
def set_organisation(
    org: Annotated[Identifier, Path()], change: OrganisationChange, engine: EngineDep, who: Admin
) -> dict[str, Any]:
    """The kill switch: agent_enabled false silences every user of the organisation."""
    engine.set_org(org, agent_enabled=change.agent_enabled, actor=who.name)
    return engine.organisation(org)


@router.post("/sweeps")
def sweep(engine: EngineDep, _: Admin, request: SweepRequest | None = None) -> dict[str, Any]:
    """Sweep every due user now (or at `at`); a dry run decides and reports, writing nothing."""
    asked = request or SweepRequest()
    report = engine.sweep(asked.at, dry_run=asked.dry_run)
    data = report.as_dict()
    if not asked.dry_run:
        data["delivery"] = engine.deliver_due(asked.at)
    return data


@router.get("/metrics")
def metrics(
    engine: EngineDep,
    _: Admin,
    period: Annotated[Literal["24h", "7d", "30d"], Query()] = "24h",
) -> dict[str, Any]:
    """Per rule and channel, for nudges made in the period: created, delivered, accepted,
    snoozed, dismissed, expired; acceptance, snooze, dismissal and engagement rates; average
    hours to action; and the share of users who turned nudges off."""
    return engine.report(period)


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any
    after: Any


@router.get("/audit", response_model=list[AuditEntry])
def audit(
    engine: EngineDep, _: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    """Every admin change, newest first: who, what, before and after."""
    return engine.audit_log(limit)
