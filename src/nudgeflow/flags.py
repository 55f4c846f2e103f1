"""The small flag gate the policy consults (`agent`, `proactive_nudges`).

Bucketing is Unleash's: MurmurHash3 (x86, 32-bit, seed 0) of "{group}:{user_id}" mod 100 + 1,
on when the bucket is at most the percentage. So a user in at 10% stays in at 50%.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import mmh3

from nudgeflow.rules import User

AGENT = "agent"
PROACTIVE = "proactive_nudges"


@dataclass(frozen=True, slots=True)
class Flag:
    key: str
    enabled: bool = True
    plans: frozenset[str] = frozenset()  # empty: every plan
    percentage: int = 100
    allow: frozenset[str] = frozenset()

    def evaluate(self, user: User) -> tuple[bool, str]:
        """(on, reason) for this user."""
        if not self.enabled:
            return False, f"flag {self.key} is disabled"
        if user.id in self.allow:
            return True, f"flag {self.key}: {user.id} is on the allow-list"
        if self.plans and user.plan not in self.plans:
            allowed = ", ".join(sorted(self.plans))
            return False, f"flag {self.key}: plan {user.plan} not among {allowed}"
        bucket = bucket_of(self.key, user.id)
        if bucket > self.percentage:
            return False, f"flag {self.key}: bucket {bucket} above rollout {self.percentage}%"
        return True, f"flag {self.key}: on (bucket {bucket} within {self.percentage}%)"


def bucket_of(group: str, user_id: str) -> int:
    """Unleash's normalized bucket, 1..100."""
    return mmh3.hash(f"{group}:{user_id}", 0, signed=False) % 100 + 1


class FlagGate:
    """Flags by key; a flag nobody defined is on for everyone."""

    def __init__(self, flags: Mapping[str, Flag]) -> None:
        self._flags = dict(flags)

    def evaluate(self, key: str, user: User) -> tuple[bool, str]:
        flag = self._flags.get(key)
        return flag.evaluate(user) if flag else (True, f"flag {key}: not defined, on")
