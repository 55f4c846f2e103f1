"""A user's coaching schedule: the frequency and window they chose, when their next message is
due and when the last one was. It is kept as the engine's own record (kind `coaching`, key
`schedule`), so the coaching rule reads it among the user's facts like any other and stays
pure; the engine writes it when preferences change and after each generated message.

Pure: what to keep when preferences change (`on_preferences`), after a message went out
(`after_message`) and after an attempt produced nothing to send (`after_failure`), and which
due slot the rule is looking at (`current_slot`)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from nudgeflow.clock import ensure_utc
from nudgeflow.coaching import cadence
from nudgeflow.localtime import at_local

KIND, KEY = "coaching", "schedule"
DEFAULT_WINDOW = "morning"  # for users who chose a frequency but no window


@dataclass(frozen=True, slots=True)
class Schedule:
    frequency: str
    window: str
    next_due: datetime  # UTC; moved into the window in the user's zone of the moment
    last_due: datetime | None = None

    def as_props(self) -> dict[str, Any]:
        return {
            "frequency": self.frequency,
            "window": self.window,
            "next_due": self.next_due.isoformat(),
            "last_due": self.last_due.isoformat() if self.last_due else None,
        }

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> Schedule:
        last = props.get("last_due")
        return cls(
            frequency=str(props["frequency"]),
            window=str(props["window"]),
            next_due=ensure_utc(datetime.fromisoformat(str(props["next_due"]))),
            last_due=ensure_utc(datetime.fromisoformat(str(last))) if last else None,
        )

    @property
    def period(self) -> timedelta:
        return timedelta(days=cadence.interval_days(self.frequency))


def seeded(user_id: str, now: datetime) -> random.Random:
    """The bootstrap's randomness: different for every user, the same on a replay."""
    return random.Random(f"{user_id}:{ensure_utc(now).isoformat()}")


def on_preferences(
    current: Schedule | None,
    frequency: str | None,
    window: str | None,
    timezone: str,
    *,
    now: datetime,
    rng: random.Random,
) -> Schedule | None:
    """The schedule to keep once the user's preferences say `frequency` and `window`: None when
    coaching is off; unchanged when nothing it follows changed; a first, random due time for a
    user who had none; else the next due time after the last message, at the new pace."""
    if frequency is None:
        return None
    window = window or DEFAULT_WINDOW
    if current is not None and (current.frequency, current.window) == (frequency, window):
        return current
    if current is None or current.last_due is None:
        return Schedule(frequency, window, cadence.bootstrap(now, frequency, window, timezone, rng))
    due = cadence.next_due(current.last_due, frequency, window, timezone, not_before=now)
    return Schedule(frequency, window, due, current.last_due)


def current_slot(schedule: Schedule, timezone: str, now: datetime) -> datetime:
    """When the message the rule is looking at is due: the stored due time moved into the
    window, or, when whole periods went by without a message (coaching paused, the agent
    switched off), the last slot of that rhythm not yet a period old: missed messages are
    skipped, not sent late one after another."""
    due = cadence.into_window(schedule.next_due, schedule.window, timezone)
    if due + schedule.period <= now:
        due = _near(due, schedule, timezone, now)
    while due + schedule.period <= now:
        due = cadence.next_due(due, schedule.frequency, schedule.window, timezone)
    return due


def _near(due: datetime, schedule: Schedule, timezone: str, now: datetime) -> datetime:
    """The slot of the same rhythm two periods before `now`, in one step: skipping a year of
    daily messages one by one would take a year's worth of steps."""
    tz = cadence.user_zone(timezone)
    local = due.astimezone(tz)
    days = schedule.period.days
    behind = (now.astimezone(tz).date() - local.date()).days // days - 2
    if behind <= 0:
        return due
    jumped = at_local(local.date() + timedelta(days=behind * days), local.time(), tz)
    return cadence.into_window(jumped, schedule.window, timezone)


def after_message(schedule: Schedule, due: datetime, timezone: str, now: datetime) -> Schedule:
    """A message for the slot `due` went out: the next one is a period after the slot (not
    after when it went out, so delays do not add up)."""
    following = cadence.next_due(due, schedule.frequency, schedule.window, timezone, not_before=now)
    return replace(schedule, next_due=following, last_due=due)


def after_failure(schedule: Schedule, timezone: str, now: datetime) -> Schedule:
    """Nothing good enough to send: try again sooner than the cadence (2, 4 or 8 h)."""
    retry = cadence.after_failure(now, schedule.frequency, schedule.window, timezone)
    return replace(schedule, next_due=retry)
