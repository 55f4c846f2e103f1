"""Feature flags: who gets the agent and its proactive nudges, and why.

Pure and in memory: a flag is a value, evaluation takes a user and returns an `Evaluation`
(outcome, human reason, deciding rule); it never touches the store or the clock, so workers
evaluate a snapshot millions of times a second. Everything a call does not depend on
(reasons, the rollout outcome for each of the 100 buckets) is computed once, when the flag
is built.

Order of precedence — the first rule that applies decides:

  1. ``disabled``     the flag is off                            → off
  2. ``kill_switch``  the user's organisation switched it off    → off
  3. ``deny``         the user is on the deny-list                → off
  4. ``allow``        the user is on the allow-list               → on
  5. ``role``         the user's role is among the allowed roles  → on   (admins first)
  6. ``plan``         plans are given and the user's is not one   → off
  7. ``beta``         the flag is in beta, the user did not opt in → off
  8. ``rollout``      bucket ≤ percentage                         → on, else off

Beta opt-in is the user trait ``beta``: ``true`` opts in to every flag in beta, a list of
flag keys to those flags only.

Bucketing is Unleash's, so a flag rolls out to the same users as an Unleash
``flexibleRollout`` with the same group id: MurmurHash3 (x86, 32-bit, seed 0, unsigned) of
``"{group_id}:{user_id}"`` mod 100 + 1, on when the bucket is at most the percentage. A
user's bucket never changes, so a user in at 10% stays in at 50%, and lowering the
percentage removes only the users above the new mark.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Final, Literal

import mmh3

from nudgeflow.rules import User

AGENT = "agent"
PROACTIVE = "proactive_nudges"

Rule = Literal[
    "disabled", "kill_switch", "deny", "allow", "role", "plan", "beta", "rollout", "undefined"
]
BETA_TRAIT: Final = "beta"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A flag's answer for one user: on or off, why in words, and which rule decided."""

    on: bool
    reason: str
    rule: Rule


@dataclass(frozen=True, slots=True)
class Flag:
    """A flag's definition. The first five fields keep their places: the store builds flags
    positionally."""

    key: str
    enabled: bool = True
    plans: frozenset[str] = frozenset()  # empty: every plan
    percentage: int = 100
    allow: frozenset[str] = frozenset()  # user ids always on (after the deny-list)
    _: KW_ONLY
    roles: frozenset[str] = frozenset()  # roles always on, e.g. {"admin"}
    deny: frozenset[str] = frozenset()  # user ids always off
    beta: bool = False  # only users who opted in (trait `beta`)
    group_id: str | None = None  # bucketing group; None: the key
    # Precomputed in __post_init__; not part of the definition.
    _disabled: Evaluation = field(init=False, repr=False, compare=False)
    _roles_on: Mapping[str, Evaluation] = field(init=False, repr=False, compare=False)
    _beta_off: Evaluation = field(init=False, repr=False, compare=False)
    _plan_off: dict[str, Evaluation] = field(init=False, repr=False, compare=False)
    _buckets: tuple[Evaluation, ...] = field(init=False, repr=False, compare=False)
    _prefix: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = self.key
        for name in ("plans", "allow", "roles", "deny"):  # a list or set given: freeze it
            _init(self, name, frozenset(getattr(self, name)))
        _init(self, "_disabled", Evaluation(False, f"flag {key} is disabled", "disabled"))
        _init(self, "_roles_on", {r: _role_on(key, r) for r in self.roles})
        _init(
            self,
            "_beta_off",
            Evaluation(False, f"flag {key} is in beta and the user has not opted in", "beta"),
        )
        _init(self, "_plan_off", {})  # filled per plan on first use; plans are few
        _init(self, "_buckets", _rollout_table(key, self.percentage))
        _init(self, "_prefix", f"{self.group}:")

    @property
    def group(self) -> str:
        """The bucketing group: `group_id`, else the key."""
        return self.group_id if self.group_id is not None else self.key

    def evaluate(self, user: User, *, org_enabled: bool = True) -> Evaluation:  # noqa: PLR0911 (one return per rule, in order)
        """This flag for `user`, whose organisation's kill switch is `org_enabled`."""
        if not self.enabled:
            return self._disabled
        if not org_enabled:
            return _killed(self.key, user.org)
        uid = user.id
        if uid in self.deny:
            return Evaluation(False, f"flag {self.key}: {uid} is on the deny-list", "deny")
        if uid in self.allow:
            return Evaluation(True, f"flag {self.key}: {uid} is on the allow-list", "allow")
        by_role = self._roles_on.get(user.role)
        if by_role is not None:
            return by_role
        if self.plans and user.plan not in self.plans:
            return self._plan_off.get(user.plan) or self._refuse_plan(user.plan)
        if self.beta and not opted_in(user.traits, self.key):
            return self._beta_off
        if 0 < self.percentage < 100:
            return self._buckets[mmh3.hash(self._prefix + uid, 0, False) % 100 + 1]
        return self._buckets[0]  # 0% or 100%: no bucket needed

    def _refuse_plan(self, plan: str) -> Evaluation:
        allowed = ", ".join(sorted(self.plans))
        off = Evaluation(False, f"flag {self.key}: plan {plan} not among {allowed}", "plan")
        self._plan_off[plan] = off
        return off


def bucket_of(group: str, user_id: str) -> int:
    """Unleash's normalized bucket, 1..100."""
    return mmh3.hash(f"{group}:{user_id}", 0, False) % 100 + 1


def opted_in(traits: Mapping[str, Any], key: str) -> bool:
    """Whether the user opted in to flag `key` while it is in beta (trait `beta`)."""
    choice = traits.get(BETA_TRAIT)
    if isinstance(choice, list | tuple | set | frozenset):
        return key in choice
    return choice is True


class FlagGate:
    """Flags by key, as the policy consults them; a flag nobody defined is on."""

    def __init__(self, flags: Mapping[str, Flag]) -> None:
        self._flags = dict(flags)

    @property
    def flags(self) -> Mapping[str, Flag]:
        return self._flags

    def evaluate(self, key: str, user: User, *, org_enabled: bool = True) -> tuple[bool, str]:
        """(on, reason) of flag `key` for `user`."""
        answer = self.evaluation(key, user, org_enabled=org_enabled)
        return answer.on, answer.reason

    def evaluation(self, key: str, user: User, *, org_enabled: bool = True) -> Evaluation:
        """The full `Evaluation`, with the rule that decided (for `explain`)."""
        flag = self._flags.get(key)
        if flag is not None:
            return flag.evaluate(user, org_enabled=org_enabled)
        if not org_enabled:
            return _killed(key, user.org)
        return Evaluation(True, f"flag {key}: not defined, on", "undefined")


def _init(flag: Flag, name: str, value: object) -> None:
    """Sets a field of the frozen `flag`, in __post_init__ only."""
    object.__setattr__(flag, name, value)


def _role_on(key: str, role: str) -> Evaluation:
    return Evaluation(True, f"flag {key}: role {role} is allowed", "role")


def _killed(key: str, org: str | None) -> Evaluation:
    who = f"organisation {org}" if org else "the organisation"
    return Evaluation(False, f"flag {key}: {who} has the kill switch on", "kill_switch")


def _rollout_table(key: str, percentage: int) -> tuple[Evaluation, ...]:
    """The rollout outcome by bucket; index 0 is the answer when no bucket is needed."""
    everyone = percentage >= 100
    word = "on" if everyone else "off"
    table = [Evaluation(everyone, f"flag {key}: {word} (rollout {percentage}%)", "rollout")]
    for bucket in range(1, 101):
        if bucket <= percentage:
            reason = f"flag {key}: on (bucket {bucket} within {percentage}%)"
        else:
            reason = f"flag {key}: bucket {bucket} above rollout {percentage}%"
        table.append(Evaluation(bucket <= percentage, reason, "rollout"))
    return tuple(table)
