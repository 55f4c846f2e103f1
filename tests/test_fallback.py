"""Fallback: an in-app nudge left unseen goes out on the rule's fallback channel, through the
same policy and outbox; seen in time, or not allowed, it does not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from nudgeflow.channels.base import Sink
from nudgeflow.clock import FrozenClock
from nudgeflow.config import load_settings
from nudgeflow.dispatch import Dispatcher
from nudgeflow.engine import Engine
from nudgeflow.rules import Candidate, Facts, Playbook
from nudgeflow.store.schema import deliveries

checkins = Playbook("checkins")


@checkins.rule(cadence="hourly", cooldown="1d", channels=["in_app"], fallback=("email", "2h"))
def check_in(facts: Facts, now: datetime) -> Candidate:
    return Candidate(
        f"check_in:{now:%Y-%m-%d}", "How is it going?", "Two minutes to note your week."
    )


@pytest.fixture
def engine(database_url: str, clock: FrozenClock) -> Iterator[Engine]:
    settings = load_settings(database_url=database_url, quiet_hours={"start": "22:00", "end": "07:00"})  # fmt: skip
    eng = Engine(database_url, settings=settings, clock=clock, playbooks=[checkins])
    yield eng
    eng.close()


def shown(engine: Engine, email: str | None = "ana@example.org") -> str:
    """Ana (UTC) gets the check-in in her inbox now; its id."""
    engine.upsert_user({"id": "ana", "addresses": {"email": email} if email else {}})
    engine.sweep()
    engine.deliver_due()
    [nudge] = engine.nudges(status="delivered")
    return str(nudge["id"])


def fallback_of(engine: Engine, nudge_id: str) -> dict[str, object] | None:
    with engine.db.connect() as conn:
        row = conn.execute(
            sa.select(deliveries).where((deliveries.c.nudge_id == nudge_id) & (deliveries.c.channel == "email"))
        ).mappings().first()  # fmt: skip
    return dict(row) if row else None


def test_an_unseen_nudge_goes_out_by_email_after_the_wait(
    engine: Engine, clock: FrozenClock
) -> None:
    nudge_id = shown(engine)
    clock.advance(timedelta(hours=1, minutes=59))
    assert engine.deliver_due()["fallbacks"] == 0
    clock.advance(timedelta(minutes=1))
    assert engine.deliver_due()["fallbacks"] == 1
    assert engine.deliver_due()["fallbacks"] == 0  # considered once
    email = Sink(name="email")
    assert asyncio.run(Dispatcher(engine, [email]).run_once()) == {"sent": 1}
    assert [m.nudge["id"] for m in email.sent] == [nudge_id]
    assert fallback_of(engine, nudge_id)["status"] == "sent"  # type: ignore[index]


def test_a_nudge_seen_in_time_does_not_fall_back(engine: Engine, clock: FrozenClock) -> None:
    nudge_id = shown(engine)
    clock.advance(timedelta(hours=1))
    engine.mark_seen("ana", [nudge_id])
    clock.advance(timedelta(hours=3))
    assert engine.deliver_due()["fallbacks"] == 0
    assert fallback_of(engine, nudge_id) is None


def test_without_an_address_the_fallback_is_recorded_as_not_allowed(
    engine: Engine, clock: FrozenClock
) -> None:
    nudge_id = shown(engine, email=None)
    clock.advance(timedelta(hours=2))
    assert engine.deliver_due()["fallbacks"] == 0
    skipped = fallback_of(engine, nudge_id)
    assert skipped is not None
    assert skipped["status"] == "cancelled"
    assert str(skipped["last_error"]).startswith(
        "fallback: channel: none of email is enabled and reachable"
    )


def test_a_fallback_waits_for_quiet_hours_and_seeing_it_meanwhile_cancels_it(
    engine: Engine, clock: FrozenClock
) -> None:
    clock.set(clock.now().replace(hour=20))  # shown at 20:00 UTC; the fallback is due at 22:00
    nudge_id = shown(engine)
    clock.advance(timedelta(hours=2))
    assert engine.deliver_due()["fallbacks"] == 1
    waiting = fallback_of(engine, nudge_id)
    assert waiting is not None
    assert waiting["next_attempt_at"] == clock.now().replace(hour=7) + timedelta(days=1)
    engine.mark_seen("ana", [nudge_id])
    assert fallback_of(engine, nudge_id)["status"] == "cancelled"  # type: ignore[index]
