"""The operator CLI: `nudgeflow --help`. Every command whose output is data takes --json."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import click
import structlog

from nudgeflow.clock import FrozenClock, SystemClock, parse_instant
from nudgeflow.errors import ConfigError, NudgeflowError

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


class _Commands(click.Group):
    """The commands, some kept in their own modules (which use this one's helpers) and
    imported only when named: `nudgeflow --help` stays fast, and no import goes in a circle."""

    ELSEWHERE: ClassVar[dict[str, str]] = {
        "flags": "nudgeflow.cli_flags:flags",
        "coach": "nudgeflow.cli_coach:coach",
        "extract": "nudgeflow.agenda.cli:extract_command",
        "telegram": "nudgeflow.cli_telegram:telegram_command",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.ELSEWHERE])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.ELSEWHERE:
            module, _, attribute = self.ELSEWHERE[cmd_name].partition(":")
            found: click.Command = getattr(importlib.import_module(module), attribute)
            return found
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands)
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
    from nudgeflow.shapes import NudgeOut

    return NudgeOut.of(nudge).model_dump()


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
    found = _engine().rule_list()
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


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--demo", is_flag=True, help="Load the career demo first (once) and print a key.")
@click.option("--no-loops", is_flag=True, help="Serve the API only; run `nudgeflow worker` apart.")
@click.option(
    "--log-format", type=click.Choice(["json", "console"]), default="json", show_default=True
)
@friendly
def serve(host: str, port: int, demo: bool, no_loops: bool, log_format: str) -> None:
    """The HTTP API, with sweeps and deliveries running in the same process."""
    from nudgeflow import service

    service.configure_logging(log_format == "json")
    engine = _engine()
    if demo:
        service.load_demo_once(engine, 200, seed=7, say=structlog.get_logger("nudgeflow"))
        key = service.quick_start_key(engine)
        user = engine.nudges(status="delivered", limit=1)
        who = user[0]["user_id"] if user else "demo-0001"
        base = f"http://{host}:{port}"
        click.echo(f"\nnudgeflow is serving the career demo at {base}\n"
                   f"  API docs:      {base}/docs\n"
                   f"  an admin key:  {key}\n"
                   f"  try:           curl -H 'Authorization: Bearer {key}' {base}/v1/users/{who}/nudges\n"
                   f"  stop with Ctrl+C\n", err=True)  # fmt: skip
    service.serve(engine, host, port, loops=not no_loops)


@main.command()
@click.option(
    "--log-format", type=click.Choice(["json", "console"]), default="json", show_default=True
)
@friendly
def worker(log_format: str) -> None:
    """The engine's loops without the API: sweeps, deliveries. Run several on PostgreSQL;
    SIGTERM finishes the batch in hand."""
    from nudgeflow import service

    service.configure_logging(log_format == "json")
    service.work(_engine())


@main.group()
def keys() -> None:
    """API keys: host apps use one, admins an admin key. Only a hash is stored."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what the key is for.")
@click.option("--admin", "admin_key", is_flag=True, help="An admin key (the /v1/admin routes).")
@actor_option
@json_option
@friendly
def create_key(name: str, admin_key: bool, actor: str, as_json: bool) -> None:
    """Make a key; it is printed once and cannot be shown again."""
    made = _engine().credentials.create_key(name, admin_key=admin_key, actor=actor)
    data = {"id": made.id, "name": made.name, "admin": made.admin, "key": made.key}
    _emit(data, as_json, lambda: f"{made.key}\n(key {made.id}; keep it: it is not shown again)")


@keys.command("revoke")
@click.argument("key_id")
@actor_option
@friendly
def revoke_key(key_id: str, actor: str) -> None:
    """Revoke key KEY_ID (k_…): it stops working at once."""
    _engine().credentials.revoke_key(key_id, actor=actor)
    click.echo(f"key {key_id} revoked")


@keys.command("list")
@json_option
@friendly
def list_keys(as_json: bool) -> None:
    found = _engine().credentials.list_keys()
    _emit(found, as_json, lambda: "\n".join(
        f"{k['id']}  {'admin' if k['admin'] else 'host '}  {k['name']:<20} "
        f"{'revoked ' + str(k['revoked_at']) if k['revoked_at'] else 'active'}"
        for k in found
    ) or "no keys")  # fmt: skip


@main.command()
@click.argument("user_id")
@click.option("--hours", type=click.IntRange(1, 24 * 366), help="Valid for (default 168).")
@json_option
@friendly
def token(user_id: str, hours: int | None, as_json: bool) -> None:
    """A signed token for USER_ID's browser or links: their inbox, actions and preferences."""
    engine = _engine()
    engine.preferences(user_id)  # an unknown user is an error, not a token
    made, expires = engine.credentials.issue_token(user_id, hours)
    _emit(
        {"token": made, "expires_at": expires},
        as_json,
        lambda: f"{made}\n(expires {expires:%Y-%m-%d %H:%M} UTC)",
    )
