"""Operators change flags from Python (the API and CLI sit on this): every change validated
whole, audited with before and after, and seen by every worker within seconds."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from nudgeflow.config import load_settings
from nudgeflow.engine import Engine
from nudgeflow.errors import InvalidInput, NotFound, UnknownPlan
from nudgeflow.flag_snapshot import FlagSnapshot, FlagView
from nudgeflow.flags import AGENT, Flag, FlagGate, bucket_of
from nudgeflow.rules import User


def test_a_flag_is_created_read_and_listed(engine: Engine) -> None:
    made = engine.flags.put(
        AGENT, {"plans": ["premium"], "percentage": 10, "roles": ["admin"]}, actor="ops"
    )

    assert made == {
        "key": AGENT, "enabled": True, "plans": ["premium"], "percentage": 10, "allow": [],
        "roles": ["admin"], "deny": [], "beta": False, "group_id": None,
    }  # fmt: skip
    assert engine.flags.get(AGENT) == made
    assert [f["key"] for f in engine.flags.all()] == [AGENT]
    with pytest.raises(NotFound, match="no flag 'nope'"):
        engine.flags.get("nope")


@pytest.mark.parametrize(
    ("change", "error", "named"),
    [
        ({"percentage": 130}, InvalidInput, "percentage"),
        ({"plans": ["platinum"]}, UnknownPlan, "platinum"),
        ({"allow": ["ok", "not a user id!"]}, InvalidInput, "allow.1"),
        ({"roles": ["wizard"]}, InvalidInput, "roles.0"),
        ({"colour": "red"}, InvalidInput, "colour"),
    ],
)
def test_an_invalid_change_names_the_field_and_changes_nothing(
    engine: Engine, change: dict[str, Any], error: type[Exception], named: str
) -> None:
    engine.flags.put(AGENT, {"percentage": 10}, actor="ops")
    before, audited = engine.flags.get(AGENT), len(engine.audit_log())

    with pytest.raises(error, match=named):
        engine.flags.update(AGENT, change, actor="ops")

    assert engine.flags.get(AGENT) == before
    assert len(engine.audit_log()) == audited


def test_a_malformed_key_is_refused(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="key"):
        engine.flags.put("no spaces please", {}, actor="ops")
    assert engine.flags.all() == []


def test_changes_to_a_missing_flag_say_so(engine: Engine) -> None:
    with pytest.raises(NotFound, match="no flag 'ghost'"):
        engine.flags.rollout("ghost", 50, actor="ops")


def test_every_change_is_audited_with_who_before_and_after(engine: Engine) -> None:
    engine.flags.put(AGENT, {"percentage": 10}, actor="ana")
    engine.flags.rollout(AGENT, 50, actor="bo")
    engine.flags.allow(AGENT, add=["u1", "u2"], actor="cy")
    engine.flags.allow(AGENT, remove=["u1"], actor="cy")
    engine.flags.deny(AGENT, add=["u9"], actor="cy")
    engine.flags.disable(AGENT, actor="di")

    log = list(reversed(engine.audit_log()))
    assert [(e["action"], e["actor"]) for e in log] == [
        ("flag.create", "ana"), ("flag.rollout", "bo"), ("flag.allow", "cy"),
        ("flag.allow", "cy"), ("flag.deny", "cy"), ("flag.disable", "di"),
    ]  # fmt: skip
    assert log[0]["before"] is None
    assert (log[1]["before"]["percentage"], log[1]["after"]["percentage"]) == (10, 50)
    assert (log[3]["before"]["allow"], log[3]["after"]["allow"]) == (["u1", "u2"], ["u2"])
    assert log[5]["after"]["enabled"] is False
    assert all(e["target"] == f"flag:{AGENT}" and e["at"] is not None for e in log)


def test_the_emergency_stop_disables_every_enabled_flag_at_once(engine: Engine) -> None:
    engine.flags.put("a", {}, actor="ops")
    engine.flags.put("b", {"enabled": False}, actor="ops")
    engine.flags.put("c", {"percentage": 5}, actor="ops")

    assert engine.flags.off_all(actor="pager") == ["a", "c"]

    assert [f["enabled"] for f in engine.flags.all()] == [False, False, False]
    assert [e["target"] for e in engine.audit_log()[:2]] == ["flag:c", "flag:a"]


def test_evaluation_gives_the_outcome_and_reason_with_the_kill_switch(engine: Engine) -> None:
    engine.upsert_user({"id": "ana", "plan": "free", "org": "uni"})
    engine.flags.put(AGENT, {"percentage": 0, "allow": ["ana"]}, actor="ops")

    assert engine.evaluate_flag(AGENT, "ana").rule == "allow"
    engine.set_org("uni", agent_enabled=False)
    killed = engine.evaluate_flag(AGENT, "ana")
    assert (killed.on, killed.rule, killed.reason) == (
        False,
        "kill_switch",
        f"flag {AGENT}: organisation uni has the kill switch on",
    )
    with pytest.raises(NotFound, match="no user 'bo'"):
        engine.evaluate_flag(AGENT, "bo")


def test_a_user_in_at_10_percent_is_still_in_at_50(engine: Engine) -> None:
    users = [f"u{n}" for n in range(200)]
    engine.upsert_users({"id": uid} for uid in users)
    engine.flags.put(AGENT, {"percentage": 10}, actor="ops")
    at_10 = {u for u in users if engine.evaluate_flag(AGENT, u).on}
    engine.flags.rollout(AGENT, 50, actor="ops")
    at_50 = {u for u in users if engine.evaluate_flag(AGENT, u).on}

    assert at_10 < at_50
    assert at_50 == {u for u in users if bucket_of(AGENT, u) <= 50}


class Ticker:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_another_workers_snapshot_sees_a_change_once_its_copy_is_old_enough(
    database_url: str,
) -> None:
    settings = load_settings(database_url=database_url)
    operator = Engine(database_url, settings=settings)
    ticker = Ticker()
    worker = FlagSnapshot(operator.db, max_age=2.0, monotonic=ticker)
    seen: list[tuple[int, int]] = []
    worker.on_change(lambda old, new: seen.append((old.version, new.version)))
    first = worker.current()

    operator.flags.put(AGENT, {"enabled": False}, actor="ops")
    ticker.now = 1.9
    assert worker.current() is first  # still within max_age: no query at all
    ticker.now = 2.0
    fresh = worker.current()

    assert not fresh.gate.evaluate(AGENT, _user("ana"))[0]
    assert seen == [(first.version, fresh.version)]
    ticker.now = 10.0
    assert worker.current() is fresh  # version unchanged: the same view, nothing reloaded
    operator.set_org("uni", agent_enabled=False)
    ticker.now = 20.0
    assert worker.current().switched_off == frozenset({"uni"})
    operator.close()


def _user(uid: str, org: str | None = None) -> User:
    return User(uid, "free", org, "user", ZoneInfo("UTC"), "en", {}, {})


def test_a_view_evaluates_with_its_own_kill_switches() -> None:
    view = FlagView(FlagGate({AGENT: Flag(AGENT)}), frozenset({"uni"}), 3)
    assert view.evaluation(AGENT, _user("ana", org="elsewhere")).on
    assert view.evaluation(AGENT, _user("ana", org="uni")).rule == "kill_switch"
