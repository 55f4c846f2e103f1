"""What every channel is: the one interface a newcomer reads first.

A channel turns an `Outgoing` message into one provider request and says how it went, as a
typed result — never by raising:

- `Sent(provider_id)`: the provider took it;
- `Retry(reason, after)`: a temporary problem; `after` is the provider's own Retry-After in
  seconds, else the dispatcher backs off;
- `Failed(reason, unreachable)`: permanent; `unreachable` when the address itself is gone (a
  bot blocked, a webhook answering 410), so nothing more is sent there.

Retries, rate limits, circuit breakers, metrics and logs are the dispatcher's, around every
channel once (dispatch.py); a channel module only speaks its provider's wire format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from nudgeflow.resilience import Rate


@dataclass(frozen=True)
class Links:
    """Signed, expiring, user-scoped links the message carries (a GET shows a confirmation
    page; only the page's POST acts)."""

    accept: str
    dismiss: str
    snooze: str
    preferences: str
    unsubscribe: str


@dataclass(frozen=True)
class Outgoing:
    delivery_id: str  # also the idempotency key providers that take one get (webhook-id)
    attempt: int  # 1 for the first try
    nudge: dict[str, Any]  # id, user_id, rule, title, body, action_label, action_url, expires_at
    user: dict[str, Any]  # id, locale, timezone, addresses
    links: Links
    created_at: datetime

    @property
    def address(self) -> dict[str, Any]:
        addresses: dict[str, Any] = self.user.get("addresses") or {}
        return addresses


@dataclass(frozen=True)
class Sent:
    provider_id: str | None = None
    host_ref: str | None = None  # what the host app made of it (a webhook's `{"ref": ...}`)


@dataclass(frozen=True)
class Retry:
    reason: str
    after: float | None = None  # seconds the provider asked us to wait


@dataclass(frozen=True)
class Failed:
    reason: str
    unreachable: bool = False


Result = Sent | Retry | Failed


@dataclass(frozen=True)
class Limits:
    """A provider's published limits: overall, per recipient (a chat, a mailbox), and for
    recipients that are groups, when the provider limits those apart."""

    overall: Rate | None = None
    per_recipient: Rate | None = None
    per_group: Rate | None = None
    is_group: Callable[[str], bool] | None = None
    concurrency: int = 50


class Channel(Protocol):
    name: str  # the channel users choose: "email", "telegram", "webhook"
    provider: str  # whose API it calls: breakers and limits are per provider
    resend_is_harmless: bool  # the provider dedupes by our id, so a doubtful attempt may go again
    limits: Limits

    def recipient(self, message: Outgoing) -> str | None:
        """The address this message goes to, or None when the user has none for this channel."""
        ...

    async def send(self, message: Outgoing) -> Result: ...

    async def aclose(self) -> None: ...


@dataclass
class Sink:
    """A channel that keeps what it is sent: for tests, the quick start and simulations."""

    name: str = "sink"
    provider: str = "sink"
    resend_is_harmless: bool = True
    limits: Limits = field(default_factory=Limits)
    sent: list[Outgoing] = field(default_factory=list)

    def recipient(self, message: Outgoing) -> str | None:
        return str(message.user["id"])

    async def send(self, message: Outgoing) -> Result:
        self.sent.append(message)
        return Sent(f"sink-{len(self.sent)}")

    async def aclose(self) -> None:
        return None
