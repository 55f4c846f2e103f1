"""How many flag evaluations a second, against the UnleashClient SDK on the same flags.

    python -m bench.flags [--seconds 1.0]

Two flags, each evaluated on 10,000 prebuilt users (plans free / premium / pro, 20
organisations of which 2 have the kill switch on, 100 users on the allow-list):
  (a) a 50% rollout with a plan constraint;
  (b) the kill switch, an allow-list, a plan constraint and a 50% rollout.
Each runs through nudgeflow's `Flag.evaluate` and `FlagGate.evaluate` (what the policy
calls), through `nudgeflow.unleash.FlagSet` on the equivalent Unleash payload, and through
the UnleashClient SDK on that payload, offline: bootstrapped from a dict, no server, no
metrics, no registration. Every path is checked to give the same answers first.
Goal: nudgeflow's `Flag` ≥ 20× UnleashClient.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import time
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from nudgeflow.flags import Flag, FlagGate
from nudgeflow.rules import User
from nudgeflow.unleash import FlagSet

SEED = 7
USERS = 10_000
PLANS = ("premium", "pro")  # allowed; "free" is not
ORGS = [f"org{n}" for n in range(20)]
KILLED = frozenset(ORGS[:2])
GROUP = "agent"

Person = tuple[User, dict[str, Any]]  # our user and the same person as an Unleash context


def people() -> list[Person]:
    rng = random.Random(SEED)
    found = []
    for n in range(USERS):
        uid, plan, org = f"user-{n}", rng.choice(("free", "premium", "pro")), rng.choice(ORGS)
        user = User(uid, plan, org, "member", ZoneInfo("UTC"), "en", {}, {})
        found.append((user, {"userId": uid, "properties": {"plan": plan, "orgId": org}}))
    return found


def flags(allow: frozenset[str]) -> dict[str, Flag]:
    plans = frozenset(PLANS)
    return {
        "a": Flag("a", plans=plans, percentage=50, group_id=GROUP),
        "b": Flag("b", plans=plans, percentage=50, allow=allow, group_id=GROUP),
    }


def unleash_payload(allow: frozenset[str]) -> dict[str, Any]:
    """The same two flags as Unleash features: constraints carry plan and kill switch."""
    plan = {"contextName": "plan", "operator": "IN", "values": list(PLANS)}
    alive = {"contextName": "orgId", "operator": "NOT_IN", "values": sorted(KILLED)}
    rollout = {"rollout": "50", "stickiness": "userId", "groupId": GROUP}
    allowed = {"userIds": ",".join(sorted(allow))}
    features = [
        _feature("a", [("flexibleRollout", rollout, [plan])]),
        _feature(
            "b", [("userWithId", allowed, [alive]), ("flexibleRollout", rollout, [plan, alive])]
        ),
    ]
    return {"version": 1, "features": features}


def _feature(name: str, strategies: list[tuple[str, dict[str, str], list[Any]]]) -> dict[str, Any]:
    listed = [{"name": s, "parameters": p, "constraints": c} for s, p, c in strategies]
    return {"name": name, "enabled": True, "strategies": listed}


class MemoryCache:
    """UnleashClient's cache, duck-typed and in memory, so nothing touches the disk."""

    bootstrapped = True

    def __init__(self, features_key: str, payload: dict[str, Any]) -> None:
        self.store: dict[str, Any] = {features_key: json.dumps(payload)}

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


def unleash_client(payload: dict[str, Any]) -> Any:
    """UnleashClient offline, or None when the SDK is not installed."""
    try:
        sdk = importlib.import_module("UnleashClient")
        constants = importlib.import_module("UnleashClient.constants")
        utils = importlib.import_module("UnleashClient.utils")
    except ImportError:
        return None
    return sdk.UnleashClient(
        "http://127.0.0.1:9",  # never contacted: initialize_client() is not called
        "nudgeflow-bench",
        disable_metrics=True,
        disable_registration=True,
        cache=MemoryCache(constants.FEATURES_URL, payload),
        multiple_instance_mode=utils.InstanceAllowType.SILENTLY_ALLOW,
    )


Evaluate = Callable[[Person], bool]


def paths(
    flag: Flag, gate: FlagGate, flag_set: FlagSet, client: Any, *, kill_switch: bool
) -> dict[str, Evaluate]:
    """The same flag four ways; the kill switch is looked up per user when the flag has one."""
    key, killed = flag.key, KILLED if kill_switch else frozenset()

    def ours(person: Person) -> bool:
        user = person[0]
        return flag.evaluate(user, org_enabled=user.org not in killed).on

    def gated(person: Person) -> bool:
        user = person[0]
        return gate.evaluate(key, user, org_enabled=user.org not in killed)[0]

    def theirs(person: Person) -> bool:
        return flag_set.is_enabled(key, person[1])

    found: dict[str, Evaluate] = {"nudgeflow Flag": ours, "nudgeflow FlagGate": gated}
    found["nudgeflow FlagSet (Unleash payload)"] = theirs
    if client is not None:
        found["UnleashClient SDK"] = lambda person: bool(client.is_enabled(key, person[1]))
    return found


def rate(evaluate: Evaluate, population: Sequence[Person], seconds: float) -> float:
    """Evaluations per second over whole passes of the population, for at least `seconds`."""
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for person in population:
            evaluate(person)
        done += len(population)
    return done / elapsed


def bench(
    label: str, chosen: dict[str, Evaluate], population: Sequence[Person], seconds: float
) -> None:
    answers = {name: [evaluate(p) for p in population] for name, evaluate in chosen.items()}
    assert len({tuple(a) for a in answers.values()}) == 1, f"{label}: the paths disagree"
    share = sum(answers["nudgeflow Flag"]) / len(population)
    print(f"\n{label} (on for {share:.0%} of users)", flush=True)
    rates = {name: rate(evaluate, population, seconds) for name, evaluate in chosen.items()}
    baseline = rates.get("UnleashClient SDK")
    for name, value in rates.items():
        versus = f"  {value / baseline:6.1f}× UnleashClient" if baseline else ""
        print(f"    {name:<36} {value:>12,.0f} evaluations/s{versus}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    args = parser.parse_args()
    population = people()
    allow = frozenset(user.id for user, _ in random.Random(SEED).sample(population, 100))
    ours, payload = flags(allow), unleash_payload(allow)
    gate, flag_set, client = FlagGate(ours), FlagSet.from_unleash(payload), unleash_client(payload)
    if client is None:
        print("(UnleashClient is not installed: pip install UnleashClient for the baseline)")
    cases = {
        "a": ("(a) 50% rollout + plan", False),
        "b": ("(b) kill switch + allow-list + plan + 50% rollout", True),
    }
    for key, (label, kill_switch) in cases.items():
        chosen = paths(ours[key], gate, flag_set, client, kill_switch=kill_switch)
        bench(label, chosen, population, args.seconds)
    print("\ngoal: nudgeflow Flag ≥ 20× UnleashClient")


if __name__ == "__main__":
    main()
