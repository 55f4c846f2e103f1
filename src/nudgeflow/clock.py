"""One clock for the whole engine, injected so tests, `--at` and simulations control time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, at: datetime) -> None:
        self._at = ensure_utc(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = ensure_utc(at)

    def advance(self, delta: timedelta) -> datetime:
        self._at += delta
        return self._at


def ensure_utc(at: datetime) -> datetime:
    """Aware datetimes become UTC; naive ones are refused, never guessed."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()} has no timezone; pass an aware one")
    return at.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant (`2026-11-22T09:00:00+01:00` or `...Z`) as UTC."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date and time") from None
    return ensure_utc(at)
