"""Explain answers "why did (or didn't) this user get that nudge?" and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from nudgeflow.clock import FrozenClock
from nudgeflow.engine import Engine
from nudgeflow.errors import NotFound
from nudgeflow.store.schema import users


def snapshot(engine: Engine) -> tuple[object, ...]:
    with engine.db.connect() as conn:
        rows = conn.execute(sa.select(users).order_by(users.c.id)).all()
    return (tuple(rows), tuple(tuple(sorted(n.items())) for n in engine.nudges()))


def test_explain_shows_each_rule_with_its_trace_and_numbers(
    engine: Engine, clock: FrozenClock
) -> None:
    engine.upsert_user({"id": "ana", "plan": "free", "timezone": "Europe/Berlin", "traits": {}})
    engine.put_record({"user_id": "ana", "kind": "resume", "key": "main", "props": {"score": 30}})
    engine.put_record(
        {
            "user_id": "ana",
            "kind": "application",
            "key": "a1",
            "props": {"company": "Acme", "status": "applied"},
            "updated_at": "2026-10-01T00:00:00Z",
        }
    )

    data = engine.explain("ana").as_dict()

    assert [r["rule"] for r in data["rules"]][:3] == ["interview_soon", "app_rescue", "resume_weak"]
    resume = next(r for r in data["rules"] if r["rule"] == "resume_weak")
    [decision] = resume["decisions"]
    assert decision["outcome"] == "suppressed"
    assert "daily cap: suppress — daily cap 2/2 for plan free on 2026-11-23" in decision["trace"]
    app = next(r for r in data["rules"] if r["rule"] == "app_rescue")
    assert app["decisions"][0]["outcome"] == "scheduled"
    assert data["cap"] == {"day": "2026-11-23", "used": 0, "limit": 2}


def test_explain_at_night_says_until_when_quiet_hours_defer(engine: Engine) -> None:
    engine.upsert_user({"id": "ana", "timezone": "Europe/Berlin", "traits": {}})
    night = datetime(2026, 11, 23, 23, 15, tzinfo=UTC)

    text = engine.explain("ana", at=night).render()

    assert "quiet hours 22:00–07:00 until 07:00 Europe/Berlin" in text
    assert "DEFERRED" in text


def test_explain_changes_nothing(engine: Engine, clock: FrozenClock) -> None:
    engine.upsert_user({"id": "ana", "traits": {}})
    engine.sweep()
    clock.advance(timedelta(days=2))
    before = snapshot(engine)

    engine.explain("ana")
    engine.explain("ana", at=clock.now() + timedelta(days=30))

    assert snapshot(engine) == before


def test_explain_reports_cooldowns_and_recent_nudges(engine: Engine, clock: FrozenClock) -> None:
    engine.upsert_user({"id": "ana", "traits": {}})
    engine.sweep()
    clock.advance(timedelta(hours=1))

    data = engine.explain("ana").as_dict()

    assert data["cooldowns"]["profile_incomplete"] == "2026-11-30T08:00:00+00:00"
    assert [n["rule"] for n in data["recent_nudges"]] == ["profile_incomplete"]


def test_explaining_an_unknown_user_is_a_clear_error(engine: Engine) -> None:
    with pytest.raises(NotFound, match="no user 'ghost'"):
        engine.explain("ghost")
