"""What the bot writes, made for a phone: short lines, times in the user's own zone and 24-hour
clock, days as "Fri 27 Nov" (no year: meetings are near), HTML with every user-given part
escaped, and never past Telegram's 4096 characters. Pure functions of values."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from nudgeflow.bot.timezones import offset_label
from nudgeflow.channels.telegram import MAX_TEXT

HOW_TO_SAY_A_TIMEZONE = (
    "Send your city (<i>Berlin</i>, <i>New York</i>), a timezone name "
    "(<i>Europe/Berlin</i>) or an offset (<i>UTC+2</i>)."
)
HELP = (
    "Tell me about your meetings the way you would tell a friend — "
    "<i>Team meeting 3-4 PM Friday</i>, <i>dentist tomorrow at 9</i>, "
    "<i>my 3pm is moved to 4</i>, <i>cancel the dentist</i> — and I will remind you before "
    "they start and ask how they went.\n\n"
    "/schedule — your upcoming meetings\n/timezone — change your timezone\n"
    "/stop — no more nudges unless you asked for them\n/help — this message"
)
WELCOME = "Hi! I keep track of the meetings you tell me about."
LINKED = "Your Telegram is now linked to your account ✓"
ASK_TIMEZONE = f"First, which timezone are you in? {HOW_TO_SAY_A_TIMEZONE}"
KEPT_FOR_LATER = "I'll note that as soon as I know your timezone."
NOT_A_TIMEZONE = f"Sorry, I don't know that timezone. {HOW_TO_SAY_A_TIMEZONE}"
BAD_LINK = "This link did not work: {why}. Please ask the app for a new one."
NOTHING_SCHEDULED = "Nothing scheduled. Tell me about a meeting and I'll keep it here."
STOPPED = (
    "OK, no more nudges from me unless you asked for them: meeting reminders still come. "
    "/start turns them back on."
)
SORRY = "Sorry, something went wrong on my side. Please try again in a moment."
FIXED_OFFSET_NOTE = " A fixed offset does not follow daylight saving: your city would."
RESERVE = 64  # room kept for the "…and N more" line


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def timezone_confirmed(name: str, now: datetime) -> str:
    local = now.astimezone(ZoneInfo(name))
    note = FIXED_OFFSET_NOTE if name.startswith("Etc/") else ""
    return f"Got it: {escape(offset_label(name))}, where it is {local:%H:%M} now.{note}"


def when(start: datetime, end: datetime | None, tz: ZoneInfo) -> str:
    """Like "Fri 27 Nov 15:00–16:00", in `tz`; the end's day too when it is another day."""
    local = start.astimezone(tz)
    text = f"{_day(local.date())} {local:%H:%M}"
    if end is None:
        return text
    until = end.astimezone(tz)
    if until.date() != local.date():
        return f"{text} – {_day(until.date())} {until:%H:%M}"
    return f"{text}–{until:%H:%M}"


def changes(received: dict[str, Any], tz: ZoneInfo, lead: timedelta | None) -> str | None:
    """One line per meeting noted, moved or cancelled, and when the reminder comes; None when
    the message changed nothing."""
    lines = [_line("Noted", m, tz) for m in received["added"]]
    lines += [_line("Moved", m, tz) for m in received["updated"]]
    lines += [_line("Cancelled", m, tz) for m in received["cancelled"]]
    if not lines:
        return None
    if lead is not None and (received["added"] or received["updated"]):
        lines.append(f"I'll remind you {span(lead)} before.")
    return "\n".join(lines)


def span(lead: timedelta) -> str:
    """ "30 minutes", "1 hour", "90 minutes", "1 day": a lead time as a person says it."""
    minutes = max(1, round(lead.total_seconds() / 60))
    for unit, size in (("day", 1440), ("hour", 60)):
        if minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{minutes} minute{'s' if minutes > 1 else ''}"


def _line(verb: str, meeting: dict[str, Any], tz: ZoneInfo) -> str:
    start = datetime.fromisoformat(meeting["start"])
    end = datetime.fromisoformat(meeting["end"]) if meeting.get("end") else None
    return f"{verb}: {escape(_capital(meeting['title']))}, {when(start, end, tz)}."


def schedule(meetings: Sequence[dict[str, Any]], tz: ZoneInfo, now: datetime) -> str:
    """The upcoming meetings grouped by local day, soonest first, within Telegram's limit."""
    if not meetings:
        return NOTHING_SCHEDULED
    header = f"<b>Your meetings</b> · {escape(offset_label(tz.key))} time"
    text, shown = header, 0
    for block in _days(meetings, tz, now.astimezone(tz).date()):
        for line in block:
            if _units(text) + 1 + _units(line) > MAX_TEXT - RESERVE:
                return text + f"\n\n…and {len(meetings) - shown} more."
            text += "\n" + line
            shown += line[:1].isdigit()  # a meeting's line, not a day's heading
    return text


def _days(meetings: Iterable[dict[str, Any]], tz: ZoneInfo, today: date) -> list[list[str]]:
    """Per local day: its heading (with a blank line before it), then one line a meeting."""
    blocks: dict[date, list[str]] = {}
    for meeting in meetings:
        start = datetime.fromisoformat(meeting["start"]).astimezone(tz)
        end = datetime.fromisoformat(meeting["end"]).astimezone(tz) if meeting.get("end") else None
        block = blocks.setdefault(start.date(), [f"\n<b>{_heading(start.date(), today)}</b>"])
        hours = f"{start:%H:%M}" + (f"–{end:%H:%M}" if end is not None else "")
        block.append(f"{hours}  {escape(_capital(meeting['title']))}")
    return list(blocks.values())


def _heading(day: date, today: date) -> str:
    names = {today: "Today", today + timedelta(days=1): "Tomorrow"}
    return f"{names[day]} · {_day(day)}" if day in names else _day(day)


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def _capital(title: str) -> str:
    return title[:1].upper() + title[1:]


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
