"""The small flag gate in front of the agent: disabled, plans, percentage, allow-list."""

from __future__ import annotations

from nudgeflow.engine import Engine
from nudgeflow.flags import AGENT, PROACTIVE, bucket_of

COMPLETE = {"headline": "h", "location": "l", "target_role": "x", "skills": ["a"]}


def population(engine: Engine, count: int, plan: str = "free") -> None:
    engine.upsert_users(
        {"id": f"{plan}{n}", "plan": plan, "traits": COMPLETE} for n in range(count)
    )
    engine.put_records(
        {"user_id": f"{plan}{n}", "kind": "resume", "key": "main", "props": {"score": 30}}
        for n in range(count)
    )


def statuses(engine: Engine) -> dict[str, str]:
    return {n["user_id"]: n["status"] for n in engine.nudges(limit=1000)}


def test_bucketing_matches_unleash_gradual_rollout() -> None:
    # The Unleash client specification, 03-gradual-rollout-user-id-strategy: group AB12A at
    # 50% is on for userId 122 and off for userId 155.
    assert bucket_of("AB12A", "122") <= 50 < bucket_of("AB12A", "155")


def test_a_percentage_rollout_lets_in_exactly_the_users_in_its_buckets(engine: Engine) -> None:
    population(engine, 60)
    engine.flags.put(AGENT, {"percentage": 30}, actor="ops")

    engine.sweep()

    expected = {f"free{n}" for n in range(60) if bucket_of(AGENT, f"free{n}") <= 30}
    got = {user for user, status in statuses(engine).items() if status == "scheduled"}
    assert got == expected
    assert 5 < len(got) < 35


def test_plans_allow_list_and_disabled(engine: Engine) -> None:
    population(engine, 3, "free")
    population(engine, 3, "premium")
    engine.flags.put(PROACTIVE, {"plans": ["premium"], "allow": ["free1"]}, actor="ops")

    engine.sweep()

    assert statuses(engine) == {
        "free0": "suppressed", "free1": "scheduled", "free2": "suppressed",
        "premium0": "scheduled", "premium1": "scheduled", "premium2": "scheduled",
    }  # fmt: skip
    [suppressed] = engine.nudges(user_id="free0")
    assert suppressed["reason"] == "flag: flag proactive_nudges: plan free not among premium"


def test_flag_changes_are_audited(engine: Engine) -> None:
    engine.flags.put(AGENT, {"percentage": 10}, actor="ana")
    engine.flags.rollout(AGENT, 50, actor="bo")

    [latest, first] = engine.audit_log()
    assert (first["actor"], first["before"], first["after"]["percentage"]) == ("ana", None, 10)
    assert (latest["actor"], latest["before"]["percentage"], latest["after"]["percentage"]) == (
        "bo",
        10,
        50,
    )
