"""`nudgeflow extract "TEXT" --now ISO --tz ZONE [--json]`: the meetings the agenda would
read in a message, to try the grammar from a shell."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from nudgeflow.clock import parse_instant


def _now(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _zone(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"not an IANA timezone: {value!r}") from None
    return value


@click.command("extract")
@click.argument("text")
@click.option("--now", callback=_now, help="The instant the message was written (ISO 8601).")
@click.option("--tz", "timezone", default="UTC", show_default=True, callback=_zone,
              help="The user's IANA timezone, e.g. Europe/Berlin.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def extract_command(text: str, now: datetime, timezone: str, as_json: bool) -> None:
    """The upcoming meetings in TEXT, read in the user's timezone."""
    from nudgeflow.agenda.extract import extract

    zone = ZoneInfo(timezone)
    found = [_shown(m, zone) for m in extract(text, now=now, timezone=timezone)]
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("no upcoming meeting")
    for m in found:
        end = f"–{m['end'][11:16]}" if m["end"] else ""
        click.echo(
            f"{m['start'][:16].replace('T', ' ')}{end}  {m['title']}  ({m['confidence']:.2f})"
        )


def _shown(meeting: Any, zone: ZoneInfo) -> dict[str, Any]:
    end = meeting.end.astimezone(zone).isoformat() if meeting.end else None
    return {
        "title": meeting.title,
        "start": meeting.start.astimezone(zone).isoformat(),
        "end": end,
        "confidence": meeting.confidence,
        "span": list(meeting.span),
    }
