"""Nudges and actions: accept, snooze (it comes back, after quiet hours), dismiss, expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nudgeflow.clock import FrozenClock
from nudgeflow.engine import Engine
from nudgeflow.errors import Forbidden, IllegalTransition, InvalidInput, NotFound

COMPLETE = {"headline": "h", "location": "l", "target_role": "x", "skills": ["a"]}


def delivered_nudge(
    engine: Engine, user_id: str = "ana", timezone: str = "Europe/Berlin"
) -> dict[str, Any]:
    engine.upsert_user({"id": user_id, "timezone": timezone, "traits": COMPLETE})
    engine.put_record({"user_id": user_id, "kind": "resume", "key": "main", "props": {"score": 40}})
    engine.sweep()
    engine.deliver_due()
    [nudge] = engine.nudges(user_id=user_id)
    assert nudge["status"] == "delivered"
    return nudge


def test_accept_is_idempotent_and_final(engine: Engine) -> None:
    nudge = delivered_nudge(engine)

    assert engine.accept(nudge["id"])["status"] == "accepted"
    assert engine.accept(nudge["id"])["status"] == "accepted"
    with pytest.raises(IllegalTransition, match="is accepted; it cannot be dismissed"):
        engine.dismiss(nudge["id"])


def test_a_user_cannot_act_on_another_users_nudge(engine: Engine) -> None:
    nudge = delivered_nudge(engine)
    engine.upsert_user({"id": "eve"})

    with pytest.raises(Forbidden):
        engine.accept(nudge["id"], user_id="eve")
    assert engine.nudge(nudge["id"])["status"] == "delivered"


def test_unknown_nudges_and_snooze_choices_are_named(engine: Engine) -> None:
    with pytest.raises(NotFound, match="no nudge 'n_nope'"):
        engine.dismiss("n_nope")
    nudge = delivered_nudge(engine)
    with pytest.raises(InvalidInput, match="1h, 4h, 24h, 1w"):
        engine.snooze(nudge["id"], "3h")


def test_a_scheduled_nudge_cannot_be_accepted_before_it_is_delivered(
    engine: Engine, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 23, 23, 0, tzinfo=UTC))  # midnight in Berlin: quiet hours
    engine.upsert_user({"id": "ana", "timezone": "Europe/Berlin", "traits": COMPLETE})
    engine.put_record({"user_id": "ana", "kind": "resume", "key": "main", "props": {"score": 40}})
    engine.sweep()
    [nudge] = engine.nudges()
    assert nudge["status"] == "scheduled"

    with pytest.raises(IllegalTransition, match="is scheduled"):
        engine.accept(nudge["id"])


@pytest.mark.parametrize(("choice", "hours"), [("1h", 1), ("4h", 4), ("24h", 24)])
def test_a_snoozed_nudge_comes_back_after_its_time(
    engine: Engine, clock: FrozenClock, choice: str, hours: int
) -> None:
    clock.set(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))  # 11:00 in Berlin
    nudge = delivered_nudge(engine)

    snoozed = engine.snooze(nudge["id"], choice)

    assert snoozed["status"] == "snoozed"
    assert snoozed["deliver_at"] == clock.now() + timedelta(hours=hours)
    clock.advance(timedelta(hours=hours) - timedelta(minutes=1))
    assert engine.deliver_due()["delivered_in_app"] == 0
    clock.advance(timedelta(minutes=1))
    assert engine.deliver_due()["delivered_in_app"] == 1
    assert engine.nudge(nudge["id"])["status"] == "delivered"


def test_a_week_long_snooze_past_the_nudges_expiry_ends_in_expiry(
    engine: Engine, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    nudge = delivered_nudge(engine)  # resume_weak expires a week after it was made

    assert engine.snooze(nudge["id"], "1w")["deliver_at"] == clock.now() + timedelta(weeks=1)
    clock.advance(timedelta(weeks=1))

    assert engine.deliver_due() == {"expired": 1, "delivered_in_app": 0}
    assert engine.nudge(nudge["id"])["status"] == "expired"


def test_a_snooze_ending_in_quiet_hours_comes_back_when_they_end(
    engine: Engine, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 23, 19, 30, tzinfo=UTC))  # 20:30 in Berlin
    nudge = delivered_nudge(engine)

    snoozed = engine.snooze(nudge["id"], "4h")  # 00:30 Berlin, inside 22:00–07:00

    assert snoozed["deliver_at"] == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # 07:00 Berlin


def test_dismissing_a_snoozed_nudge_cancels_its_return(engine: Engine, clock: FrozenClock) -> None:
    nudge = delivered_nudge(engine)
    engine.snooze(nudge["id"], "1h")
    engine.dismiss(nudge["id"])

    clock.advance(timedelta(hours=2))

    assert engine.deliver_due()["delivered_in_app"] == 0
    assert engine.nudge(nudge["id"])["status"] == "dismissed"


def test_open_nudges_expire_and_are_not_delivered_after(engine: Engine, clock: FrozenClock) -> None:
    nudge = delivered_nudge(engine)
    assert nudge["expires_at"] is not None

    clock.set(nudge["expires_at"])
    assert engine.deliver_due()["expired"] == 1
    assert engine.nudge(nudge["id"])["status"] == "expired"
    with pytest.raises(IllegalTransition):
        engine.accept(nudge["id"])
