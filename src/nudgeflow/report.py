"""The operator's report: what each rule's nudges led to, with the rates PRODUCT.md targets
(acceptance > 30%, snooze < 40%, dismissal warns over 50%, engagement > 50%, time to action
< 24 h, users turning nudges off < 10%). Pure: counts in, figures out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from nudgeflow.errors import InvalidInput

PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
COUNTS = ("created", "delivered", "accepted", "snoozed", "dismissed", "expired")


def period(name: str) -> timedelta:
    if name not in PERIODS:
        raise InvalidInput("period", f"one of {', '.join(PERIODS)}, not {name!r}")
    return PERIODS[name]


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    delivered, acted = row["delivered"], row["acted"]
    return {
        **{name: int(row[name]) for name in COUNTS},
        "acceptance_rate": _share(row["accepted"], delivered),
        "snooze_rate": _share(row["snoozed"], delivered),
        "dismissal_rate": _share(row["dismissed"], delivered),
        "engagement_rate": _share(row["engaged"], delivered),
        "average_hours_to_action": _share(row["seconds_to_action"] / 3600, acted),
    }


def summarize(rows: Iterable[dict[str, Any]], users_off: int, users: int) -> dict[str, Any]:
    """Per rule and channel, and over all of them."""
    rows = list(rows)
    total: dict[str, Any] = {
        key: sum(r[key] or 0 for r in rows)
        for key in (*COUNTS, "engaged", "acted", "seconds_to_action")
    }
    return {
        "total": {**_figures(total), "users_with_nudges_off": _share(users_off, users)},
        "by_rule_and_channel": [
            {"rule": r["rule"], "channel": r["channel"], **_figures(r)} for r in rows
        ],
    }
