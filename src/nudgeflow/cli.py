"""The operator CLI: `nudgeflow --help`. Every command whose output is data takes --json."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
import structlog

from nudgeflow.clock import FrozenClock, SystemClock, parse_instant
from nudgeflow.errors import ConfigError, NudgeflowError
from nudgeflow.rules import describe_duration

F = TypeVar("F", bound=Callable[..., Any])


def _engine(clock: FrozenClock | None = None) -> Any:
    from nudgeflow.engine import Engine

    return Engine(clock=clock or SystemClock())


def _instant(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _emit(data: Any, as_json: bool, text: Callable[[], str]) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text())


def friendly(command: F) -> F:
    """Our errors become one clear line and a non-zero exit, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"nudgeflow: {exc}", err=True)
            sys.exit(2)
        except NudgeflowError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
actor_option = click.option(
    "--actor", default="cli", show_default=True, help="Who, for the audit log."
)
at_option = click.option(
    "--at", callback=_instant, help="Run at this ISO 8601 instant instead of now."
)


@click.group()
@click.version_option(package_name="nudgeflow")
def main() -> None:
    """nudgeflow: decide when to reach out to each user, and never spam them.

    The database is NUDGEFLOW_DATABASE_URL (default: sqlite:///nudgeflow.db here)."""
    # Logs go to stderr, so what a command prints (--json above all) stays clean on stdout.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))


@main.group()
def db() -> None:
    """The database schema."""


@db.command()
@friendly
def upgrade() -> None:
    """Apply every pending migration."""
    from nudgeflow.engine import Engine

    engine = Engine(migrate=True)
    click.echo(f"database at {engine.db.url.render_as_string(hide_password=True)} is up to date")


@main.command()
@click.option("--users", default=200, show_default=True, help="How many demo users.")
@click.option("--seed", default=7, show_default=True, help="Same seed, same population.")
@click.option(
    "--hours", default=24, show_default=True, help="Hours of sweeps to simulate, ending now."
)
@json_option
@friendly
def demo(users: int, seed: int, hours: int, as_json: bool) -> None:
    """Load the career demo and run a day of hourly sweeps up to now, printing the decisions."""
    from nudgeflow.demo_run import run_demo

    end = SystemClock().now().replace(minute=0, second=0, microsecond=0)
    clock = FrozenClock(end - timedelta(hours=hours))
    engine = _engine(clock)
    result = run_demo(
        engine, clock, users=users, seed=seed, until=end, echo=None if as_json else click.echo
    )
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))


@main.command()
@at_option
@click.option("--dry-run", is_flag=True, help="Decide and report, write nothing.")
@json_option
@friendly
def sweep(at: datetime | None, dry_run: bool, as_json: bool) -> None:
    """Look at every due user once, then show due in-app nudges in their inbox."""
    engine = _engine()
    report = engine.sweep(at, dry_run=dry_run)
    data = report.as_dict()
    if not dry_run:
        data["delivery"] = engine.deliver_due(at)
    _emit(data, as_json, lambda: _sweep_text(data))


def _sweep_text(data: dict[str, Any]) -> str:
    suppressed = ", ".join(f"{k} {v}" for k, v in data["suppressed"].items()) or "none"
    lines = [
        f"sweep at {data['at']}{' (dry run)' if data['dry_run'] else ''}",
        f"  users evaluated  {data['users_evaluated']}",
        f"  candidates       {data['candidates']}",
        f"  scheduled        {data['scheduled']}",
        f"  deferred         {data['deferred']}",
        f"  suppressed       {sum(data['suppressed'].values())} ({suppressed})",
        f"  rule errors      {data['rule_errors']}",
        f"  duration         {data['seconds']} s",
    ]
    if "delivery" in data:
        lines.append(
            f"  delivered in app {data['delivery']['delivered_in_app']}, expired {data['delivery']['expired']}"
        )
    return "\n".join(lines)


@main.command()
@click.argument("user_id")
@at_option
@json_option
@friendly
def explain(user_id: str, at: datetime | None, as_json: bool) -> None:
    """Why USER_ID did or didn't get each nudge: every rule, candidate and policy step."""
    explanation = _engine().explain(user_id, at)
    _emit(explanation.as_dict(), as_json, explanation.render)


@main.group()
def nudges() -> None:
    """List nudges and act on them."""


@nudges.command("list")
@click.option("--user", "user_id", help="Only this user's nudges.")
@click.option(
    "--status",
    type=click.Choice(
        ["scheduled", "delivered", "accepted", "snoozed", "dismissed", "expired", "suppressed"]
    ),
)
@click.option("--limit", default=50, show_default=True)
@json_option
@friendly
def list_nudges(user_id: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """Newest first."""
    found = [_shape(n) for n in _engine().nudges(user_id=user_id, status=status, limit=limit)]
    _emit(found, as_json, lambda: "\n".join(_nudge_line(n) for n in found) or "no nudges")


def _shape(nudge: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "user_id",
        "rule",
        "status",
        "deliver_at",
        "dedupe_key",
        "score",
        "title",
        "body",
        "action_url",
        "reason",
    )
    shaped = {k: nudge[k] for k in keys}
    shaped["channels"] = [nudge["channel"]] if nudge["channel"] else []
    return shaped


def _nudge_line(n: dict[str, Any]) -> str:
    at = n["deliver_at"].strftime("%Y-%m-%d %H:%M") if n["deliver_at"] else "—"
    return f"{n['id']}  {n['user_id']:<12} {n['rule']:<18} {n['status']:<10} {at}  {n['title']}"


def _action(name: str) -> Callable[..., None]:
    @click.argument("nudge_id")
    @click.option("--user", "user_id", help="Act only if the nudge is this user's.")
    @json_option
    @friendly
    def act(nudge_id: str, user_id: str | None, as_json: bool, **kwargs: Any) -> None:
        engine = _engine()
        method = getattr(engine, name)
        nudge = _shape(method(nudge_id, *kwargs.values(), user_id=user_id))
        _emit(nudge, as_json, lambda: _nudge_line(nudge))

    act.__doc__ = f"{name.capitalize()} NUDGE_ID."
    return act


nudges.command("accept")(_action("accept"))
nudges.command("dismiss")(_action("dismiss"))
nudges.command("snooze")(
    click.option(
        "--for",
        "duration",
        required=True,
        type=click.Choice(["1h", "4h", "24h", "1w"]),
        help="Bring it back after.",
    )(_action("snooze"))
)


@main.command("import")
@click.argument("kind", type=click.Choice(["users", "events", "records"]))
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--skip-invalid", is_flag=True, help="Import the valid lines; the rejects go to a file."
)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where every invalid line goes, with its line number, field and error "
    "(default FILE.rejects.jsonl).",
)
@json_option
@friendly
def import_(
    kind: str, path: Path, skip_invalid: bool, rejects_path: Path | None, as_json: bool
) -> None:
    """Stream a JSONL file of users, events or records. A file with an invalid line writes
    nothing, unless --skip-invalid."""
    from nudgeflow.importer import Importer

    engine = _engine()
    importer = Importer(engine.db, engine.clock.now(), set(engine.settings.plans))
    target = rejects_path or path.with_name(path.name + ".rejects.jsonl")
    with target.open("w", encoding="utf-8") as rejects:  # every invalid line, in full
        report = importer.run(kind, path, skip_invalid=skip_invalid, rejects_to=rejects)  # type: ignore[arg-type]
    data = report.as_dict()
    if report.rejected:
        data["rejects_file"] = str(target)
    else:
        target.unlink()
    _emit(data, as_json, lambda: _import_text(data))
    if report.rejected and not skip_invalid:
        sys.exit(1)


def _import_text(data: dict[str, Any]) -> str:
    lines = [
        f"{data['kind']}: {data['lines']} lines read, {data['written']} written, {data['rejected']} invalid"
    ]
    lines.extend(f"  {reject}" for reject in data["first_rejects"])
    if data["rejected"] > len(data["first_rejects"]):
        lines.append(f"  … and {data['rejected'] - len(data['first_rejects'])} more")
    if data["rejected"] and not data["committed"]:
        lines.append("nothing was written; fix the lines or pass --skip-invalid")
    if "rejects_file" in data:
        lines.append(f"every invalid line, with its error: {data['rejects_file']}")
    return "\n".join(lines)


@main.group()
def rules() -> None:
    """The rules of the loaded playbooks; pause one without a deploy."""


@rules.command("list")
@json_option
@friendly
def list_rules(as_json: bool) -> None:
    """Every rule with its cadence, cooldown, priority and whether it is paused."""
    engine = _engine()
    with engine.db.connect() as conn:
        from nudgeflow.store.admin import paused_rules

        paused = paused_rules(conn)
    found = [
        {
            "rule": r.name, "playbook": r.playbook, "cadence": str(r.cadence), "cooldown": describe_duration(r.cooldown),
            "priority": r.priority, "category": r.category, "channels": list(r.channels),
            "counts_toward_cap": r.counts_toward_cap, "paused": r.name in paused, "description": r.description,
        }
        for r in engine.rules
    ]  # fmt: skip
    _emit(found, as_json, lambda: "\n".join(
        f"{r['rule']:<20} {r['playbook']:<8} {'PAUSED ' if r['paused'] else ''}{r['cadence']}, cooldown {r['cooldown']}, priority {r['priority']} — {r['description']}"
        for r in found
    ))  # fmt: skip


@rules.command()
@click.argument("name")
@actor_option
@friendly
def pause(name: str, actor: str) -> None:
    """Stop rule NAME from making nudges, for everyone, until resumed."""
    _engine().pause_rule(name, actor=actor)
    click.echo(f"rule {name} paused")


@rules.command()
@click.argument("name")
@actor_option
@friendly
def resume(name: str, actor: str) -> None:
    """Let rule NAME make nudges again."""
    _engine().resume_rule(name, actor=actor)
    click.echo(f"rule {name} resumed")


@main.command()
@click.argument("org")
@click.argument("state", type=click.Choice(["on", "off"]))
@actor_option
@friendly
def org(org: str, state: str, actor: str) -> None:
    """The organisation kill switch: `nudgeflow org uni-north off` silences all its users."""
    _engine().set_org(org, agent_enabled=state == "on", actor=actor)
    click.echo(f"agent {state} for organisation {org}")
