"""A nudge's lifecycle, as data:

    scheduled ──► delivered ──► accepted | snoozed | dismissed
        │             │            snoozed ──► delivered (it comes back) | accepted | dismissed
        └─────────────┴──► expired            (and suppressed, with its reason, from the start)

Repeating an action that already took effect is harmless: accepting an accepted nudge
changes nothing. Any other move not drawn here is an IllegalTransition.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from nudgeflow.errors import IllegalTransition, InvalidInput

Action = Literal["accept", "snooze", "dismiss"]

RESULT: dict[Action, str] = {"accept": "accepted", "snooze": "snoozed", "dismiss": "dismissed"}
ALLOWED_FROM: dict[Action, frozenset[str]] = {
    "accept": frozenset({"delivered", "snoozed"}),
    "snooze": frozenset({"delivered"}),
    "dismiss": frozenset({"delivered", "snoozed"}),
}
SNOOZE_CHOICES = {
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "24h": timedelta(hours=24),
    "1w": timedelta(weeks=1),
}
SNOOZE_ALIASES = {"1d": "24h", "1week": "1w", "7d": "1w"}


def check(nudge_id: str, status: str, action: Action) -> bool:
    """True when the action moves the nudge, False when it already took effect (a repeat)."""
    if status == RESULT[action] and action != "snooze":
        return False
    if status not in ALLOWED_FROM[action]:
        raise IllegalTransition(nudge_id, status, RESULT[action])
    return True


def snooze_duration(choice: str) -> timedelta:
    key = SNOOZE_ALIASES.get(choice, choice)
    if key not in SNOOZE_CHOICES:
        raise InvalidInput("for", f"snooze for one of {', '.join(SNOOZE_CHOICES)}, not {choice!r}")
    return SNOOZE_CHOICES[key]
