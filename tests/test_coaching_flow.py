"""Coaching from preferences to the inbox: the schedule a user gets when they turn coaching on,
the sweep deciding at the slot, the generation stage writing the text while the delivery
waits, and the schedule moving on (or retrying sooner) afterwards. Templates here; the LLM
path through the same stage is in test_coaching_llm_flow.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from nudgeflow.clock import FrozenClock, SystemClock
from nudgeflow.coaching import cadence
from nudgeflow.coaching.schedule import KEY, KIND, Schedule, current_slot
from nudgeflow.config import load_settings
from nudgeflow.engine import Engine
from nudgeflow.errors import InvalidInput
from nudgeflow.generation import GenerationWorker
from nudgeflow.loops import Loops
from nudgeflow.playbooks.coaching import coaching
from nudgeflow.store import coaching as coaching_store
from nudgeflow.store import generation
from nudgeflow.store.database import writer
from nudgeflow.store.schema import deliveries, records, users

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def engine(database_url: str, clock: FrozenClock) -> Iterator[Engine]:
    """Coaching alone, so the career rules do not fill the inbox."""
    eng = Engine(database_url, settings=load_settings(database_url=database_url), clock=clock,
                 playbooks=[coaching])  # fmt: skip
    yield eng
    eng.close()


def coached(
    engine: Engine, user_id: str = "ana", addresses: dict[str, str] | None = None, **prefs: Any
) -> None:
    preferences = {"frequency": "daily", "window": "morning", "channels": ["in_app"], **prefs}
    engine.upsert_user({"id": user_id, "timezone": "Europe/Berlin", "preferences": preferences,
                        "traits": {"name": "Ana", "goal": "run a 10k"},
                        "addresses": addresses or {}})  # fmt: skip


def schedule_of(engine: Engine, user_id: str = "ana") -> Schedule | None:
    with engine.db.connect() as conn:
        props = conn.execute(
            sa.select(records.c.props).where(
                (records.c.user_id == user_id) & (records.c.kind == KIND) & (records.c.key == KEY)
            )
        ).scalar_one_or_none()
    return None if props is None else Schedule.from_props(props)


def coaching_nudges(engine: Engine, user_id: str = "ana") -> list[dict[str, Any]]:
    return [n for n in engine.nudges(user_id=user_id) if n["rule"] == "coaching_message"]


def delivery_status(engine: Engine, nudge_id: str) -> str:
    with engine.db.connect() as conn:
        return str(
            conn.execute(
                sa.select(deliveries.c.status).where(deliveries.c.nudge_id == nudge_id)
            ).scalar_one()
        )


def generate(engine: Engine) -> dict[str, int]:
    async def once() -> dict[str, int]:
        worker = GenerationWorker(engine)
        try:
            return dict(await worker.run_until_idle())
        finally:
            await worker.aclose()

    return asyncio.run(once())


def test_turning_coaching_on_bootstraps_a_first_message_one_to_seven_hours_away(
    engine: Engine, clock: FrozenClock
) -> None:
    coached(engine)
    schedule = schedule_of(engine)
    assert schedule is not None
    assert (schedule.frequency, schedule.window, schedule.last_due) == ("daily", "morning", None)
    # 1–7 h from 09:00 local, moved into the morning window (the ranges themselves are
    # test_coaching_cadence's): before 11:00 today, or tomorrow's aim, 08:00.
    local = schedule.next_due.astimezone(BERLIN)
    today = clock.now().astimezone(BERLIN).date()
    assert schedule.next_due - clock.now() >= timedelta(hours=1)
    assert (local.date(), local.hour) in {(today, 10), (today + timedelta(days=1), 8)}

    coached(engine)  # the same preferences again: the schedule stays as it was
    assert schedule_of(engine) == schedule

    coached(engine, frequency=None)
    assert schedule_of(engine) is None


def test_a_bad_frequency_is_refused_and_no_schedule_is_made(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match=r"preferences\.frequency"):
        coached(engine, frequency="hourly")
    assert schedule_of(engine) is None


def test_the_message_is_decided_at_its_slot_written_then_delivered(
    engine: Engine, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 23, 5, 0, tzinfo=BERLIN))  # 05:00 local: before the window
    coached(engine)
    engine.sweep()
    assert coaching_nudges(engine) == []
    slot = _next_check(engine)
    local = slot.astimezone(BERLIN)
    assert 6 <= local.hour < 11  # moved into the morning window

    clock.set(slot)
    engine.sweep()
    [nudge] = coaching_nudges(engine)
    assert delivery_status(engine, nudge["id"]) == "held"  # no text yet: nothing goes out
    engine.deliver_due()
    assert engine.inbox("ana") == []

    yesterday = (slot - timedelta(days=1)).isoformat()
    engine.track({"id": "e1", "user_id": "ana", "name": "run_logged", "at": yesterday,
                  "props": {"title": "5 km in 31 minutes"}})  # fmt: skip
    engine.put_record({"user_id": "ana", "kind": "journal", "key": "j1",
                       "props": {"text": "Legs sore but happy."}})  # fmt: skip
    assert generate(engine) == {"written": 1}
    nudge = engine.nudge(nudge["id"])
    assert nudge["body"]
    assert nudge["title"] != "A message from your coach"
    assert nudge["data"]["coaching"]["generator"] == "template"
    assert delivery_status(engine, nudge["id"]) == "pending"
    engine.deliver_due()
    [shown] = engine.inbox("ana")
    assert shown["id"] == nudge["id"]

    [attempt] = _attempts(engine)
    assert (attempt["generator"], attempt["sent"], attempt["final"]) == ("template", True, True)
    assert attempt["context"]["name"] == "Ana"
    read = [(e["kind"], e["text"]) for e in attempt["context"]["entries"]]
    assert read == [("journal_entry", "Legs sore but happy."), ("event", "5 km in 31 minutes")]
    assert attempt["content"] == nudge["body"]

    schedule = schedule_of(engine)
    assert schedule is not None
    assert schedule.last_due == slot
    assert schedule.next_due == slot + timedelta(days=1)  # the same local time tomorrow
    engine.sweep()
    assert len(coaching_nudges(engine)) == 1  # one message per slot


def test_a_week_of_daily_messages_across_the_end_of_summer_time(
    engine: Engine, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 10, 21, 12, 0, tzinfo=BERLIN))  # clocks go back on 25 October
    coached(engine, window="evening")
    sent_at = []
    for _ in range(8):
        engine.sweep()
        clock.set(_next_check(engine))
        engine.sweep()
        generate(engine)
        sent_at += [
            n["deliver_at"] for n in coaching_nudges(engine) if n["deliver_at"] not in sent_at
        ]
    local = [at.astimezone(BERLIN) for at in sorted(sent_at)]
    assert len(local) == 8
    assert len({at.date() for at in local}) == 8  # one a day
    assert len({at.time() for at in local[1:]}) == 1  # the same local time every day after
    assert all(18 <= at.hour < 21 for at in local)


def test_a_message_that_expired_while_it_was_written_is_not_released(
    engine: Engine, clock: FrozenClock
) -> None:
    coached(engine)
    clock.set(schedule_of(engine).next_due + timedelta(minutes=1))  # type: ignore[union-attr]
    engine.sweep()
    [nudge] = coaching_nudges(engine)
    with engine.db.begin() as conn:
        [held] = generation.claim(conn, clock.now(), 10, timedelta(minutes=5))
    clock.set(nudge["expires_at"])
    assert engine.deliver_due()["expired"] == 1
    assert delivery_status(engine, nudge["id"]) == "cancelled"
    with engine.db.begin() as conn:
        assert not generation.release(conn, held, title="t", body="b", data={}, now=clock.now())
    assert (engine.nudge(nudge["id"])["status"], engine.nudge(nudge["id"])["body"]) == (
        "expired",
        "",
    )


def test_a_writer_that_died_leaves_its_claim_to_the_next_once_the_lease_ends(
    engine: Engine, clock: FrozenClock
) -> None:
    coached(engine)
    clock.set(schedule_of(engine).next_due + timedelta(minutes=1))  # type: ignore[union-attr]
    engine.sweep()
    with engine.db.begin() as conn:
        assert len(generation.claim(conn, clock.now(), 10, timedelta(minutes=5))) == 1
        assert generation.claim(conn, clock.now(), 10, timedelta(minutes=5)) == []
    clock.advance(timedelta(minutes=6))
    assert generate(engine) == {"written": 1}


def _next_check(engine: Engine, user_id: str = "ana") -> datetime:
    with engine.db.connect() as conn:
        at = conn.execute(
            sa.select(users.c.next_check_at).where(users.c.id == user_id)
        ).scalar_one()
    assert isinstance(at, datetime)
    return at


def _attempts(engine: Engine, user_id: str = "ana") -> list[dict[str, Any]]:
    with engine.db.connect() as conn:
        return generation.attempts_of(conn, user_id)


def test_llm_without_settings_stops_start_up_naming_the_setting(database_url: str) -> None:
    settings = load_settings(
        database_url=database_url, rules={"coaching_message": {"generator": "llm"}}, llm=None
    )
    with pytest.raises(Exception, match=r"rules\.coaching_message\.generator"):
        Engine(database_url, settings=settings)


def test_a_rule_that_writes_its_own_copy_takes_no_generator(database_url: str) -> None:
    settings = load_settings(
        database_url=database_url, rules={"resume_weak": {"generator": "template"}}
    )
    with pytest.raises(
        Exception, match=r"rules\.resume_weak\.generator: this rule writes its own copy"
    ):
        Engine(database_url, settings=settings)


def test_the_loops_write_a_due_message_and_deliver_it(database_url: str) -> None:
    """`serve` and `worker` run the generation stage between their sweeps and deliveries."""
    settings = load_settings(database_url=database_url, sweep_every_seconds=0.05,
                             deliver_every_seconds=0.05, generate_every_seconds=0.05)  # fmt: skip
    engine = Engine(database_url, settings=settings, clock=SystemClock(), playbooks=[coaching])
    now = engine.clock.now()
    offset = (8 - now.hour) % 24  # a zone where it is 08:xx now: inside the morning window
    offset -= 24 if offset > 14 else 0
    engine.upsert_user({"id": "ana", "timezone": f"Etc/GMT{-offset:+d}" if offset else "UTC",
                        "preferences": {"frequency": "daily", "channels": ["in_app"]}})  # fmt: skip
    with writer(engine.db).begin() as conn:  # due now rather than in 1–7 hours
        coaching_store.put(conn, [("ana", Schedule("daily", "morning", now))], now)

    async def scenario() -> None:
        loops = Loops(engine)
        task = asyncio.create_task(loops.run())
        for _ in range(100):
            await asyncio.sleep(0.05)
            if engine.inbox("ana"):
                break
        loops.stop()
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(scenario())
    [shown] = engine.inbox("ana")
    assert (shown["rule"], shown["status"]) == ("coaching_message", "delivered")
    assert shown["body"]
    engine.close()


@pytest.mark.parametrize("frequency", ["daily", "several_per_week", "weekly"])
def test_a_schedule_left_for_years_resumes_at_the_slot_of_its_rhythm_at_once(
    frequency: str,
) -> None:
    start = datetime(2026, 11, 23, 7, 10, tzinfo=UTC)
    schedule = Schedule(frequency, "morning", start)
    stepped = mock.patch.object(cadence, "next_due", wraps=cadence.next_due)
    for years in (1, 30, 6000):
        now = start + timedelta(days=365 * years, hours=5)
        with stepped as steps:
            slot = current_slot(schedule, "Europe/Berlin", now)
        assert steps.call_count <= 3  # not a step per missed message
        assert slot <= now < slot + schedule.period
        assert slot.astimezone(BERLIN).time() == start.astimezone(BERLIN).time()
        assert (
            slot.astimezone(BERLIN).date() - start.astimezone(BERLIN).date()
        ).days % schedule.period.days == 0
