"""What a model's tokens cost: a configurable table of USD per million input and output
tokens. The defaults are list prices the providers published in 2025 for a few common models;
prices change, so set your own (`LLMSettings.prices`). A model missing from the table costs 0
and is flagged `priced=False`, so a local Ollama model shows as free but not as known-free."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from nudgeflow.coaching.base import Usage

_SNAPSHOT = re.compile(r"-(\d{4}-?\d{2}-?\d{2}|\d{4}|latest)")


@dataclass(frozen=True, slots=True)
class Price:
    input_per_million: float
    output_per_million: float


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1": Price(2.00, 8.00),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-haiku-4-5": Price(1.00, 5.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-sonnet-4-5": Price(3.00, 15.00),
}


def price_of(model: str, table: Mapping[str, Price]) -> Price | None:
    """The model's price: an exact entry, else the entry it is a dated snapshot of
    (`gpt-4o-mini-2024-07-18`, `claude-3-5-haiku-20241022`, `…-latest`). OpenRouter's
    `vendor/model` names are looked up without the vendor too."""
    for name in (model, model.rsplit("/", 1)[-1]):
        if name in table:
            return table[name]
        base, dash, _ = name.rpartition("-")
        while dash:
            if base in table and _SNAPSHOT.fullmatch(name[len(base) :]):
                return table[base]
            base, dash, _ = base.rpartition("-")
    return None


def usage_of(model: str, tokens_in: int, tokens_out: int, table: Mapping[str, Price]) -> Usage:
    price = price_of(model, table)
    if price is None:
        return Usage(tokens_in, tokens_out, 0.0, priced=False)
    cost = (tokens_in * price.input_per_million + tokens_out * price.output_per_million) / 1e6
    return Usage(tokens_in, tokens_out, cost, priced=True)
