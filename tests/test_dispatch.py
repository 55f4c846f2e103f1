"""The dispatcher around any channel: results recorded, retries when the provider said or with
jittered backoff, the last attempt, unreachable addresses, the breaker, interrupted attempts.
The channel here is scripted; real providers are tested against local servers elsewhere."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from nudgeflow.channels.base import Failed, Limits, Outgoing, Result, Retry, Sent
from nudgeflow.clock import FrozenClock
from nudgeflow.config import load_settings
from nudgeflow.dispatch import AMBIGUOUS_NOT_RESENT, Dispatcher
from nudgeflow.engine import Engine
from nudgeflow.resilience import CircuitBreaker, Rate, RateLimits, TokenBucket, backoff
from nudgeflow.store import outbox
from nudgeflow.store.database import writer
from nudgeflow.store.schema import deliveries, nudges


@dataclass
class Scripted:
    """An email channel whose provider answers from a script (then Sent for the rest)."""

    script: deque[Result] = field(default_factory=deque)
    name: str = "email"
    provider: str = "scripted"
    resend_is_harmless: bool = False
    limits: Limits = field(default_factory=Limits)
    sent: list[Outgoing] = field(default_factory=list)

    def recipient(self, message: Outgoing) -> str | None:
        email = message.address.get("email")
        return str(email) if email else None

    async def send(self, message: Outgoing) -> Result:
        self.sent.append(message)
        await asyncio.sleep(0)  # a request is in flight for a moment, as over a network
        return self.script.popleft() if self.script else Sent(f"p-{len(self.sent)}")

    async def aclose(self) -> None:
        return None


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(database_url: str, clock: FrozenClock) -> Any:
    settings = load_settings(database_url=database_url, quiet_hours={"start": "00:00", "end": "00:00"},
                             delivery_attempts=3, retry_base_seconds=60, breaker_failures=2,
                             breaker_cool_down_seconds=30)  # fmt: skip
    eng = Engine(database_url, settings=settings, clock=clock)
    yield eng
    eng.close()


COMPLETE = {"headline": "h", "location": "l", "target_role": "r", "skills": ["s"]}


def emailed(
    engine: Engine,
    user: str = "ana",
    email: str | None = "ana@example.org",
    traits: dict[str, Any] = COMPLETE,
) -> str:
    """A weak resume's nudge for `user`, decided onto the email channel; its delivery id."""
    addresses = {"email": email} if email else {}
    engine.upsert_user({"id": user, "timezone": "UTC", "addresses": addresses, "traits": traits,
                        "preferences": {"channels": ["email"]}})  # fmt: skip
    engine.put_record({"user_id": user, "kind": "resume", "key": "main", "props": {"score": 30}})
    engine.sweep()
    return pending_emails(engine, user)[0]


def pending_emails(engine: Engine, user: str = "ana") -> list[str]:
    with engine.db.connect() as conn:
        ids = conn.execute(
            sa.select(deliveries.c.id).join(nudges, nudges.c.id == deliveries.c.nudge_id)
            .where((deliveries.c.channel == "email") & (nudges.c.user_id == user))
            .where(deliveries.c.status == "pending").order_by(deliveries.c.id)
        ).scalars().all()  # fmt: skip
    return [str(i) for i in ids]


def delivery(engine: Engine, delivery_id: str) -> dict[str, Any]:
    with engine.db.connect() as conn:
        row = (
            conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id))
            .mappings()
            .one()
        )
    return dict(row)


def run(dispatcher: Dispatcher) -> dict[str, int]:
    return dict(asyncio.run(dispatcher.run_once()))


def test_a_sent_delivery_delivers_its_nudge_with_links(engine: Engine) -> None:
    did = emailed(engine)
    channel = Scripted()
    assert run(Dispatcher(engine, [channel])) == {"sent": 1}
    sent = delivery(engine, did)
    assert (sent["status"], sent["provider_id"], sent["attempts"]) == ("sent", "p-1", 1)
    nudge = engine.nudge(sent["nudge_id"])
    assert nudge["status"] == "delivered"
    assert nudge["delivered_at"] == engine.clock.now()
    links = channel.sent[0].links
    assert links.accept.startswith("http://127.0.0.1:8000/act/")
    assert engine.credentials.read_link(links.accept.rsplit("/", 1)[1]) == ("ana", "accept", nudge["id"])  # fmt: skip
    assert run(Dispatcher(engine, [channel])) == {}


def test_a_retry_waits_exactly_as_long_as_the_provider_asked(
    engine: Engine, clock: FrozenClock
) -> None:
    did = emailed(engine)
    channel = Scripted(deque([Retry("429 slow down", after=120)]))
    dispatcher = Dispatcher(engine, [channel])
    assert run(dispatcher) == {"retry": 1}
    assert delivery(engine, did)["next_attempt_at"] == clock.now() + timedelta(seconds=120)
    clock.advance(timedelta(seconds=119))
    assert run(dispatcher) == {}
    clock.advance(timedelta(seconds=1))
    assert run(dispatcher) == {"sent": 1}
    assert len(channel.sent) == 2
    assert delivery(engine, did)["attempts"] == 2


def test_after_the_last_attempt_the_delivery_is_dead_with_its_error(
    engine: Engine, clock: FrozenClock
) -> None:
    did = emailed(engine)
    channel = Scripted(deque([Retry("503 unavailable")] * 5))
    dispatcher = Dispatcher(engine, [channel], rng=random.Random(1), monotonic=Ticker())
    for attempt in (1, 2):
        assert run(dispatcher) == {"retry": 1}
        wait = delivery(engine, did)["next_attempt_at"] - clock.now()
        assert timedelta(0) <= wait <= timedelta(seconds=60 * 2 ** (attempt - 1))
        clock.advance(wait)
    dispatcher.breakers["scripted"].succeeded()  # this test is about attempts, not the breaker
    assert run(dispatcher) == {"dead": 1}
    dead = delivery(engine, did)
    assert (dead["status"], dead["attempts"]) == ("dead", 3)
    assert dead["last_error"] == "gave up after 3 attempts: 503 unavailable"


def test_a_gone_address_is_not_tried_again_until_it_changes(engine: Engine) -> None:
    emailed(engine, traits={})  # a weak resume and an incomplete profile: two emails
    both = pending_emails(engine)
    channel = Scripted(deque([Failed("550 no such mailbox", unreachable=True)]))
    dispatcher = Dispatcher(engine, [channel], batch=1)
    assert run(dispatcher) == {"dead": 1}
    assert run(dispatcher) == {"dead": 1}
    assert len(channel.sent) == 1
    errors = {delivery(engine, d)["last_error"]: d for d in both}
    assert set(errors) == {"550 no such mailbox", "email address ana@example.org is unreachable"}
    second = errors["email address ana@example.org is unreachable"]
    engine.upsert_user({"id": "ana", "addresses": {"email": "ana@new.example.org"}})
    with writer(engine.db).begin() as conn:  # as if a later nudge were due
        conn.execute(sa.update(deliveries).where(deliveries.c.id == second)
                     .values(status="pending", next_attempt_at=engine.clock.now()))  # fmt: skip
    assert run(dispatcher) == {"sent": 1}
    assert channel.sent[-1].address["email"] == "ana@new.example.org"


def test_an_address_removed_after_the_decision_means_dead_at_once(engine: Engine) -> None:
    did = emailed(engine)
    engine.upsert_user({"id": "ana", "addresses": {}})
    assert run(Dispatcher(engine, [Scripted()])) == {"dead": 1}
    assert delivery(engine, did)["last_error"] == "the user has no email address"


def test_the_breaker_parks_deliveries_without_spending_attempts(
    engine: Engine, clock: FrozenClock
) -> None:
    ids = [emailed(engine, user=f"u{i}", email=f"u{i}@example.org") for i in range(4)]
    ticker = Ticker()
    channel = Scripted(deque([Retry("502")] * 2))
    dispatcher = Dispatcher(engine, [channel], batch=2, monotonic=ticker)
    assert run(dispatcher) == {"retry": 2}  # two failures in a row: the breaker opens
    assert dispatcher.breakers["scripted"].state == "open"
    assert run(dispatcher) == {"park": 2}
    parked = [delivery(engine, d) for d in ids if delivery(engine, d)["attempts"] == 0]
    assert len(parked) == 2
    assert all(p["status"] == "pending" and p["next_attempt_at"] == clock.now() + timedelta(seconds=30) for p in parked)  # fmt: skip
    ticker.now += 30
    clock.advance(timedelta(seconds=30))
    assert run(dispatcher) == {"sent": 1, "park": 1}  # one probe, which closes it
    assert dispatcher.breakers["scripted"].failures == 0  # closed again


@pytest.mark.parametrize("harmless", [True, False])
def test_an_attempt_cut_off_by_a_crash_is_flagged_and_resent_only_if_harmless(
    engine: Engine, clock: FrozenClock, harmless: bool
) -> None:
    did = emailed(engine)
    with writer(engine.db).begin() as conn:  # a dispatcher claims it, then dies
        outbox.claim(conn, ["email"], clock.now(), 10, timedelta(seconds=300))
    channel = Scripted(resend_is_harmless=harmless)
    assert run(Dispatcher(engine, [channel])) == {}  # the lease still holds
    clock.advance(timedelta(seconds=300))

    tally = run(Dispatcher(engine, [channel]))

    found = delivery(engine, did)
    assert found["ambiguous"] is True
    if harmless:  # the provider dedupes by our id: it goes again
        assert tally == {"ambiguous": 1, "sent": 1}
        assert (found["status"], found["attempts"], len(channel.sent)) == ("sent", 2, 1)
    else:  # a second copy might be a duplicate in the user's inbox: counted, not resent
        assert tally == {"ambiguous": 1, "dead": 1}
        assert (found["status"], len(channel.sent)) == ("dead", 0)
        assert found["last_error"] == AMBIGUOUS_NOT_RESENT


def test_a_channel_that_raises_loses_nothing(engine: Engine) -> None:
    did = emailed(engine)

    class Broken(Scripted):
        async def send(self, message: Outgoing) -> Result:
            raise ConnectionResetError("reset by peer")

    assert run(Dispatcher(engine, [Broken()])) == {"retry": 1}
    assert delivery(engine, did)["last_error"] == "ConnectionResetError: reset by peer"


# ---- the pure parts ---------------------------------------------------------------------------


@given(st.integers(1, 30), st.integers(0, 2**32))
def test_backoff_has_full_jitter_under_a_cap(attempt: int, seed: int) -> None:
    wait = backoff(attempt, base=60, cap=3600, rng=random.Random(seed))
    assert 0 <= wait <= min(3600, 60 * 2 ** (attempt - 1))


@settings(max_examples=200)
@given(st.lists(st.floats(0, 2, allow_nan=False), min_size=1, max_size=300))
def test_a_token_bucket_never_lets_more_through_than_its_rate(gaps: list[float]) -> None:
    bucket, now, taken = TokenBucket(rate=30, burst=30), 0.0, 0
    for gap in gaps:
        now += gap
        if bucket.wait(now) == 0:
            bucket.take(now)
            taken += 1
    assert taken <= 30 + 30 * now


def test_per_recipient_limits_hold_one_chat_back_not_the_others() -> None:
    limits = RateLimits(Rate(30, 1), Rate(1, 1))
    assert limits.wait("chat-1", 0.0) == 0
    assert limits.wait("chat-1", 0.1) == pytest.approx(0.9)
    assert limits.wait("chat-2", 0.1) == 0
    assert limits.wait("chat-1", 1.0) == 0


def test_a_group_chat_gets_its_own_slower_limit() -> None:
    limits = RateLimits(
        Rate(30, 1), Rate(1, 1), per_group=Rate(20, 60), is_group=lambda k: k.startswith("-")
    )
    assert sum(limits.wait("-100", 0.0) == 0 for _ in range(25)) == 20  # a burst of 20
    assert limits.wait("-100", 0.0) == pytest.approx(3.0)  # then one every 3 s
    assert sum(limits.wait("4242", 0.0) == 0 for _ in range(5)) == 1  # a person: 1/s


def test_idle_recipient_buckets_are_forgotten() -> None:
    limits = RateLimits(None, Rate(1, 1))
    limits.PRUNE_AT = 100
    for n in range(1000):
        assert limits.wait(f"chat-{n}", n * 0.1) == 0
    assert len(limits.keys) <= 100
    assert limits.wait("chat-999", 99.95) > 0  # a busy one is kept


def test_the_breaker_opens_probes_and_closes() -> None:
    breaker = CircuitBreaker(threshold=3, cool_down=10)
    for t in (0, 1, 2):
        assert breaker.allows(t)
        breaker.failed(t)
    assert not breaker.allows(5)
    assert breaker.allows(12)  # half-open: one probe
    assert not breaker.allows(12.5)
    breaker.failed(13)
    assert not breaker.allows(14)
    assert breaker.allows(23)
    breaker.succeeded()
    assert breaker.state == "closed"
    assert breaker.allows(23.1)


@dataclass
class Slow(Scripted):
    """Sends take a moment; counts how many are in flight at once."""

    in_flight: int = 0
    peak: int = 0

    async def send(self, message: Outgoing) -> Result:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        return await super().send(message)


def test_run_until_idle_sends_everything_due_in_overlapping_rounds(engine: Engine) -> None:
    for n in range(7):
        emailed(engine, f"u{n}", f"u{n}@example.org")
    due = sum(len(pending_emails(engine, f"u{n}")) for n in range(7))
    channel = Slow()
    dispatcher = Dispatcher(engine, [channel], batch=2)

    assert dict(asyncio.run(dispatcher.run_until_idle())) == {"sent": due}
    assert channel.peak == 4  # two rounds of two, sending at once
    assert len({m.delivery_id for m in channel.sent}) == due == len(channel.sent)
    assert dict(asyncio.run(dispatcher.run_until_idle())) == {}


def test_run_until_idle_stops_claiming_when_asked_and_finishes_what_it_began(
    engine: Engine,
) -> None:
    for n in range(5):
        emailed(engine, f"u{n}", f"u{n}@example.org")
    due = sum(len(pending_emails(engine, f"u{n}")) for n in range(5))
    asked = iter([False, True])
    dispatcher = Dispatcher(engine, [Slow()], batch=2)

    assert dict(asyncio.run(dispatcher.run_until_idle(lambda: next(asked)))) == {"sent": 2}
    assert sum(len(pending_emails(engine, f"u{n}")) for n in range(5)) == due - 2
