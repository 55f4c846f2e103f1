"""The dispatcher: claims due deliveries with a lease, sends each through its channel, and
records the typed result. Everything that is not a provider's wire format lives here, once,
around every channel: retries with backoff and full jitter (or the provider's Retry-After),
rate limits, a circuit breaker per provider, the last attempt, metrics and logs.

A breaker that is open, or a rate limit that would keep a message waiting too long, parks the
delivery for later without spending one of its attempts.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from nudgeflow import telemetry
from nudgeflow.channels.base import Channel, Failed, Links, Outgoing, Result, Retry, Sent
from nudgeflow.engine import Engine
from nudgeflow.resilience import CircuitBreaker, RateLimits, backoff
from nudgeflow.store import generation, outbox
from nudgeflow.store.database import writer

log = structlog.get_logger("nudgeflow.dispatch")

MAX_RATE_WAIT = 10.0  # seconds a message may wait for a rate limit inside one round


@dataclass(frozen=True)
class Park:
    at: datetime
    why: str


Outcome = Result | Park


AMBIGUOUS_NOT_RESENT = (
    "interrupted after the request may have left; not sent again, as the provider "
    "cannot tell a resend from a new message"
)


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        channels: Sequence[Channel],
        *,
        batch: int = 500,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.channels = {c.name: c for c in channels}
        self.batch = batch
        self.rng = rng or random.Random()
        self.monotonic = monotonic
        self.breakers = {
            c.provider: CircuitBreaker(
                self.settings.breaker_failures, self.settings.breaker_cool_down_seconds
            )
            for c in channels
        }
        self.limits = {
            c.provider: RateLimits(
                c.limits.overall,
                c.limits.per_recipient,
                per_group=c.limits.per_group,
                is_group=c.limits.is_group,
            )
            for c in channels
        }
        self.slots = {c.provider: asyncio.Semaphore(c.limits.concurrency) for c in channels}

    async def run_once(self) -> Counter[str]:
        """One round: recover cut-off attempts, claim a batch, send it, record the results."""
        tally, claimed = self._claim()
        return tally + await self._deliver(claimed)

    async def run_until_idle(
        self, should_stop: Callable[[], bool] = lambda: False, *, in_flight: int = 2
    ) -> Counter[str]:
        """Rounds back to back while each claims a full batch, up to `in_flight` at once: while
        one round waits on providers the next claims and sends, so the database's turn and
        the network's overlap instead of taking turns. Returns once a claim comes up short
        (nothing more is due now) or `should_stop()`, with every round it began finished."""
        tally: Counter[str] = Counter()
        rounds: set[asyncio.Task[Counter[str]]] = set()
        try:
            while not should_stop():
                recovered, claimed = self._claim()
                tally += recovered
                if claimed:
                    rounds.add(asyncio.create_task(self._deliver(claimed)))
                if len(claimed) < self.batch:
                    break
                if len(rounds) >= in_flight:
                    done, rounds = await asyncio.wait(rounds, return_when=asyncio.FIRST_COMPLETED)
                    for finished in done:
                        tally += finished.result()
        finally:
            for result in await asyncio.gather(*rounds):
                tally += result
        return tally

    def _claim(self) -> tuple[Counter[str], list[outbox.Claimed]]:
        """Recover attempts a crash cut off (counted as ambiguous), then claim a batch."""
        now = self.engine.clock.now()
        lease = timedelta(seconds=self.settings.lease_seconds)
        with writer(self.engine.db).begin() as conn:
            recovered = outbox.recover_interrupted(conn, now)
            claimed = outbox.claim(conn, list(self.channels), now, self.batch, lease)
        tally: Counter[str] = Counter()
        if recovered:
            tally["ambiguous"] += recovered
            telemetry.AMBIGUOUS.inc(recovered)
            log.warning("interrupted_attempts", count=recovered)
        return tally, claimed

    async def _deliver(self, claimed: Sequence[outbox.Claimed]) -> Counter[str]:
        outcomes = await asyncio.gather(*(self._attempt(c) for c in claimed))
        return self._record(claimed, outcomes)

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()

    # ---- one delivery -------------------------------------------------------------------------

    async def _attempt(self, claimed: outbox.Claimed) -> Outcome:
        channel = self.channels[claimed.delivery["channel"]]
        message = self._message(claimed)
        address = channel.recipient(message)
        if address is None:
            return Failed(f"the user has no {channel.name} address")
        if claimed.unreachable == address:
            return Failed(f"{channel.name} address {address} is unreachable")
        if claimed.delivery["ambiguous"] and not channel.resend_is_harmless:
            return Failed(AMBIGUOUS_NOT_RESENT)  # a second copy would be spam we cannot undo
        breaker = self.breakers[channel.provider]
        if not breaker.allows(self.monotonic()):
            return self._park(max(breaker.reopens_at() - self.monotonic(), 1.0), "breaker open")
        waited = await self._rate_slot(channel, address)
        if waited is not None:
            return self._park(waited, "rate limit")
        async with self.slots[channel.provider]:
            result = await self._send(channel, message)
        if isinstance(result, Retry) and result.after is None:
            breaker.failed(self.monotonic())  # the provider failed; a 429 is only busy
        elif not isinstance(result, Retry):
            breaker.succeeded()
        return result

    async def _send(self, channel: Channel, message: Outgoing) -> Result:
        try:  # asyncio.timeout, not wait_for: no extra task per send
            async with asyncio.timeout(self.settings.send_timeout_seconds):
                return await channel.send(message)
        except TimeoutError:
            return Retry(f"no answer within {self.settings.send_timeout_seconds:g} s")
        except Exception as exc:  # a channel bug must not lose the delivery: retry it
            log.exception("channel_error", channel=channel.name, delivery=message.delivery_id)
            return Retry(f"{type(exc).__name__}: {exc}")

    async def _rate_slot(self, channel: Channel, address: str) -> float | None:
        """Wait for the provider's rate limit; None once it is our turn, else how long we
        would still have to wait (too long for this round)."""
        limits = self.limits[channel.provider]
        waited = 0.0
        while (wait := limits.wait(address, self.monotonic())) > 0:
            if waited + wait > MAX_RATE_WAIT:
                return wait
            await asyncio.sleep(wait)
            waited += wait
        return None

    def _park(self, seconds: float, why: str) -> Park:
        return Park(self.engine.clock.now() + timedelta(seconds=seconds), why)

    def _message(self, claimed: outbox.Claimed) -> Outgoing:
        nudge, user = claimed.nudge, claimed.user
        return Outgoing(
            delivery_id=claimed.delivery["id"],
            attempt=claimed.delivery["attempts"] + 1,
            nudge=nudge,
            user=user,
            links=self._links(user["id"], nudge["id"]),
            created_at=claimed.delivery["created_at"],
        )

    def _links(self, user_id: str, nudge_id: str) -> Links:
        sign = self.engine.credentials.link_token
        hours, base = self.settings.user_token_hours, self.settings.public_url.rstrip("/")

        def link(path: str, purpose: str, subject: str = "") -> str:
            return f"{base}/{path}/{sign(user_id, purpose, subject, hours=hours)}"

        return Links(
            accept=link("act", "accept", nudge_id),
            dismiss=link("act", "dismiss", nudge_id),
            snooze=link("act", "snooze", nudge_id),
            preferences=link("preferences", "preferences"),
            unsubscribe=link("unsubscribe", "unsubscribe"),
        )

    # ---- results ------------------------------------------------------------------------------

    def _record(
        self, claimed: Sequence[outbox.Claimed], outcomes: Sequence[Outcome]
    ) -> Counter[str]:
        now = self.engine.clock.now()
        sent, retry, dead, parked, gone, refs = [], [], [], [], [], []
        tally: Counter[str] = Counter()
        counted: Counter[tuple[str, str]] = Counter()
        for item, outcome in zip(claimed, outcomes, strict=True):
            delivery, channel = item.delivery, item.delivery["channel"]
            attempts = delivery["attempts"] + 1
            match outcome:  # counted by where the delivery now is: sent, retry, dead, park
                case Sent(provider_id, host_ref):
                    sent.append((delivery["id"], provider_id))
                    if host_ref is not None:
                        refs.append((item.nudge["id"], host_ref))
                    result = "sent"
                case Retry(reason, after) if attempts < self.settings.delivery_attempts:
                    wait = after if after is not None else self._backoff(attempts)
                    retry.append((delivery["id"], now + timedelta(seconds=wait), reason))
                    result = "retry"
                case Retry(reason, _):
                    dead.append((delivery["id"], f"gave up after {attempts} attempts: {reason}"))
                    result = "dead"
                case Failed(reason, unreachable):
                    dead.append((delivery["id"], reason))
                    if unreachable:
                        address = self.channels[channel].recipient(self._message(item)) or ""
                        gone.append((item.nudge["user_id"], channel, address, reason))
                    result = "dead"
                case Park(at, _):
                    parked.append((delivery["id"], at))
                    result = "park"
            tally[result] += 1
            counted[channel, result] += 1
        with writer(self.engine.db).begin() as conn:
            outbox.mark_sent(conn, sent, now)
            outbox.mark_retry(conn, retry, now)
            outbox.mark_dead(conn, dead, now)
            outbox.park(conn, parked, now)
            outbox.mark_unreachable(conn, gone, now)
            for nudge_id, host_ref in refs:
                generation.link_host_ref(conn, nudge_id, host_ref)
        for (channel, result), count in counted.items():  # once a round, not once a delivery
            telemetry.DELIVERIES.labels(channel, result).inc(count)
        for delivery_id, reason in dead:
            log.warning("delivery_dead", delivery=delivery_id, reason=reason)
        return tally

    def _backoff(self, attempts: int) -> float:
        return backoff(attempts, base=self.settings.retry_base_seconds,
                       cap=self.settings.retry_cap_seconds, rng=self.rng)  # fmt: skip
