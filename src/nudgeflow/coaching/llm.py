"""The LLM generator: draft, rate, revise once if asked, and fall back to templates.

    draft ──► rate ──► gate: SEND  ──► sent
                        │    SKIP  ──► held, with the reason (nothing is sent)
                        └─── REVISE ─► revised draft ──► rate ──► gate (no second revision)

Every draft is an `Attempt` carrying the tokens and cost of the calls that made and rated it.
Before each call the budget is checked; when it is spent, or the provider is down, times out
or sends what cannot be read as a draft or a rating, the attempt in progress is recorded with
the reason and a template message takes over, its `failure_reason` saying why."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import structlog

from nudgeflow.coaching.base import (
    Attempt,
    Context,
    Draft,
    Fallback,
    Generation,
    LLMClient,
    Prompt,
    ProviderError,
    Rating,
    Recommendation,
    Usage,
)
from nudgeflow.coaching.budget import Budget, Ledger
from nudgeflow.coaching.gate import Gate
from nudgeflow.coaching.parsing import MalformedReply, parse_draft, parse_rating
from nudgeflow.coaching.prices import DEFAULT_PRICES, Price, price_of, usage_of
from nudgeflow.coaching.prompts import (
    draft_prompt,
    rating_prompt,
    revision_prompt,
    trimmed,
)
from nudgeflow.coaching.templates import TemplateGenerator

log = structlog.get_logger("nudgeflow.coaching")
T = TypeVar("T")


class _Stop(Exception):
    """The LLM path cannot go on; templates take over."""

    def __init__(self, kind: Fallback, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(reason)


@dataclass
class _Run:
    """One generation in progress: the attempts so far and the one being made."""

    context: Context
    attempts: list[Attempt] = field(default_factory=list)
    draft: Draft | None = None
    usage: Usage = field(default_factory=Usage)

    @property
    def number(self) -> int:
        return len(self.attempts) + 1

    def close(
        self,
        provider: str,
        model: str,
        *,
        rating: Rating | None = None,
        failure_reason: str | None = None,
        sent: bool = False,
        final: bool = False,
    ) -> None:
        """Record the attempt in progress and start the next one."""
        draft = self.draft or Draft("", "", "")
        attempt = Attempt(
            number=self.number,
            generator="llm",
            message_type=draft.message_type,
            content=draft.content,
            push_text=draft.push_text,
            context=self.context.as_record(),
            rating=None if rating is None else rating.score,
            recommendation=None if rating is None else rating.recommendation,
            rating_reason=None if rating is None else rating.reason,
            failure_reason=failure_reason,
            sent=sent,
            final=final,
            usage=self.usage,
            provider=provider,
            model=model,
        )
        self.attempts.append(attempt)
        self.draft, self.usage = None, Usage()


class LLMGenerator:
    name = "llm"

    def __init__(
        self,
        client: LLMClient,
        *,
        templates: TemplateGenerator | None = None,
        gate: Gate | None = None,
        budget: Budget | None = None,
        ledger: Ledger | None = None,
        prices: Mapping[str, Price] = DEFAULT_PRICES,
        max_tokens: int = 600,
        timeout: float | None = 90.0,
    ) -> None:
        self.client = client
        self.templates = templates or TemplateGenerator()
        self.gate = gate or Gate()
        self.budget = budget or Budget()
        self.ledger = ledger or Ledger()
        self.prices = prices
        self.max_tokens = max_tokens
        self.timeout = timeout  # for a whole generation: drafts, ratings and the revision

    async def generate(self, context: Context) -> Generation:
        run = _Run(trimmed(context))
        try:
            async with asyncio.timeout(self.timeout):
                await self._draft_and_rate(run)
        except _Stop as stop:
            return self._fall_back(run, stop.kind, stop.reason)
        except TimeoutError:
            return self._fall_back(run, Fallback.TIMEOUT, f"timed out after {self.timeout:g} s")
        return Generation(context.user_id, tuple(run.attempts))

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _draft_and_rate(self, run: _Run) -> None:
        prompt = draft_prompt(run.context)
        while True:
            run.draft = draft = await self._ask(run, prompt, parse_draft)
            rating = await self._ask(run, rating_prompt(run.context, draft), parse_rating)
            verdict = self.gate.verdict(rating, revisions_done=len(run.attempts))
            self._settle(run, rating, verdict)
            if verdict is not Recommendation.REVISE:
                return
            prompt = revision_prompt(run.context, draft, rating)

    def _settle(self, run: _Run, rating: Rating, verdict: Recommendation) -> None:
        run.close(
            self.client.provider,
            self.client.model,
            rating=rating,
            failure_reason=self.gate.why_held(rating) if verdict is Recommendation.SKIP else None,
            sent=verdict is Recommendation.SEND,
            final=verdict is not Recommendation.REVISE,
        )

    async def _ask(self, run: _Run, prompt: Prompt, parse: Callable[[str], T]) -> T:
        """One provider call, paid for by the attempt in progress; `_Stop` when it cannot go,
        fails, or its reply cannot be read."""
        user_id = run.context.user_id
        refusal = self.ledger.refusal(self.budget, user_id)
        if refusal is not None:
            log.warning("coaching.budget_exhausted", user_id=user_id, reason=refusal)
            raise _Stop(Fallback.BUDGET, f"budget exhausted: {refusal}")
        try:
            reply = await self.client.complete(prompt, self.max_tokens)
        except ProviderError as exc:
            kind = Fallback.TIMEOUT if exc.timeout else Fallback.UNAVAILABLE
            raise _Stop(kind, f"provider unavailable: {exc.reason}") from exc
        # Price by the model that answered (a dated snapshot), else by the one configured.
        model = reply.model if price_of(reply.model, self.prices) else self.client.model
        usage = usage_of(model, reply.tokens_in, reply.tokens_out, self.prices)
        run.usage += usage
        self.ledger.add(user_id, usage.cost)
        try:
            return parse(reply.text)
        except MalformedReply as exc:
            raise _Stop(Fallback.MALFORMED, f"malformed reply: {exc}") from exc

    def _fall_back(self, run: _Run, kind: Fallback, reason: str) -> Generation:
        if run.draft is not None or run.usage.tokens_in or kind is not Fallback.BUDGET:
            run.close(self.client.provider, self.client.model, failure_reason=reason)
        log.warning("coaching.template_fallback", user_id=run.context.user_id, kind=str(kind))
        template = self.templates.attempt(
            run.context, number=run.number, failure_reason=f"templates took over: {reason}"
        )
        return Generation(run.context.user_id, (*run.attempts, template), fallback=kind)
