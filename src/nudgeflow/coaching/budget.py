"""How much the LLM may spend: a limit per day for everyone and per user per day. `Budget`
is pure (given what was spent, may another call go?); `Ledger` keeps the figures current while
a batch runs, seeded from the store's spend since the start of the UTC day."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits in USD; None is no limit."""

    daily_usd: float | None = None
    per_user_daily_usd: float | None = None

    def refusal(self, spent_today: float, user_spent_today: float) -> str | None:
        """None when another call may go; otherwise which limit is reached, with figures."""
        if self.daily_usd is not None and spent_today >= self.daily_usd:
            return f"daily LLM budget of {usd(self.daily_usd)} reached ({usd(spent_today)} spent)"
        limit = self.per_user_daily_usd
        if limit is not None and user_spent_today >= limit:
            spent = usd(user_spent_today)
            return f"this user's daily LLM budget of {usd(limit)} reached ({spent} spent)"
        return None


class Ledger:
    """Today's spending in USD, overall and per user. Calls in one batch run concurrently, so
    each adds its cost here as soon as it is known, and the next check sees it."""

    def __init__(self, total: float = 0.0, by_user: Mapping[str, float] | None = None) -> None:
        self.total = total
        self._by_user = dict(by_user or {})

    def load(self, total: float, by_user: Mapping[str, float]) -> None:
        """Refresh from the store, e.g. at the start of each batch or day."""
        self.total = total
        self._by_user = dict(by_user)

    def of(self, user_id: str) -> float:
        return self._by_user.get(user_id, 0.0)

    def add(self, user_id: str, cost: float) -> None:
        self.total += cost
        self._by_user[user_id] = self.of(user_id) + cost

    def refusal(self, budget: Budget, user_id: str) -> str | None:
        return budget.refusal(self.total, self.of(user_id))


def usd(amount: float) -> str:
    """Dollars with cents, or with the digits a fraction of a cent needs: $5.00, $0.000084."""
    if amount == 0 or abs(amount) >= 0.01:
        return f"${amount:,.2f}"
    return f"${amount:.8f}".rstrip("0")
