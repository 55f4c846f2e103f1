"""`nudgeflow coach …`: who is due for a coaching message and why, one user's schedule and last
attempts, and running one user's coaching now."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import Any

import click

from nudgeflow.cli import _emit, _engine, at_option, friendly, json_option
from nudgeflow.clock import FrozenClock
from nudgeflow.coaching.budget import usd
from nudgeflow.coaching.schedule import Schedule, current_slot
from nudgeflow.localtime import zone
from nudgeflow.store import coaching as coaching_store
from nudgeflow.store import generation
from nudgeflow.store.database import writer


@click.group()
def coach() -> None:
    """Coaching messages: who is due, one user's schedule, run one now."""


@coach.command()
@at_option
@click.option("--limit", default=100, show_default=True, help="At most this many users.")
@json_option
@friendly
def due(at: datetime | None, limit: int, as_json: bool) -> None:
    """Users whose coaching message is due, and why."""
    engine = _engine(FrozenClock(at) if at else None)
    now = engine.clock.now()
    with engine.db.connect() as conn:
        found = coaching_store.due(conn, now, limit)
    rows = []
    for user_id, timezone, schedule in found:
        slot = current_slot(schedule, timezone, now)
        if slot <= now:
            rows.append({"user_id": user_id, "due": slot, "why": _why(schedule, timezone, slot)})
    _emit(
        rows,
        as_json,
        lambda: "\n".join(f"{r['user_id']}: {r['why']}" for r in rows) or "nobody is due",
    )


@coach.command()
@click.argument("user_id")
@at_option
@json_option
@friendly
def status(user_id: str, at: datetime | None, as_json: bool) -> None:
    """USER's frequency, window, next due time and last attempts."""
    engine = _engine(FrozenClock(at) if at else None)
    user = engine.user(user_id)  # NotFound names an unknown user
    with engine.db.connect() as conn:
        schedule = coaching_store.schedules(conn, [user_id]).get(user_id)
        attempts = generation.attempts_of(conn, user_id, limit=10)
    tz = user.timezone.key
    found: dict[str, Any] = {"user_id": user_id, "timezone": tz, "coaching": schedule is not None}
    if schedule is not None:
        slot = current_slot(schedule, tz, engine.clock.now())
        found |= {"frequency": schedule.frequency, "window": schedule.window,
                  "next_due": slot, "last_due": schedule.last_due}  # fmt: skip
    found["attempts"] = [_attempt(a) for a in attempts]
    _emit(found, as_json, lambda: _status_text(found))


@coach.command()
@click.argument("user_id")
@click.option("--force", is_flag=True, help="Make the message due now, whatever the schedule.")
@at_option
@json_option
@friendly
def run(user_id: str, force: bool, at: datetime | None, as_json: bool) -> None:
    """Decide USER's coaching message now and write it, as the worker would."""
    engine = _engine(FrozenClock(at) if at else None)
    now = engine.clock.now()
    engine.user(user_id)
    with writer(engine.db).begin() as conn:
        schedule = coaching_store.schedules(conn, [user_id]).get(user_id)
        if schedule is None:
            raise click.ClickException(f"{user_id} has coaching off: set preferences.frequency")
        if force:
            coaching_store.put(conn, [(user_id, replace(schedule, next_due=now))], now)
    report = engine.sweep_users([user_id], now)
    decided = [d for _, d in report.decisions if d.rule.generator]
    written = asyncio.run(_write(engine, user_id))
    result = {
        "user_id": user_id,
        "decided": [
            {"rule": d.rule.name, "outcome": d.outcome, "reason": d.reason} for d in decided
        ],
        "written": dict(written),
    }
    _emit(result, as_json, lambda: _run_text(result))


async def _write(engine: Any, user_id: str) -> dict[str, int]:
    """The generation stage's round, for this user's due messages only."""
    from nudgeflow.generation import GenerationWorker  # the LLM SDKs load only when needed

    worker = GenerationWorker(engine)
    try:
        return dict(await worker.run_once(user_id=user_id))
    finally:
        await worker.aclose()


def _why(schedule: Schedule, timezone: str, slot: datetime) -> str:
    local = slot.astimezone(zone(timezone))
    return (
        f"{schedule.frequency.replace('_', ' ')} in the {schedule.window} window; "
        f"due since {local:%a %d %b %H:%M} {timezone}"
    )


def _attempt(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("at", "attempt", "generator", "model", "message_type", "push_text", "rating",
            "recommendation", "sent", "failure_reason", "tokens_in", "tokens_out", "cost",
            "host_ref")  # fmt: skip
    return {key: row[key] for key in keep}


def _status_text(found: dict[str, Any]) -> str:
    tz = zone(found["timezone"])
    if not found["coaching"]:
        lines = [f"{found['user_id']}: coaching is off"]
    else:
        last = found["last_due"]
        lines = [
            f"{found['user_id']}: {found['frequency'].replace('_', ' ')}, {found['window']} window, {found['timezone']}",
            f"  next due {found['next_due'].astimezone(tz):%a %d %b %H:%M}",
            f"  last sent for {last.astimezone(tz):%a %d %b %H:%M}" if last else "  nothing sent yet",
        ]  # fmt: skip
    for a in found["attempts"]:
        rated = f" rated {a['rating']} ({a['recommendation']})" if a["rating"] is not None else ""
        sent = "sent" if a["sent"] else f"not sent: {a['failure_reason']}"
        lines.append(f"  {a['at'].astimezone(tz):%a %d %b %H:%M} #{a['attempt']} {a['generator']} "
                     f"{a['message_type']}{rated}, {usd(a['cost'])}: {sent}")  # fmt: skip
    return "\n".join(lines)


def _run_text(result: dict[str, Any]) -> str:
    if not result["decided"]:
        return f"{result['user_id']}: no coaching message is due (try --force)"
    lines = [f"{d['rule']}: {d['outcome']} ({d['reason']})" for d in result["decided"]]
    written = ", ".join(f"{n} {what}" for what, n in sorted(result["written"].items()))
    if written:
        lines.append(f"generation: {written}")
    elif any(d["outcome"] != "suppressed" for d in result["decided"]):
        lines.append("generation: when its delivery time comes")
    return "\n".join(lines)
