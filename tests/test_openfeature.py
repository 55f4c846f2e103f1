"""A host app asks nudgeflow's flags through the OpenFeature SDK: answers and reasons mapped,
errors as OpenFeature reports them, and a configuration-changed event when a flag changes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from nudgeflow.config import load_settings
from nudgeflow.engine import Engine
from nudgeflow.flags import bucket_of
from nudgeflow.openfeature_provider import NudgeflowProvider


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine whose snapshot looks at the stored version on every read."""
    settings = load_settings(database_url=database_url, flag_refresh_seconds=0)
    made = Engine(database_url, settings=settings)
    yield made
    made.close()


@pytest.fixture
def client(engine: Engine) -> Iterator[OpenFeatureClient]:
    api.set_provider_and_wait(NudgeflowProvider(engine.flag_snapshot, poll_seconds=0.02))
    yield api.get_client()
    api.shutdown()
    api.clear_providers()


def user(uid: str, **attributes: str | bool | list[str]) -> EvaluationContext:
    return EvaluationContext(uid, dict(attributes))


def test_reasons_are_mapped_from_the_rule_that_decided(
    engine: Engine, client: OpenFeatureClient
) -> None:
    engine.flags.put("agent", {"plans": ["premium"], "percentage": 50, "allow": ["vip"]}, actor="t")
    engine.flags.put("old", {"enabled": False}, actor="t")
    engine.flags.put("all", {}, actor="t")
    inside = next(f"u{n}" for n in range(100) if bucket_of("agent", f"u{n}") <= 50)

    split = client.get_boolean_details("agent", False, user(inside, plan="premium"))
    assert (split.value, split.reason, split.variant) == (True, Reason.SPLIT, "on")
    assert split.flag_metadata["rule"] == "rollout"
    targeted = client.get_boolean_details("agent", False, user("vip"))
    assert (targeted.value, targeted.reason) == (True, Reason.TARGETING_MATCH)
    by_plan = client.get_boolean_details("agent", True, user(inside, plan="free"))
    assert (by_plan.value, by_plan.reason) == (False, Reason.TARGETING_MATCH)
    disabled = client.get_boolean_details("old", True, user("u1"))
    assert (disabled.value, disabled.reason) == (False, Reason.DISABLED)
    everyone = client.get_boolean_details("all", False, user("u1"))
    assert (everyone.value, everyone.reason) == (True, Reason.DEFAULT)


def test_the_kill_switch_comes_from_the_org_attribute(
    engine: Engine, client: OpenFeatureClient
) -> None:
    engine.flags.put("agent", {}, actor="t")
    engine.set_org("uni", agent_enabled=False)

    killed = client.get_boolean_details("agent", True, user("u1", org="uni"))
    assert (killed.value, killed.reason, killed.flag_metadata["rule"]) == (
        False,
        Reason.TARGETING_MATCH,
        "kill_switch",
    )
    assert client.get_boolean_value("agent", False, user("u1", org="other")) is True


def test_errors_return_the_default_with_an_openfeature_code(
    engine: Engine, client: OpenFeatureClient
) -> None:
    engine.flags.put("agent", {}, actor="t")

    missing = client.get_boolean_details("nope", True, user("u1"))
    assert (missing.value, missing.reason, missing.error_code) == (
        True, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND,
    )  # fmt: skip
    anonymous = client.get_boolean_details("agent", False, EvaluationContext())
    assert (anonymous.value, anonymous.error_code) == (False, ErrorCode.TARGETING_KEY_MISSING)
    typed = client.get_string_details("agent", "x", user("u1"))
    assert (typed.value, typed.error_code) == ("x", ErrorCode.TYPE_MISMATCH)


def test_a_change_is_announced_with_the_flags_it_touched(
    engine: Engine, client: OpenFeatureClient
) -> None:
    engine.flags.put("agent", {"percentage": 10}, actor="t")
    engine.flags.put("other", {}, actor="t")
    changed = threading.Event()
    seen: list[list[str] | None] = []

    def on_change(details: EventDetails) -> None:
        seen.append(details.flags_changed)
        changed.set()

    client.get_boolean_value("agent", False, user("u1"))  # the provider has the current view
    client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, on_change)
    engine.flags.rollout("agent", 60, actor="t")

    assert changed.wait(5)
    assert seen[0] == ["agent"]
