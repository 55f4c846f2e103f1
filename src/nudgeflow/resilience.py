"""Pure pieces that keep delivery polite to providers: retry backoff with full jitter, token
buckets for rate limits, and a circuit breaker. Time is passed in (seconds on any monotonic
scale), so tests and simulations drive them without sleeping.

Full jitter (AWS, "Exponential Backoff and Jitter"): the wait before retry n is uniform in
[0, min(cap, base · 2ⁿ)]; many clients retrying at once spread out instead of stampeding.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before retrying after failed attempt number `attempt` (1, 2, …)."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return rng.uniform(0, ceiling)


@dataclass
class TokenBucket:
    """`rate` tokens a second, up to `burst` saved up."""

    rate: float
    burst: float
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait(self, now: float) -> float:
        """Seconds until a token is there; takes nothing."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


@dataclass(frozen=True)
class Rate:
    """A limit: `count` per `per` seconds, with bursts up to `count`."""

    count: float
    per: float

    def bucket(self) -> TokenBucket:
        return TokenBucket(rate=self.count / self.per, burst=self.count)


class RateLimits:
    """An overall limit for a provider plus one per recipient key (a chat, a domain); keys
    that `is_group` picks out (Telegram's group chats) get `per_group` instead."""

    PRUNE_AT = 10_000  # keys kept before idle ones are dropped: memory stays flat

    def __init__(
        self,
        overall: Rate | None,
        per_key: Rate | None = None,
        *,
        per_group: Rate | None = None,
        is_group: Callable[[str], bool] | None = None,
    ) -> None:
        self.overall = overall.bucket() if overall else None
        self.per_key = per_key
        self.per_group = per_group
        self.is_group = is_group
        self.keys: dict[str, TokenBucket] = {}

    def wait(self, key: str, now: float) -> float:
        """Seconds until a message to `key` may go; 0 takes the tokens and means go now."""
        mine = self._bucket(key, now)
        buckets = [b for b in (self.overall, mine) if b is not None]
        longest = max((b.wait(now) for b in buckets), default=0.0)
        if longest == 0:
            for bucket in buckets:
                bucket.take(now)
        return longest

    def _bucket(self, key: str, now: float) -> TokenBucket | None:
        found = self.keys.get(key)
        if found is not None:
            return found
        grouped = self.per_group is not None and self.is_group is not None and self.is_group(key)
        rate = self.per_group if grouped else self.per_key
        if rate is None:
            return None
        if len(self.keys) >= self.PRUNE_AT:
            self._prune(now)
        made = self.keys[key] = rate.bucket()
        return made

    def _prune(self, now: float) -> None:
        """Forget buckets that have filled up again: a fresh one would behave the same."""
        for key in [k for k, b in self.keys.items() if b.full(now)]:
            del self.keys[key]


State = Literal["closed", "open", "half_open"]


@dataclass
class CircuitBreaker:
    """Opens after `threshold` failures in a row; after `cool_down` seconds lets one probe
    through (half-open); the probe's success closes it, its failure opens it again."""

    threshold: int = 5
    cool_down: float = 30.0
    state: State = "closed"
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False

    def allows(self, now: float) -> bool:
        if self.state == "open" and now - self.opened_at >= self.cool_down:
            self.state, self.probing = "half_open", False
        if self.state == "half_open" and not self.probing:
            self.probing = True
            return True
        return self.state == "closed"

    def reopens_at(self) -> float:
        """When an open breaker will let a probe through."""
        return self.opened_at + self.cool_down

    def succeeded(self) -> None:
        self.state, self.failures, self.probing = "closed", 0, False

    def failed(self, now: float) -> None:
        self.failures += 1
        if self.state == "half_open" or self.failures >= self.threshold:
            self.state, self.opened_at, self.probing = "open", now, False
