"""What every coaching generator is, and the records it returns: read this file first.

A generator turns a `Context` (who the user is, what they wrote lately, their local time) into
a `Generation`: every `Attempt` it made, in order, at most one of them marked `sent`. Templates
make one attempt; the LLM path makes a draft, has it rated, maybe revises it once, and falls
back to templates when the provider is down, the reply is unusable or the budget is spent. An
attempt's fields are the columns of `generation_attempts` (`Attempt.as_row`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

MESSAGE_TYPES = (
    "check_in",
    "encouragement",
    "challenge",
    "reminder",
    "alignment_reflection",
    "general_reflection",
    "personal_insight",
    "relevant_lesson",
)


class Recommendation(StrEnum):
    SEND = "SEND"
    SKIP = "SKIP"
    REVISE = "REVISE"


class Fallback(StrEnum):
    """Why templates took over from the LLM: a label for metrics and alerts."""

    BUDGET = "budget"
    UNAVAILABLE = "unavailable"  # connection refused, 5xx or 429 after the retries
    TIMEOUT = "timeout"
    MALFORMED = "malformed"  # a reply we could not read as a draft or a rating


@dataclass(frozen=True, slots=True)
class Entry:
    """Something the user did or wrote lately: a journal entry, an event."""

    at: datetime
    text: str
    kind: str = "journal_entry"


@dataclass(frozen=True)
class Context:
    """What a generator knows about the user when it writes. `local_time` is aware, in the
    user's zone; `recent_types` are the types of their last messages, newest first (so a
    generator can vary them); `message_type` asks for one type, when a rule wants one."""

    user_id: str
    locale: str
    local_time: datetime
    frequency: str
    entries: tuple[Entry, ...] = ()
    insights: tuple[str, ...] = ()
    preferences: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    recent_types: tuple[str, ...] = ()
    message_type: str | None = None

    def __post_init__(self) -> None:
        if self.local_time.utcoffset() is None:
            raise ValueError("Context.local_time must be aware, in the user's timezone")

    def as_record(self) -> dict[str, Any]:
        """The context as stored with each attempt ("context used"), JSON-ready."""
        return {
            "user_id": self.user_id,
            "locale": self.locale,
            "local_time": self.local_time.isoformat(),
            "frequency": self.frequency,
            "name": self.name,
            "entries": [
                {"at": entry.at.isoformat(), "kind": entry.kind, "text": entry.text}
                for entry in self.entries
            ],
            "insights": list(self.insights),
            "preferences": dict(self.preferences),
            "recent_types": list(self.recent_types),
            "message_type": self.message_type,
        }


@dataclass(frozen=True, slots=True)
class Draft:
    message_type: str
    content: str
    push_text: str


@dataclass(frozen=True, slots=True)
class Rating:
    score: int  # 1–10
    recommendation: Recommendation
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """What one or more provider calls consumed. `priced` is False when the model is not in
    the price table, so its cost shows as 0 but is not known to be 0."""

    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    priced: bool = True

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            self.cost + other.cost,
            self.priced and other.priced,
        )


@dataclass(frozen=True)
class Attempt:
    """One try at a message. `content` is empty when no usable draft came back; `sent` marks
    the one message to deliver; `final` the attempt that settled the generation."""

    number: int
    generator: str  # "template" or "llm"
    message_type: str
    content: str
    push_text: str
    context: Mapping[str, Any]
    rating: int | None = None
    recommendation: Recommendation | None = None
    rating_reason: str | None = None
    failure_reason: str | None = None
    sent: bool = False
    final: bool = False
    usage: Usage = Usage()
    provider: str | None = None
    model: str | None = None

    def as_row(self) -> dict[str, Any]:
        """The attempt as a `generation_attempts` row, less id, nudge, user and time."""
        return {
            "attempt": self.number,
            "generator": self.generator,
            "provider": self.provider,
            "model": self.model,
            "message_type": self.message_type,
            "content": self.content,
            "push_text": self.push_text,
            "rating": self.rating,
            "recommendation": None if self.recommendation is None else str(self.recommendation),
            "context": dict(self.context),
            "failure_reason": self.failure_reason,
            "sent": self.sent,
            "final": self.final,
            "tokens_in": self.usage.tokens_in,
            "tokens_out": self.usage.tokens_out,
            "cost": self.usage.cost,
        }


@dataclass(frozen=True)
class Generation:
    """Everything one generation tried; `fallback` says why templates took over, if they did."""

    user_id: str
    attempts: tuple[Attempt, ...]
    fallback: Fallback | None = None

    @property
    def chosen(self) -> Attempt | None:
        """The attempt to deliver, or None when nothing was good enough to send."""
        return next((attempt for attempt in self.attempts if attempt.sent), None)

    @property
    def reason(self) -> str | None:
        """Why the chosen message is not the first draft, or why nothing is sent."""
        return next((a.failure_reason for a in reversed(self.attempts) if a.failure_reason), None)

    @property
    def usage(self) -> Usage:
        total = Usage()
        for attempt in self.attempts:
            total += attempt.usage
        return total


@dataclass(frozen=True, slots=True)
class Prompt:
    """One request to a model: a system prompt, the user's turn, and the JSON shape asked for."""

    system: str
    user: str
    schema_name: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    text: str  # the JSON asked for, or prose holding it
    tokens_in: int
    tokens_out: int
    model: str  # the model that answered, as the provider names it


class ProviderError(Exception):
    """The provider did not answer usably, after the SDK's retries."""

    def __init__(self, reason: str, *, timeout: bool = False) -> None:
        self.reason = reason
        self.timeout = timeout
        super().__init__(reason)


class LLMClient(Protocol):
    """A provider behind its SDK (`clients.py`): one prompt in, one reply out, or
    ProviderError."""

    provider: str  # "openai", "openrouter", "ollama", "anthropic", …: recorded per attempt
    model: str

    async def complete(self, prompt: Prompt, max_tokens: int) -> Reply: ...

    async def aclose(self) -> None: ...


class Generator(Protocol):
    name: str  # "template" or "llm": what rules choose by

    async def generate(self, context: Context) -> Generation: ...
