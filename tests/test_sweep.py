"""Sweeps: claim what is due, never what is not; survive a failing rule and a crashed sweep."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from nudgeflow.clock import FrozenClock
from nudgeflow.config import load_settings
from nudgeflow.engine import Engine
from nudgeflow.rules import Candidate, Facts, Playbook, RuleOutput
from nudgeflow.store import sweeps
from nudgeflow.store.database import writer
from nudgeflow.store.schema import rule_errors, users

COMPLETE = {"headline": "h", "location": "l", "target_role": "x", "skills": ["a"]}


def weak_resume(engine: Engine, user_id: str, **user: object) -> None:
    engine.upsert_user({"id": user_id, "traits": COMPLETE, **user})
    engine.put_record({"user_id": user_id, "kind": "resume", "key": "main", "props": {"score": 30}})


def engine_with(database_url: str, clock: FrozenClock, book: Playbook) -> Engine:
    return Engine(
        database_url,
        settings=load_settings(database_url=database_url),
        clock=clock,
        playbooks=[book],
    )


def test_a_dry_run_decides_but_writes_nothing(engine: Engine) -> None:
    weak_resume(engine, "u1")

    report = engine.sweep(dry_run=True)

    assert (report.users, report.scheduled) == (1, 1)
    assert engine.nudges() == []
    assert engine.sweep().users == 1  # still due


def test_a_rule_returning_a_naive_time_is_a_rule_error_not_a_broken_sweep(
    database_url: str, clock: FrozenClock
) -> None:
    book = Playbook("careless")

    @book.rule(cadence="daily")
    def naive(facts: Facts, now: datetime) -> RuleOutput:
        return Candidate(dedupe_key="k", title="t", body="b", expires_at=datetime(2026, 12, 1))

    @book.rule(cadence="daily")
    def fine(facts: Facts, now: datetime) -> RuleOutput:
        return Candidate(dedupe_key="k", title="t", body="b")

    engine = engine_with(database_url, clock, book)
    engine.upsert_user({"id": "u1"})

    report = engine.sweep()

    assert (report.rule_errors, report.scheduled) == (1, 1)
    with engine.db.connect() as conn:
        [error] = conn.execute(sa.select(rule_errors.c.error)).scalars().all()
    assert (
        error
        == "ValueError: Candidate.expires_at must be an aware datetime (with a timezone), got 2026-12-01 00:00:00"
    )
    engine.close()


def test_the_sweep_finds_only_due_users(engine: Engine, clock: FrozenClock) -> None:
    for n in range(5):
        weak_resume(engine, f"u{n}")
    engine.sweep()
    clock.advance(timedelta(minutes=5))
    engine.track({"id": "e1", "user_id": "u3", "name": "login", "at": clock.now().isoformat()})

    report = engine.sweep()

    assert report.users == 1


def test_a_failing_rule_is_recorded_and_the_sweep_goes_on(
    database_url: str, clock: FrozenClock
) -> None:
    book = Playbook("flaky")

    @book.rule(cadence="daily", cooldown="1d")
    def broken(facts: Facts, now: datetime) -> RuleOutput:
        if facts.user.id == "bad":
            raise ZeroDivisionError("division by zero")
        return Candidate(dedupe_key="ok", title="fine", body="fine")

    engine = engine_with(database_url, clock, book)
    engine.upsert_users([{"id": "bad"}, {"id": "good"}])

    report = engine.sweep()

    assert report.rule_errors == 1
    assert [n["user_id"] for n in engine.nudges()] == ["good"]
    with engine.db.connect() as conn:
        [(user_id, rule, error)] = conn.execute(
            sa.select(rule_errors.c.user_id, rule_errors.c.rule, rule_errors.c.error)
        ).all()
    assert (user_id, rule, error) == ("bad", "broken", "ZeroDivisionError: division by zero")
    # Retried at the rule's next cadence tick: 09:00 UTC.
    with engine.db.connect() as conn:
        assert conn.execute(
            sa.select(users.c.next_check_at).where(users.c.id == "bad")
        ).scalar_one() == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    engine.close()


def test_a_crashed_sweeps_users_fall_due_again_when_the_lease_ends(
    engine: Engine, clock: FrozenClock
) -> None:
    weak_resume(engine, "u1")
    with writer(engine.db).begin() as conn:  # a sweep claims, then dies before writing
        claimed = sweeps.claim_due(conn, clock.now(), 100, timedelta(minutes=5))
    assert [u.id for u in claimed] == ["u1"]

    assert engine.sweep().users == 0  # leased to the dead sweep
    clock.advance(timedelta(minutes=5))
    assert engine.sweep().users == 1
    assert len(engine.nudges()) == 1


def test_a_failed_write_stops_the_sweep_and_loses_no_user(
    database_url: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails stops the sweep with its error and what was written stays. The
    users of the failed batch (and on PostgreSQL, where batch N+1 is claimed and decided
    while N is written, those of the next) are due again once their lease ends."""
    settings = load_settings(database_url=database_url, sweep_batch_size=10)
    engine = Engine(database_url, settings=settings, clock=clock)
    for n in range(50):
        weak_resume(engine, f"u{n:02d}")
    written = sweeps.write_decisions
    calls: list[int] = []

    def third_fails(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the disk is full")
        written(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sweeps, "write_decisions", third_fails)
    with pytest.raises(RuntimeError, match="the disk is full"):
        engine.sweep()
    assert len({n["user_id"] for n in engine.nudges(limit=1000)}) == 20

    monkeypatch.setattr(sweeps, "write_decisions", written)
    leased = 20 if engine.db.dialect.name == "postgresql" else 10  # the next batch was claimed
    assert engine.sweep().users == 30 - leased
    clock.advance(timedelta(seconds=settings.lease_seconds))
    assert engine.sweep().users == leased
    nudges = engine.nudges(limit=1000)
    assert len({n["user_id"] for n in nudges}) == 50
    assert len(nudges) == len({(n["user_id"], n["rule"], n["dedupe_key"]) for n in nudges})
    engine.close()


def test_a_fact_arriving_during_a_sweep_keeps_the_user_due(
    engine: Engine, clock: FrozenClock
) -> None:
    weak_resume(engine, "u1")
    with writer(engine.db).begin() as conn:
        [row] = sweeps.claim_due(conn, clock.now(), 100, timedelta(minutes=5))
    engine.track({"id": "late", "user_id": "u1", "name": "login", "at": clock.now().isoformat()})
    with writer(engine.db).begin() as conn:
        sweeps.finish_users(conn, [(row, clock.now() + timedelta(days=1))], clock.now())

    assert engine.sweep().users == 1


def test_daily_rules_fire_at_nine_local_time(engine: Engine, clock: FrozenClock) -> None:
    clock.set(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    engine.upsert_users([
        {"id": "tokyo", "timezone": "Asia/Tokyo", "traits": COMPLETE},
        {"id": "berlin", "timezone": "Europe/Berlin", "traits": COMPLETE},
        {"id": "la", "timezone": "America/Los_Angeles", "traits": COMPLETE},
    ])  # fmt: skip
    engine.sweep()
    fired: dict[str, datetime] = {}
    for _ in range(48):
        clock.advance(timedelta(minutes=30))
        engine.sweep()
        for nudge in engine.nudges(status="scheduled"):
            if nudge["rule"] == "daily_check":
                fired.setdefault(nudge["user_id"], clock.now())

    assert fired == {
        "tokyo": datetime(2026, 11, 23, 0, 0, tzinfo=UTC),
        "berlin": datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
        "la": datetime(2026, 11, 22, 17, 0, tzinfo=UTC),
    }


def test_an_interview_wakes_the_user_48_hours_before_it(engine: Engine, clock: FrozenClock) -> None:
    interview = clock.now() + timedelta(days=5)
    engine.upsert_user({"id": "u1", "traits": COMPLETE})
    engine.put_record(
        {
            "user_id": "u1",
            "kind": "interview",
            "key": "i1",
            "props": {"at": interview.isoformat(), "company": "Acme"},
        }
    )
    engine.sweep()

    clock.set(interview - timedelta(hours=48))
    report = engine.sweep()

    assert report.users == 1
    [nudge] = [n for n in engine.nudges() if n["rule"] == "interview_soon"]
    assert nudge["title"].startswith("Interview with Acme")
    assert nudge["expires_at"] == interview


def test_the_kill_switch_and_a_paused_rule_suppress_with_their_reason(engine: Engine) -> None:
    weak_resume(engine, "uni", org="uni-x", plan="university")
    weak_resume(engine, "solo")
    engine.set_org("uni-x", agent_enabled=False, actor="ops@uni")
    engine.pause_rule("profile_incomplete", actor="ops")

    engine.sweep()

    [uni] = engine.nudges(user_id="uni")
    assert (uni["status"], uni["reason"]) == (
        "suppressed",
        "kill switch: organisation uni-x has the agent switched off",
    )
    [solo] = engine.nudges(user_id="solo")
    assert solo["status"] == "scheduled"
    actions = [(e["actor"], e["action"], e["target"]) for e in engine.audit_log()]
    assert actions == [
        ("ops", "rule.pause", "rule:profile_incomplete"),
        ("ops@uni", "org.agent", "org:uni-x"),
    ]


def test_the_cap_lets_the_highest_scores_through(engine: Engine) -> None:
    engine.upsert_user({"id": "u1", "plan": "free", "traits": {}})  # profile incomplete
    engine.put_record({"user_id": "u1", "kind": "resume", "key": "main", "props": {"score": 30}})
    engine.put_record(
        {
            "user_id": "u1",
            "kind": "application",
            "key": "a1",
            "props": {"company": "Acme", "status": "applied"},
            "updated_at": "2026-10-01T00:00:00Z",
        }
    )

    engine.sweep()

    by_status = {n["rule"]: n["status"] for n in engine.nudges()}
    assert by_status == {
        "app_rescue": "scheduled",
        "job_search_stale": "scheduled",
        "resume_weak": "suppressed",
        "profile_incomplete": "suppressed",
    }


def test_nothing_is_scheduled_inside_quiet_hours(engine: Engine, clock: FrozenClock) -> None:
    clock.set(datetime(2026, 11, 23, 22, 30, tzinfo=UTC))  # 23:30 in Berlin
    weak_resume(engine, "u1", timezone="Europe/Berlin")

    report = engine.sweep()

    assert report.deferred == 1
    [nudge] = engine.nudges()
    assert nudge["deliver_at"] == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    assert "quiet hours 22:00–07:00 until 07:00 Europe/Berlin" in nudge["reason"]


@pytest.fixture
def two_engines(database_url: str, clock: FrozenClock) -> Iterator[tuple[Engine, Engine]]:
    settings = load_settings(database_url=database_url, sweep_batch_size=50)
    first = Engine(database_url, settings=settings, clock=clock)
    second = Engine(database_url, settings=settings, clock=clock, migrate=False)
    yield first, second
    first.close()
    second.close()


def test_two_concurrent_sweeps_share_the_due_users_without_overlap(
    two_engines: tuple[Engine, Engine],
) -> None:
    first = two_engines[0]
    first.upsert_users({"id": f"u{n:03d}", "traits": COMPLETE} for n in range(400))
    first.put_records(
        {"user_id": f"u{n:03d}", "kind": "resume", "key": "main", "props": {"score": 30}}
        for n in range(400)
    )
    counts: list[int] = []

    def run(engine: Engine) -> None:
        counts.append(engine.sweep().users)

    threads = [threading.Thread(target=run, args=(e,)) for e in two_engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counts) == 400
    nudges = first.nudges(limit=1000)
    assert len(nudges) == 400
    assert len({n["user_id"] for n in nudges}) == 400


def test_a_suppressed_nudge_that_later_gets_through_is_rewritten_in_place(
    engine: Engine, clock: FrozenClock
) -> None:
    weak_resume(engine, "uni", org="uni-x", plan="university")
    engine.set_org("uni-x", agent_enabled=False, actor="ops")
    engine.sweep()
    [before] = engine.nudges(user_id="uni")
    assert before["status"] == "suppressed"

    engine.set_org("uni-x", agent_enabled=True, actor="ops")
    clock.advance(timedelta(days=1))
    engine.sweep()

    [after] = [n for n in engine.nudges(user_id="uni") if n["rule"] == before["rule"]]
    assert (after["id"], after["status"]) == (before["id"], "scheduled")
    assert after["data"] == before["data"]
    assert after["deliver_at"] > before["created_at"]
