"""The quick start's promise: a user in, a sweep, a nudge decided and shown, acted upon."""

from __future__ import annotations

from datetime import timedelta

from nudgeflow.clock import FrozenClock
from nudgeflow.engine import Engine


def test_a_weak_resume_becomes_a_nudge_the_user_can_accept(
    engine: Engine, clock: FrozenClock
) -> None:
    engine.upsert_user(
        {
            "id": "ana",
            "plan": "premium",
            "timezone": "Europe/Berlin",
            "traits": {"headline": "x", "location": "Berlin", "target_role": "x", "skills": ["a"]},
        }
    )
    engine.put_record({"user_id": "ana", "kind": "resume", "key": "main", "props": {"score": 52}})

    report = engine.sweep()

    assert report.users == 1
    assert report.scheduled == 1
    [nudge] = engine.nudges(user_id="ana")
    assert (nudge["rule"], nudge["status"]) == ("resume_weak", "scheduled")
    assert engine.deliver_due() == {"expired": 0, "delivered_in_app": 1}
    accepted = engine.accept(nudge["id"], user_id="ana")
    assert accepted["status"] == "accepted"
    assert accepted["acted_at"] == clock.now()


def test_a_second_sweep_at_the_same_time_changes_nothing(
    engine: Engine, clock: FrozenClock
) -> None:
    engine.upsert_user({"id": "bo", "timezone": "America/New_York"})
    engine.put_record({"user_id": "bo", "kind": "resume", "key": "main", "props": {"score": 40}})
    engine.sweep()
    before = engine.nudges()

    again = engine.sweep()

    assert again.users == 0
    assert engine.nudges() == before
    clock.advance(timedelta(days=1))
    assert engine.sweep().users == 1
