"""Unleash compatibility: evaluate an Unleash client features payload as Unleash SDKs do.

Why: a team that already describes its rollouts in Unleash can hand nudgeflow the same
``/api/client/features`` payload and get the same answers, and the Unleash client
specification's cases (tests/data/unleash-spec) pin our bucketing to theirs. The payload is
compiled once into plain closures — strategies OR-ed, a strategy's constraints AND-ed — so
an evaluation parses nothing.

Supported: strategies default, userWithId, gradualRolloutUserId / SessionId / Random,
flexibleRollout (stickiness default, userId, sessionId, random or any field; groupId) and
remoteAddress; constraints IN, NOT_IN, STR_*, NUM_*, DATE_*, SEMVER_* (``inverted``,
``caseInsensitive``), segments; variants (feature and strategy, weights, overrides). Not
supported, so off: custom strategies, applicationHostname, dependent features.

Where the specification is silent we follow the Rust engine behind today's Python SDK
(yggdrasil), checked by differential tests: ``inverted`` negates a valid constraint's
result; an unknown operator or a malformed constraint value is false either way; a missing
named stickiness field means off (a missing ``default`` one falls back to userId, sessionId,
then a random id); legacy ``gradualRollout*`` strategies need their ``groupId``; a missing
``currentTime`` is now (from the injected clock).
"""

from __future__ import annotations

import operator
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import ip_address, ip_network
from typing import Any

import mmh3

VARIANT_SEED = 86028157  # Unleash's VARIANT_NORMALIZATION_SEED
DISABLED_VARIANT: Mapping[str, Any] = {"name": "disabled", "enabled": False}
WELL_KNOWN = frozenset(
    {"userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime"}
)

Context = Mapping[str, Any]  # an Unleash context: well-known fields, then `properties`
Check = Callable[[Context], bool]
Test = Callable[[str | None], bool]  # an operator applied to one context value
Clock = Callable[[], datetime]
StrategyBuilder = Callable[[str, Mapping[str, str]], Check]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    weight: int
    payload: Mapping[str, Any] | None
    stickiness: str
    overrides: tuple[tuple[str, frozenset[str]], ...]

    def answer(self) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.name}
        if self.payload is not None:
            found["payload"] = dict(self.payload)
        return {**found, "enabled": True, "feature_enabled": True}


@dataclass(frozen=True, slots=True)
class Strategy:
    matches: Check
    variants: tuple[Variant, ...]
    group: str
    stickiness: str


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    enabled: bool
    strategies: tuple[Strategy, ...]
    variants: tuple[Variant, ...]

    def winner(self, context: Context) -> Strategy | None:
        """The first strategy that matches; None when none does."""
        return next((s for s in self.strategies if s.matches(context)), None)

    def is_enabled(self, context: Context) -> bool:
        if not self.enabled:
            return False
        return not self.strategies or any(s.matches(context) for s in self.strategies)


class FlagSet:
    """Unleash features by name, compiled for evaluation; an unknown feature is off."""

    def __init__(self, features: Iterable[Feature]) -> None:
        self._features = {f.name: f for f in features}

    @classmethod
    def from_unleash(cls, payload: Mapping[str, Any], *, now: Clock = _utc_now) -> FlagSet:
        """Compile a client features payload: ``{"features": [...], "segments": [...]}``."""
        segments = {s["id"]: s.get("constraints") or [] for s in payload.get("segments") or []}
        return cls(_feature(f, segments, now) for f in payload.get("features") or [])

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._features)

    def is_enabled(self, name: str, context: Context) -> bool:
        """Whether feature `name` is on for an Unleash context (userId, properties, …)."""
        feature = self._features.get(name)
        return feature is not None and feature.is_enabled(context)

    def get_variant(self, name: str, context: Context) -> dict[str, Any]:
        """The variant Unleash would give: ``{name, payload?, enabled, feature_enabled}``."""
        feature = self._features.get(name)
        if feature is None or not feature.enabled:
            return {**DISABLED_VARIANT, "feature_enabled": False}
        strategy = feature.winner(context)
        if strategy is None and feature.strategies:
            return {**DISABLED_VARIANT, "feature_enabled": False}
        if strategy is not None and strategy.variants:
            chosen = _pick(strategy.variants, strategy.group, strategy.stickiness, context)
        else:
            sticky = feature.variants[0].stickiness if feature.variants else "default"
            chosen = _pick(feature.variants, feature.name, sticky, context)
        return chosen.answer() if chosen else {**DISABLED_VARIANT, "feature_enabled": True}


def _pick(
    variants: Sequence[Variant], group: str, stickiness: str, context: Context
) -> Variant | None:
    """Overrides first, then the weighted choice on the sticky id (seed VARIANT_SEED)."""
    for variant in variants:
        for field, values in variant.overrides:
            if field_value(context, field) in values:
                return variant
    total = sum(v.weight for v in variants)
    if total <= 0:
        return None
    sticky = sticky_id(context, stickiness) or _random_id()
    target = mmh3.hash(f"{group}:{sticky}", VARIANT_SEED, False) % total + 1
    reached = 0
    for variant in variants:
        reached += variant.weight
        if reached >= target:
            return variant
    return None


def sticky_id(context: Context, stickiness: str) -> str | None:
    """The id a rollout hashes: default → userId, sessionId, random; else the named field."""
    if stickiness in ("", "default"):
        found = field_value(context, "userId") or field_value(context, "sessionId")
        return found or _random_id()
    if stickiness == "random":
        return _random_id()
    return field_value(context, stickiness)


def _random_id() -> str:
    return str(random.randint(1, 10_000))  # bucketing, not secrecy


def _feature(raw: Mapping[str, Any], segments: Mapping[Any, list[Any]], now: Clock) -> Feature:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"an Unleash feature needs a name, got {raw!r:.80}")
    strategies = tuple(_strategy(name, s, segments, now) for s in raw.get("strategies") or [])
    variants = tuple(_variant(v) for v in raw.get("variants") or [])
    return Feature(name, bool(raw.get("enabled")), strategies, variants)


def _strategy(
    feature: str, raw: Mapping[str, Any], segments: Mapping[Any, list[Any]], now: Clock
) -> Strategy:
    params: Mapping[str, str] = raw.get("parameters") or {}
    build = STRATEGIES.get(raw.get("name", ""), _unknown)
    used = raw.get("segments") or []
    constraints = [*(raw.get("constraints") or []), *(c for i in used for c in segments.get(i, []))]
    checks = [_constraint(c, now) for c in constraints] + [build(feature, params)]
    if any(i not in segments for i in used):
        checks = [_never]  # a segment the payload does not define
    variants = tuple(_variant(v) for v in raw.get("variants") or [])
    group = params.get("groupId") or feature
    return Strategy(_all(checks), variants, group, params.get("stickiness") or "default")


def _variant(raw: Mapping[str, Any]) -> Variant:
    overrides = tuple(
        (o["contextName"], frozenset(o.get("values") or [])) for o in raw.get("overrides") or []
    )
    stickiness = raw.get("stickiness") or "default"
    return Variant(
        raw["name"], int(raw.get("weight", 0)), raw.get("payload"), stickiness, overrides
    )


def _all(checks: Sequence[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    return lambda context: all(check(context) for check in checks)


def _never(context: Context) -> bool:
    return False


def _always(context: Context) -> bool:
    return True


def _unknown(feature: str, params: Mapping[str, str]) -> Check:
    return _never


def _default(feature: str, params: Mapping[str, str]) -> Check:
    return _always


def _user_with_id(feature: str, params: Mapping[str, str]) -> Check:
    ids = frozenset(i.strip() for i in params.get("userIds", "").split(","))
    return lambda context: field_value(context, "userId") in ids


def _rollout(
    percentage: int | None, group: str, identify: Callable[[Context], str | None]
) -> Check:
    """On iff the id's normalized bucket (1..100, seed 0) is at most the percentage."""
    if percentage is None or percentage <= 0:
        return _never
    prefix = f"{group}:"

    def check(context: Context) -> bool:
        found = identify(context)
        return found is not None and mmh3.hash(prefix + found, 0, False) % 100 + 1 <= percentage

    return check


def _flexible(feature: str, params: Mapping[str, str]) -> Check:
    stickiness = params.get("stickiness") or "default"
    group = params.get("groupId") or feature
    return _rollout(_int(params.get("rollout")), group, lambda c: sticky_id(c, stickiness))


def _legacy(field: str) -> StrategyBuilder:
    def build(feature: str, params: Mapping[str, str]) -> Check:
        group = params.get("groupId")
        if not group:
            return _never
        pct = _int(params.get("percentage"))
        return _rollout(pct, group, lambda context: field_value(context, field))

    return build


def _random(feature: str, params: Mapping[str, str]) -> Check:
    pct = _int(params.get("percentage")) or 0
    return lambda context: random.randint(1, 100) <= pct  # not sticky, by design


def _remote_address(feature: str, params: Mapping[str, str]) -> Check:
    networks = []
    for entry in params.get("IPs", "").split(","):
        try:
            networks.append(ip_network(entry.strip(), strict=False))
        except ValueError:
            continue

    def check(context: Context) -> bool:
        try:
            address = ip_address(field_value(context, "remoteAddress") or "")
        except ValueError:
            return False
        return any(address in network for network in networks)

    return check


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except ValueError:
        return None


STRATEGIES: Mapping[str, StrategyBuilder] = {
    "default": _default,
    "userWithId": _user_with_id,
    "gradualRolloutUserId": _legacy("userId"),
    "gradualRolloutSessionId": _legacy("sessionId"),
    "gradualRolloutRandom": _random,
    "flexibleRollout": _flexible,
    "remoteAddress": _remote_address,
}


def field_value(context: Context, name: str) -> str | None:
    """A context field as text: well-known fields at the top level, others in `properties`
    (else at the top level, where the Python SDK also looks); None when missing."""
    if name in WELL_KNOWN:
        value = context.get(name)
    else:
        properties = context.get("properties") or {}
        value = properties[name] if name in properties else context.get(name)
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _constraint(raw: Mapping[str, Any], now: Clock) -> Check:
    """One constraint: the operator on the context field, negated when `inverted`."""
    name, inverted = raw.get("contextName", ""), bool(raw.get("inverted"))
    test = _operator(raw)
    if test is None:
        return _never  # an unknown operator or a malformed value: false, inverted or not
    if name == "currentTime":
        return lambda context: test(_current_time(context, now)) != inverted
    return lambda context: test(field_value(context, name)) != inverted


def _current_time(context: Context, now: Clock) -> str:
    found = field_value(context, "currentTime")
    return now().isoformat() if found is None else found


def _operator(raw: Mapping[str, Any]) -> Test | None:
    op = str(raw.get("operator", ""))
    values = [str(v) for v in raw.get("values") or []]
    value = str(raw.get("value", ""))
    if op in ("IN", "NOT_IN"):
        return _membership(frozenset(values), negate=op == "NOT_IN")
    if op.startswith("STR_"):
        return _string(op, tuple(values), fold=bool(raw.get("caseInsensitive")))
    if op not in _ORDERED:
        return None
    parse, compare = _ORDERED[op]
    target = parse(value)
    return None if target is None else _ordered(parse, compare, target)


def _membership(values: frozenset[str], *, negate: bool) -> Test:
    if negate:
        return lambda found: found is None or found not in values
    return lambda found: found is not None and found in values


def _string(op: str, values: tuple[str, ...], *, fold: bool) -> Test | None:
    match = _STRING_MATCH.get(op)
    if match is None:
        return None
    wanted = tuple(v.lower() for v in values) if fold else values
    if fold:
        return lambda found: found is not None and match(found.lower(), wanted)
    return lambda found: found is not None and match(found, wanted)


def _contains(text: str, wanted: tuple[str, ...]) -> bool:
    return any(w in text for w in wanted)


_STRING_MATCH: Mapping[str, Callable[[str, tuple[str, ...]], bool]] = {
    "STR_STARTS_WITH": str.startswith,
    "STR_ENDS_WITH": str.endswith,
    "STR_CONTAINS": _contains,
}


def _ordered(parse: Callable[[str], Any], compare: Callable[[Any, Any], bool], target: Any) -> Test:
    """NUM_*, DATE_*, SEMVER_*: parse the context value, compare it with the target."""

    def test(found: str | None) -> bool:
        parsed = parse(found) if found is not None else None
        return parsed is not None and compare(parsed, target)

    return test


def _number(text: str) -> float | None:
    if text != text.strip() or "_" in text:  # float() is laxer than Unleash's parsers
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None  # RFC 3339 needs an offset


_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
SemVer = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]


def _semver(text: str) -> SemVer | None:
    """A key that orders versions by SemVer 2.0 precedence (build metadata ignored)."""
    found = _SEMVER.fullmatch(text)
    if found is None:
        return None
    major, minor, patch, pre = found.groups()
    if pre is None:
        return int(major), int(minor), int(patch), 1, ()
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return int(major), int(minor), int(patch), 0, parts


_ORDERED: Mapping[str, tuple[Callable[[str], Any], Callable[[Any, Any], bool]]] = {
    "NUM_EQ": (_number, operator.eq),
    "NUM_GT": (_number, operator.gt),
    "NUM_GTE": (_number, operator.ge),
    "NUM_LT": (_number, operator.lt),
    "NUM_LTE": (_number, operator.le),
    "DATE_AFTER": (_date, operator.gt),
    "DATE_BEFORE": (_date, operator.lt),
    "SEMVER_EQ": (_semver, operator.eq),
    "SEMVER_GT": (_semver, operator.gt),
    "SEMVER_LT": (_semver, operator.lt),
}
