"""The Unleash client specification's cases, run against `nudgeflow.unleash.FlagSet`.

Every case of every file in tests/data/unleash-spec/index.json is one test, in the tiers of
that folder's README: `core` (must pass), `extended` (STR_*, NUM_*, DATE_* and invalid
operators) and `variants` (getVariant). A case we choose not to support goes in UNSUPPORTED
with its reason and runs as a strict xfail, so supporting it later is noticed.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nudgeflow.unleash import FlagSet

SPEC = Path(__file__).parent / "data" / "unleash-spec"
LIST_OPERATORS = frozenset({"IN", "NOT_IN"})
UNSUPPORTED: dict[str, str] = {}  # case id -> why we do not support it (none today)


class Case(NamedTuple):
    file: str
    tier: str
    kind: str  # "tests" (isEnabled) or "variantTests" (getVariant)
    toggle: str
    context: dict[str, Any]
    expected: Any

    @property
    def id(self) -> str:
        return f"{self.file}:{self.toggle}:{self.context}"


def tier(spec: dict[str, Any], kind: str, toggle: str) -> str:
    """The README's tiers: getVariant is `variants`; an operator past IN/NOT_IN `extended`."""
    if kind == "variantTests":
        return "variants"
    features = [f for f in spec["state"]["features"] if f["name"] == toggle]
    operators = {
        c["operator"]
        for f in features
        for s in f.get("strategies") or []
        for c in s.get("constraints") or []
    }
    return "core" if operators <= LIST_OPERATORS else "extended"


@cache
def spec(file: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SPEC / file).read_text())
    return loaded


def cases() -> list[Case]:
    found = []
    for file in json.loads((SPEC / "index.json").read_text()):
        for kind in ("tests", "variantTests"):
            for raw in spec(file).get(kind, []):
                toggle = raw["toggleName"]
                level = tier(spec(file), kind, toggle)
                found.append(Case(file, level, kind, toggle, raw["context"], raw["expectedResult"]))
    return found


def params() -> list[Any]:
    marked = []
    for number, case in enumerate(cases()):
        reason = UNSUPPORTED.get(case.id)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        marked.append(pytest.param(case, id=f"{case.tier}-{number:03d}-{case.toggle}", marks=marks))
    return marked


@cache
def flag_set(file: str) -> FlagSet:
    return FlagSet.from_unleash(spec(file)["state"])


@pytest.mark.parametrize("case", params())
def test_spec_case(case: Case) -> None:
    flags = flag_set(case.file)
    if case.kind == "tests":
        assert flags.is_enabled(case.toggle, case.context) is case.expected
    else:
        assert flags.get_variant(case.toggle, case.context) == case.expected


def test_the_selection_holds_the_readme_s_tiers() -> None:
    assert Counter(c.tier for c in cases()) == {"core": 76, "extended": 40, "variants": 32}
    assert not [case for case in cases() if case.tier == "core" and case.id in UNSUPPORTED]


# --- where the specification is silent: the same answers as the UnleashClient SDK -----------

ODD_VALUES = [
    "1.2.3", "1.2.3-beta.2", "1.2.3-beta.10", "1.2.3-alpha", "1.2.3+build.5", "v1.3.0", "2.0.0",
    "1.2", "12", "12.0", "13", "-1", "1e3", " 5", "1_0", "NaN", "inf", "abc", "", "Test@x.com",
    "2022-01-29T13:00:00Z", "2022-01-29T15:00:00.000+02:00", "2022-01-29", "2022-01-29T13:00:00",
    "2022-01-30T00:00:00.123456Z", "10.1.2.3", "1.2.3.4", "::1",
]  # fmt: skip
TARGETS = {
    "NUM": ["12", "1e3", "abc"],
    "SEMVER": ["1.2.3-beta.2", "1.2.3", "v1"],
    "DATE": ["2022-01-29T13:00:00.000Z", "2022-01-29"],
}
OPERATORS = {
    "NUM": ["NUM_EQ", "NUM_GT", "NUM_GTE", "NUM_LT", "NUM_LTE"],
    "SEMVER": ["SEMVER_EQ", "SEMVER_GT", "SEMVER_LT"],
    "DATE": ["DATE_AFTER", "DATE_BEFORE"],
}


def odd_constraints() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for kind, operators in OPERATORS.items():
        found += [{"operator": op, "value": t} for op in operators for t in TARGETS[kind]]
    for op in ("STR_STARTS_WITH", "STR_ENDS_WITH", "STR_CONTAINS"):
        found += [{"operator": op, "values": ["1.2", "test"], "caseInsensitive": c} for c in (True, False)]  # fmt: skip
    found += [{"operator": op, "values": ["12", "abc"]} for op in ("IN", "NOT_IN")]
    found += [{"operator": "BOGUS", "value": "12"}]
    return [
        {**c, "contextName": field, "inverted": inverted}
        for c in found
        for field in ("v", "currentTime")
        for inverted in (False, True)
    ]


def odd_payload() -> dict[str, Any]:
    features = [
        {"name": f"c{n}", "enabled": True, "strategies": [{"name": "default", "constraints": [c]}]}
        for n, c in enumerate(odd_constraints())
    ]
    strategies = [
        ("flexibleRollout", {"rollout": "50", "stickiness": "v", "groupId": "g"}),
        ("flexibleRollout", {"rollout": "100", "stickiness": "v"}),
        ("flexibleRollout", {"rollout": "30", "stickiness": "userId"}),
        ("gradualRolloutUserId", {"percentage": "60"}),
        ("gradualRolloutSessionId", {"percentage": "60", "groupId": "g"}),
        ("userWithId", {"userIds": "a, b,,c "}),
        ("remoteAddress", {"IPs": "10.0.0.0/8, 1.2.3.4, nonsense, ::1"}),
    ]
    features += [
        {"name": f"s{n}", "enabled": True, "strategies": [{"name": name, "parameters": params}]}
        for n, (name, params) in enumerate(strategies)
    ]
    return {"version": 1, "features": features}


def offline_unleash(payload: dict[str, Any]) -> Any:
    """The UnleashClient SDK on `payload`, offline: no server, no metrics, no registration."""
    sdk = pytest.importorskip("UnleashClient")
    constants = pytest.importorskip("UnleashClient.constants")
    utils = pytest.importorskip("UnleashClient.utils")
    return sdk.UnleashClient(
        "http://127.0.0.1:9",  # never contacted: initialize_client() is not called
        "nudgeflow-tests",
        disable_metrics=True,
        disable_registration=True,
        cache=MemoryCache({constants.FEATURES_URL: json.dumps(payload)}),
        multiple_instance_mode=utils.InstanceAllowType.SILENTLY_ALLOW,
    )


class MemoryCache:
    """UnleashClient's cache, duck-typed and in memory, already bootstrapped."""

    bootstrapped = True

    def __init__(self, store: dict[str, Any]) -> None:
        self.store = store

    def set(self, key: str, value: Any) -> None:
        self.store[key] = value

    def mset(self, data: dict[str, Any]) -> None:
        self.store.update(data)

    def get(self, key: str, default: Any = None) -> Any:
        return self.store.get(key, default)

    def exists(self, key: str) -> bool:
        return key in self.store

    def destroy(self) -> None:
        self.store.clear()


@cache
def both_sides() -> tuple[FlagSet, Any]:
    payload = odd_payload()
    return FlagSet.from_unleash(payload), offline_unleash(payload)


def odd_context(
    *,
    user: str | None,
    session: str | None,
    value: str | None,
    now: str | None,
    address: str,
    top_level: bool,
) -> dict[str, Any]:
    given = {"userId": user, "sessionId": session, "currentTime": now, "remoteAddress": address}
    context: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if value is not None:  # the SDK reads an unknown top-level field as a property
        context |= {"v": value} if top_level else {"properties": {"v": value}}
    return context


values = st.sampled_from(ODD_VALUES)
contexts = st.builds(
    odd_context,
    user=st.none() | st.sampled_from(["a", "b", "c", "d", "x1", "x2", "x3"]),
    session=st.none() | st.sampled_from(["s1", "s2", "s3"]),
    value=st.none() | values,
    now=st.none() | values,
    address=values,
    top_level=st.booleans(),
)


@settings(max_examples=300, deadline=None)  # the SDK is slow on a busy machine
@given(context=contexts)
def test_the_sdk_agrees_where_the_spec_is_silent(context: dict[str, Any]) -> None:
    """Operators past the selection, malformed values, missing fields, every strategy."""
    ours, sdk = both_sides()
    for name in sorted(ours.names):
        assert ours.is_enabled(name, context) is sdk.is_enabled(name, context), (name, context)


VARIANT_FILES = ("08-variants.json", "12-custom-stickiness.json", "16-strategy-variants.json")


@cache
def variant_sides(file: str) -> tuple[FlagSet, Any]:
    return flag_set(file), offline_unleash(spec(file)["state"])


@settings(max_examples=200)
@given(
    file=st.sampled_from(VARIANT_FILES),
    sticky=st.text(min_size=1, max_size=8),
    environment=st.sampled_from(["dev", "prod"]),
)
def test_the_sdk_gives_the_same_variants(file: str, sticky: str, environment: str) -> None:
    """Every stickiness field is set, so no variant is picked at random."""
    ours, sdk = variant_sides(file)
    context = {
        "userId": sticky,
        "sessionId": sticky,
        "environment": environment,
        "properties": {"customField": sticky, "clientId": sticky},
    }
    for feature in spec(file)["state"]["features"]:
        name = feature["name"]
        assert ours.get_variant(name, context) == sdk.get_variant(name, context), name
