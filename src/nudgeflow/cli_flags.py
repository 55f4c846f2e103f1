"""`nudgeflow flags …`: roll the agent out and back from a terminal. Every change is audited
under --actor; a bad value is refused with the field named and nothing changed."""

from __future__ import annotations

from typing import Any

import click

from nudgeflow.cli import _emit, _engine, actor_option, friendly, json_option
from nudgeflow.errors import NotFound


@click.group()
def flags() -> None:
    """Feature flags: who gets the agent, rolled out and back."""


def _describe(flag: dict[str, Any]) -> str:
    state = "on" if flag["enabled"] else "OFF"
    parts = [f"{flag['key']}: {state}, rollout {flag['percentage']}%"]
    for name in ("plans", "roles", "allow", "deny"):
        if flag[name]:
            parts.append(f"{name} {', '.join(flag[name])}")
    if flag["beta"]:
        parts.append("beta opt-in only")
    if flag["group_id"]:
        parts.append(f"group {flag['group_id']}")
    return "; ".join(parts)


def _show(flag: dict[str, Any], as_json: bool) -> None:
    _emit(flag, as_json, lambda: _describe(flag))


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [n.strip() for n in value.split(",") if n.strip()]


@flags.command("list")
@json_option
@friendly
def list_flags(as_json: bool) -> None:
    """Every flag and its state."""
    found = _engine().flags.all()
    _emit(found, as_json, lambda: "\n".join(map(_describe, found)) or "no flags")


@flags.command()
@click.argument("key")
@json_option
@friendly
def show(key: str, as_json: bool) -> None:
    """Flag KEY's definition."""
    _show(_engine().flags.get(key), as_json)


@flags.command("set")
@click.argument("key")
@click.option("--enabled/--disabled", default=None, help="On or off as a whole.")
@click.option("--plans", help="Allowed plans, comma-separated; '' for every plan.")
@click.option("--roles", help="Roles always on, comma-separated (user, admin, super_admin).")
@click.option("--percentage", type=int, help="Rollout, 0–100.")
@click.option("--beta/--no-beta", default=None, help="Only users who opted in.")
@click.option("--group-id", help="Bucketing group (default: the key).")
@actor_option
@json_option
@friendly
def set_flag(key: str, actor: str, as_json: bool, **given: Any) -> None:
    """Create flag KEY or change the fields given; the others stay."""
    changes = {name: value for name, value in given.items() if value is not None}
    for name in ("plans", "roles"):
        if name in changes:
            changes[name] = _names(changes[name])
    admin = _engine().flags
    try:
        made = admin.update(key, changes, actor=actor)
    except NotFound:
        made = admin.put(key, changes, actor=actor)
    _show(made, as_json)


@flags.command()
@click.argument("key")
@click.argument("percentage", type=int)
@actor_option
@json_option
@friendly
def rollout(key: str, percentage: int, actor: str, as_json: bool) -> None:
    """Roll KEY out to PERCENTAGE of users; those in stay in as it grows."""
    _show(_engine().flags.rollout(key, percentage, actor=actor), as_json)


@flags.command()
@click.argument("key")
@click.argument("user_ids", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Take the users off the allow-list.")
@actor_option
@json_option
@friendly
def allow(key: str, user_ids: tuple[str, ...], remove: bool, actor: str, as_json: bool) -> None:
    """Put USER_IDS on KEY's allow-list (always on), or take them off with --remove."""
    change = {"remove": user_ids} if remove else {"add": user_ids}
    _show(_engine().flags.allow(key, **change, actor=actor), as_json)


@flags.command()
@click.argument("key")
@click.argument("user_ids", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Take the users off the deny-list.")
@actor_option
@json_option
@friendly
def deny(key: str, user_ids: tuple[str, ...], remove: bool, actor: str, as_json: bool) -> None:
    """Put USER_IDS on KEY's deny-list (always off), or take them off with --remove."""
    change = {"remove": user_ids} if remove else {"add": user_ids}
    _show(_engine().flags.deny(key, **change, actor=actor), as_json)


@flags.command()
@click.argument("key")
@actor_option
@json_option
@friendly
def disable(key: str, actor: str, as_json: bool) -> None:
    """Turn KEY off for everyone."""
    _show(_engine().flags.disable(key, actor=actor), as_json)


@flags.command()
@click.argument("key")
@actor_option
@json_option
@friendly
def enable(key: str, actor: str, as_json: bool) -> None:
    """Turn KEY back on, with its targeting as it was."""
    _show(_engine().flags.enable(key, actor=actor), as_json)


@flags.command()
@click.option("--all", "everything", is_flag=True, required=True, help="Every flag.")
@actor_option
@json_option
@friendly
def off(everything: bool, actor: str, as_json: bool) -> None:
    """The emergency stop: `nudgeflow flags off --all` turns every flag off at once."""
    del everything  # required, so the stop is never typed by accident
    stopped = _engine().flags.off_all(actor=actor)
    _emit({"disabled": stopped}, as_json, lambda: f"turned off: {', '.join(stopped) or 'none'}")


@flags.command()
@click.argument("key")
@click.argument("user_id")
@json_option
@friendly
def evaluate(key: str, user_id: str, as_json: bool) -> None:
    """Whether KEY is on for USER_ID, and why."""
    answer = _engine().evaluate_flag(key, user_id)
    data = {"on": answer.on, "reason": answer.reason, "rule": answer.rule}
    _emit(data, as_json, lambda: f"{'on' if answer.on else 'off'}: {answer.reason}")
