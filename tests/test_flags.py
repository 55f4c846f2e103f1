"""Flags: the order of precedence rule by rule, sticky and monotonic rollout, Unleash's buckets.

Each precedence test starts from a flag and a user that trip every later rule too, so the
rule under test is shown to decide before the next one would.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from nudgeflow.flags import AGENT, Flag, FlagGate, bucket_of, opted_in
from nudgeflow.rules import User
from test_unleash_spec import offline_unleash

ids = st.text(min_size=1, max_size=20)
GROUPS = (AGENT, "proactive_nudges", "AB12A", "Feature.flexibleRollout.10")
groups = st.sampled_from(GROUPS)
percentages = st.integers(min_value=0, max_value=100)


def user(
    uid: str = "ana", plan: str = "free", role: str = "admin", traits: dict[str, Any] | None = None
) -> User:
    return User(uid, plan, "uni", role, ZoneInfo("UTC"), "en", traits or {}, {})


# ANA trips every rule (at 100% the rollout alone would let her in). Each test below lifts the
# rules above the one under test: it decides, though the rules after it would too, and
# mostly the other way.
EVERY_RULE = Flag(
    AGENT,
    enabled=False,
    plans=frozenset({"premium"}),
    percentage=100,
    allow=frozenset({"ana"}),
    roles=frozenset({"admin"}),
    deny=frozenset({"ana"}),
    beta=True,
)
ANA = user()


def test_disabled_beats_the_kill_switch() -> None:
    answer = EVERY_RULE.evaluate(ANA, org_enabled=False)
    assert (answer.on, answer.rule, answer.reason) == (False, "disabled", "flag agent is disabled")


def test_the_kill_switch_beats_the_deny_list() -> None:
    answer = replace(EVERY_RULE, enabled=True).evaluate(ANA, org_enabled=False)
    assert (answer.on, answer.rule) == (False, "kill_switch")
    assert answer.reason == "flag agent: organisation uni has the kill switch on"


def test_the_deny_list_beats_the_allow_list() -> None:
    answer = replace(EVERY_RULE, enabled=True).evaluate(ANA)
    assert (answer.on, answer.rule, answer.reason) == (
        False,
        "deny",
        "flag agent: ana is on the deny-list",
    )


def test_the_allow_list_beats_roles_plans_beta_and_rollout() -> None:
    flag = replace(EVERY_RULE, enabled=True, deny=frozenset(), percentage=0)
    answer = flag.evaluate(ANA)
    assert (answer.on, answer.rule) == (True, "allow")


def test_an_allowed_role_beats_the_plan() -> None:
    flag = replace(EVERY_RULE, enabled=True, deny=frozenset(), allow=frozenset(), percentage=0)
    answer = flag.evaluate(ANA)
    assert (answer.on, answer.rule, answer.reason) == (
        True,
        "role",
        "flag agent: role admin is allowed",
    )


def test_a_plan_not_allowed_beats_beta_and_rollout() -> None:
    flag = replace(EVERY_RULE, enabled=True, deny=frozenset(), allow=frozenset())
    answer = flag.evaluate(user(role="member"))  # no beta opt-in either
    assert (answer.on, answer.rule) == (False, "plan")
    assert answer.reason == "flag agent: plan free not among premium"


def test_a_missing_beta_opt_in_beats_the_rollout() -> None:
    flag = replace(EVERY_RULE, enabled=True, deny=frozenset(), allow=frozenset())
    answer = flag.evaluate(user(plan="premium", role="member"))
    assert (answer.on, answer.rule) == (False, "beta")
    assert flag.evaluate(user(plan="premium", role="member", traits={"beta": True})).on


@given(uid=ids, percentage=percentages)
def test_the_rollout_decides_last_by_bucket(uid: str, percentage: int) -> None:
    flag = Flag(AGENT, percentage=percentage, group_id="cohort")
    answer = flag.evaluate(user(uid, role="member"))
    assert answer.rule == "rollout"
    assert answer.on is (bucket_of("cohort", uid) <= percentage)


def test_rollout_reasons_name_the_bucket() -> None:
    flag = Flag(AGENT, percentage=50, group_id="AB12A")
    # From the Unleash spec: group AB12A at 50% lets userId 122 in and keeps 155 out.
    inside, outside = bucket_of("AB12A", "122"), bucket_of("AB12A", "155")
    assert (
        flag.evaluate(user("122", role="x")).reason
        == f"flag agent: on (bucket {inside} within 50%)"
    )
    assert (
        flag.evaluate(user("155", role="x")).reason
        == f"flag agent: bucket {outside} above rollout 50%"
    )
    assert Flag(AGENT, percentage=100).evaluate(ANA).reason == "flag agent: on (rollout 100%)"
    assert (
        Flag(AGENT, percentage=0).evaluate(user(role="x")).reason == "flag agent: off (rollout 0%)"
    )


def test_beta_opt_in_is_the_trait_beta_true_or_a_list_of_flag_keys() -> None:
    assert opted_in({"beta": True}, AGENT)
    assert opted_in({"beta": [AGENT, "other"]}, AGENT)
    assert not opted_in({"beta": ["other"]}, AGENT)
    assert not opted_in({"beta": "agent"}, AGENT)  # a string is not a list of keys
    assert not opted_in({}, AGENT)


def test_the_gate_keeps_its_pair_and_an_undefined_flag_is_on() -> None:
    gate = FlagGate({AGENT: Flag(AGENT, plans=frozenset({"premium"}))})
    assert gate.evaluate(AGENT, user(role="member")) == (
        False,
        "flag agent: plan free not among premium",
    )
    assert gate.evaluate("other", ANA) == (True, "flag other: not defined, on")
    assert gate.evaluation(AGENT, ANA, org_enabled=False).rule == "kill_switch"
    assert gate.evaluation("other", ANA, org_enabled=False).rule == "kill_switch"


def test_the_group_defaults_to_the_key_and_a_shared_group_shares_the_cohort() -> None:
    people = [user(f"u{n}", role="member") for n in range(200)]
    mine = Flag("a", percentage=30)
    shared = [Flag(key, percentage=30, group_id="launch") for key in ("a", "b")]
    assert {p.id for p in people if mine.evaluate(p).on} == {
        p.id for p in people if bucket_of("a", p.id) <= 30
    }
    cohorts = [{p.id for p in people if flag.evaluate(p).on} for flag in shared]
    assert cohorts[0] == cohorts[1]


def test_lists_given_as_sets_are_frozen() -> None:
    flag = Flag(AGENT, plans={"premium"}, roles=["admin"])  # type: ignore[arg-type]
    assert flag.plans == frozenset({"premium"})
    assert flag.roles == frozenset({"admin"})
    assert hash(flag) == hash(Flag(AGENT, plans=frozenset({"premium"}), roles=frozenset({"admin"})))


@given(uid=ids, group=groups, percentage=percentages)
def test_a_user_s_answer_is_sticky(uid: str, group: str, percentage: int) -> None:
    first = Flag(AGENT, percentage=percentage, group_id=group).evaluate(user(uid, role="x"))
    again = Flag(AGENT, percentage=percentage, group_id=group).evaluate(user(uid, role="x"))
    assert first == again
    assert 1 <= bucket_of(group, uid) <= 100


@given(people=st.sets(ids, max_size=60), group=groups, low=percentages, high=percentages)
def test_raising_the_percentage_only_adds_users(
    people: set[str], group: str, low: int, high: int
) -> None:
    low, high = sorted((low, high))

    def cohort(percentage: int) -> set[str]:
        flag = Flag(AGENT, percentage=percentage, group_id=group)
        return {uid for uid in people if flag.evaluate(user(uid, role="x")).on}

    kept, grown = cohort(low), cohort(high)
    assert kept <= grown
    # lowering high → low removes exactly those whose bucket is above the new mark
    assert grown - kept == {uid for uid in people if low < bucket_of(group, uid) <= high}


# --- the same buckets as the UnleashClient SDK ---------------------------------------------


@cache
def unleash_client() -> Any:
    """The real SDK, offline, with a flexibleRollout per group and percentage 1..100."""
    features = [
        {
            "name": f"{group}@{percentage}",
            "enabled": True,
            "strategies": [
                {
                    "name": "flexibleRollout",
                    "parameters": {
                        "rollout": str(percentage),
                        "stickiness": "userId",
                        "groupId": group,
                    },
                }
            ],
        }
        for group in GROUPS
        for percentage in range(1, 101)
    ]
    return offline_unleash({"version": 1, "features": features})


@given(uid=ids, group=groups)
@settings(deadline=None)  # the Unleash SDK is slow to answer a hundred flags on a busy machine
def test_our_bucket_is_the_one_unleash_computes(uid: str, group: str) -> None:
    client = unleash_client()
    theirs = [client.is_enabled(f"{group}@{p}", {"userId": uid}) for p in range(1, 101)]
    assert theirs == [bucket_of(group, uid) <= p for p in range(1, 101)]
