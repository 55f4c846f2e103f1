"""The LLM generator against OpenAI- and Anthropic-speaking servers on 127.0.0.1: the quality
gate, one revision, retries, fallbacks to templates, tokens, cost and budgets, and the stage's
concurrency limit. Every path runs through the official SDKs, whole and streamed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from llm_servers import (
    LLMServer,
    Scripted,
    closed_port,
    draft,
    failure,
    is_rating_request,
    rating,
    reply,
    serving,
)
from nudgeflow.coaching.base import Context, Entry, Fallback, Generation, LLMClient, Recommendation
from nudgeflow.coaching.budget import Budget, Ledger
from nudgeflow.coaching.clients import AnthropicClient, OpenAIClient
from nudgeflow.coaching.gate import Gate
from nudgeflow.coaching.llm import LLMGenerator
from nudgeflow.coaching.prices import Price
from nudgeflow.coaching.stage import GenerationStage
from nudgeflow.localtime import zone

T = TypeVar("T")
PROVIDERS = ["openai", "anthropic"]
MODES = [
    pytest.param("openai", False, id="openai"),
    pytest.param("openai", True, id="openai-stream"),
    pytest.param("anthropic", False, id="anthropic"),
    pytest.param("anthropic", True, id="anthropic-stream"),
]
CONTEXT = Context(
    user_id="ana",
    locale="en",
    local_time=datetime(2026, 11, 23, 9, 0, tzinfo=zone("Europe/Berlin")),
    frequency="daily",
    entries=(
        Entry(datetime(2026, 11, 22, 19, tzinfo=UTC), "Prepared for Thursday's interview."),
        Entry(datetime(2026, 11, 20, 8, tzinfo=UTC), "Felt stuck on my portfolio."),
    ),
    insights=("Writes most on Sunday evenings.",),
    preferences={"goal": "a product design role"},
    name="Ana",
)


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


def client_for(
    server: LLMServer | None,
    provider: str,
    *,
    stream: bool = False,
    structured: bool = True,
    timeout: float = 5.0,
    max_retries: int = 2,
    model: str = "gpt-4o-mini",
) -> LLMClient:
    kind = OpenAIClient if provider == "openai" else AnthropicClient
    if server is None:
        base = f"http://127.0.0.1:{closed_port()}"
        url = f"{base}/v1" if provider == "openai" else base
    else:
        url = server.openai_url if provider == "openai" else server.anthropic_url
    return kind(
        model=model,
        base_url=url,
        api_key="sk-test",
        timeout=timeout,
        max_retries=max_retries,
        structured=structured,
        stream=stream,
    )


async def generate(
    *script: Scripted, provider: str = "openai", stream: bool = False, **options: Any
) -> tuple[Generation, LLMServer]:
    client_options = {
        k: options.pop(k) for k in ("structured", "timeout", "max_retries", "model") if k in options
    }
    async with serving(*script) as server:
        client = client_for(server, provider, stream=stream, **client_options)
        generation = await LLMGenerator(client, **options).generate(CONTEXT)
        await client.aclose()
    return generation, server


# The quality gate.


@pytest.mark.parametrize(("provider", "stream"), MODES)
def test_a_draft_rated_7_is_sent(provider: str, stream: bool) -> None:
    generation, server = run(
        lambda: generate(
            draft("encouragement", "You prepared well, Ana.", "Nice prep!"),
            rating(7, "SEND", "specific and kind"),
            provider=provider,
            stream=stream,
        )
    )
    (attempt,) = generation.attempts
    assert generation.chosen is attempt
    assert (attempt.message_type, attempt.content, attempt.push_text) == (
        "encouragement",
        "You prepared well, Ana.",
        "Nice prep!",
    )
    assert (attempt.rating, attempt.recommendation, attempt.rating_reason) == (
        7,
        Recommendation.SEND,
        "specific and kind",
    )
    assert attempt.sent
    assert attempt.final
    assert attempt.failure_reason is None
    assert (attempt.generator, attempt.provider, attempt.model) == ("llm", provider, "gpt-4o-mini")
    assert generation.fallback is None
    assert len(server.requests) == 2
    assert all(bool(asked.get("stream")) is stream for asked in server.requests)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_draft_rated_4_is_not_sent_and_keeps_its_reason(provider: str) -> None:
    generation, _ = run(
        lambda: generate(draft(), rating(4, "SEND", "too generic"), provider=provider)
    )
    (attempt,) = generation.attempts
    assert generation.chosen is None
    assert not attempt.sent
    assert attempt.final
    assert attempt.rating == 4
    assert attempt.failure_reason == "rated 4/10, below the threshold of 6: too generic"
    assert generation.reason == attempt.failure_reason
    assert generation.fallback is None  # nothing failed: the message was just not good enough


def test_the_threshold_is_configurable() -> None:
    generation, _ = run(lambda: generate(draft(), rating(7), gate=Gate(threshold=8)))
    assert generation.chosen is None
    assert generation.reason == "rated 7/10, below the threshold of 8: fine"


def test_a_high_rating_the_reviewer_says_to_skip_is_not_sent() -> None:
    generation, _ = run(lambda: generate(draft(), rating(8, "SKIP", "repeats yesterday")))
    assert generation.chosen is None
    assert generation.reason == "rated 8/10 but the reviewer recommended SKIP: repeats yesterday"


@pytest.mark.parametrize(("provider", "stream"), MODES)
def test_revise_gets_one_revision_and_its_rating_decides(provider: str, stream: bool) -> None:
    generation, server = run(
        lambda: generate(
            draft("check_in", "How are you?", "Hi"),
            rating(5, "REVISE", "mention the interview"),
            draft("check_in", "Ready for Thursday's interview, Ana?", "Thursday's interview"),
            rating(8, "SEND", "specific"),
            provider=provider,
            stream=stream,
        )
    )
    first, revised = generation.attempts
    assert (first.number, first.recommendation, first.sent, first.final) == (
        1,
        Recommendation.REVISE,
        False,
        False,
    )
    assert (revised.number, revised.rating, revised.sent, revised.final) == (2, 8, True, True)
    assert generation.chosen is revised
    assert revised.content == "Ready for Thursday's interview, Ana?"
    revision_request = json.dumps(server.requests[2])
    assert "mention the interview" in revision_request
    assert "How are you?" in revision_request
    assert len(server.requests) == 4


def test_a_revision_asked_to_be_revised_again_is_judged_on_its_rating() -> None:
    generation, server = run(
        lambda: generate(
            draft(), rating(5, "REVISE", "vague"), draft(), rating(7, "REVISE", "could be warmer")
        )
    )
    assert [a.sent for a in generation.attempts] == [False, True]
    assert len(server.requests) == 4  # no second revision


def test_a_revision_rated_3_sends_nothing() -> None:
    generation, _ = run(
        lambda: generate(draft(), rating(5, "REVISE", "vague"), draft(), rating(3, "SKIP", "worse"))
    )
    assert generation.chosen is None
    assert generation.attempts[-1].failure_reason == "rated 3/10, below the threshold of 6: worse"


# What each provider is asked.


def test_openai_is_asked_for_a_strict_json_schema() -> None:
    _, server = run(lambda: generate(draft(), rating(7)))
    drafting, rating_request = server.requests
    schema = drafting["response_format"]
    assert schema["type"] == "json_schema"
    assert schema["json_schema"]["name"] == "coaching_message"
    assert schema["json_schema"]["strict"] is True
    assert rating_request["response_format"]["json_schema"]["name"] == "message_review"
    system, user = drafting["messages"]
    assert system["role"] == "system"
    assert "alignment_reflection" in system["content"]
    assert "Prepared for Thursday's interview." in user["content"]
    assert "Preference goal: a product design role" in user["content"]


def test_anthropic_is_asked_through_one_forced_tool() -> None:
    _, server = run(lambda: generate(draft(), rating(7), provider="anthropic"))
    drafting = server.requests[0]
    assert drafting["tool_choice"] == {"type": "tool", "name": "coaching_message"}
    (tool,) = drafting["tools"]
    assert tool["input_schema"]["required"] == ["message_type", "content", "push_text"]
    assert "alignment_reflection" in drafting["system"]
    assert drafting["max_tokens"] == 600


# Tolerant parsing: providers without structured output.


@pytest.mark.parametrize(("provider", "stream"), MODES)
def test_json_in_prose_and_fences_with_trailing_commas_is_read(provider: str, stream: bool) -> None:
    fenced = (
        "Sure! Here is the message:\n```json\n"
        '{"message_type": "Relevant-Lesson", "content": "Try the two-minute rule.",'
        ' "push_text": "A small trick",}\n```\nHope it helps.'
    )
    prose = "My review: {'rating': '8/10', 'recommendation': 'send', 'reason': 'useful',} Done."
    generation, server = run(
        lambda: generate(
            reply(fenced), reply(prose), provider=provider, stream=stream, structured=False
        )
    )
    (attempt,) = generation.attempts
    assert (attempt.message_type, attempt.content, attempt.push_text) == (
        "relevant_lesson",
        "Try the two-minute rule.",
        "A small trick",
    )
    assert (attempt.rating, attempt.sent) == (8, True)
    assert "response_format" not in server.requests[0]
    assert "tools" not in server.requests[0]


@pytest.mark.parametrize(("provider", "stream"), MODES)
def test_a_reply_that_is_no_draft_falls_back_to_templates_and_keeps_its_cost(
    provider: str, stream: bool
) -> None:
    generation, _ = run(
        lambda: generate(
            reply("I'd rather not write a message today.", tokens_in=1000, tokens_out=10),
            provider=provider,
            stream=stream,
        )
    )
    failed, template = generation.attempts
    assert generation.fallback is Fallback.MALFORMED
    assert (failed.generator, failed.content, failed.sent) == ("llm", "", False)
    assert failed.failure_reason is not None
    assert failed.failure_reason.startswith("malformed reply: no JSON object in the reply")
    assert (failed.usage.tokens_in, failed.usage.tokens_out) == (1000, 10)
    assert (template.generator, template.number, template.sent, template.final) == (
        "template",
        2,
        True,
        True,
    )
    assert template.failure_reason == f"templates took over: {failed.failure_reason}"
    assert generation.chosen is template
    assert template.content


def test_a_rating_out_of_range_is_malformed() -> None:
    generation, _ = run(lambda: generate(draft(), rating(11)))
    assert generation.fallback is Fallback.MALFORMED
    first = generation.attempts[0]
    assert first.content
    assert first.rating is None
    assert first.failure_reason == "malformed reply: rating 11 is not a number from 1 to 10"


def test_a_response_body_that_is_not_json_falls_back() -> None:
    generation, _ = run(lambda: generate(Scripted(raw='{"id": "chatcmpl-1", "choices": [')))
    assert generation.fallback is Fallback.UNAVAILABLE
    assert generation.chosen is not None
    assert generation.chosen.generator == "template"
    assert "unreadable response" in (generation.reason or "")


# Retries and fallbacks.


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_is_retried_after_the_time_retry_after_asks(provider: str) -> None:
    generation, server = run(
        lambda: generate(failure(429, retry_after="1"), draft(), rating(7), provider=provider)
    )
    assert generation.chosen is not None
    assert generation.chosen.generator == "llm"
    assert len(server.requests) == 3
    assert server.arrivals[1] - server.arrivals[0] >= 0.95


@pytest.mark.parametrize(("provider", "status"), [("openai", 500), ("anthropic", 529)])
def test_a_5xx_is_retried(provider: str, status: int) -> None:
    generation, server = run(
        lambda: generate(draft(), failure(status), rating(7), provider=provider)
    )
    assert generation.chosen is not None
    assert generation.chosen.generator == "llm"
    assert len(server.requests) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_that_keeps_failing_hands_over_to_templates(provider: str) -> None:
    generation, server = run(
        lambda: generate(failure(503), failure(503), provider=provider, max_retries=1)
    )
    assert len(server.requests) == 2  # the first try and one retry
    assert generation.fallback is Fallback.UNAVAILABLE
    template = generation.chosen
    assert template is not None
    assert template.generator == "template"
    assert template.failure_reason == (
        f"templates took over: provider unavailable: {provider} answered HTTP 503"
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_that_is_down_hands_over_to_templates(provider: str) -> None:
    async def scenario() -> Generation:
        client = client_for(None, provider, max_retries=0)
        generation = await LLMGenerator(client).generate(CONTEXT)
        await client.aclose()
        return generation

    generation = run(scenario)
    failed, template = generation.attempts
    assert generation.fallback is Fallback.UNAVAILABLE
    assert (
        failed.failure_reason == f"provider unavailable: {provider} unreachable: Connection error."
    )
    assert (failed.usage.tokens_in, failed.usage.cost) == (0, 0.0)
    assert template.sent
    assert template.generator == "template"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_request_that_times_out_hands_over_to_templates(provider: str) -> None:
    generation, _ = run(
        lambda: generate(Scripted(delay=5), provider=provider, timeout=0.3, max_retries=0)
    )
    assert generation.fallback is Fallback.TIMEOUT
    assert "timed out" in (generation.reason or "")
    assert generation.chosen is not None
    assert generation.chosen.generator == "template"


def test_a_generation_over_its_deadline_keeps_the_draft_it_paid_for() -> None:
    generation, _ = run(_slow_rating)
    draft_attempt, template = generation.attempts
    assert generation.fallback is Fallback.TIMEOUT
    assert draft_attempt.content
    assert draft_attempt.usage.tokens_in == 500
    assert draft_attempt.failure_reason == "timed out after 0.5 s"
    assert template.failure_reason == "templates took over: timed out after 0.5 s"


async def _slow_rating() -> tuple[Generation, LLMServer]:
    async with serving(draft(tokens_in=500, tokens_out=60), Scripted(delay=5)) as server:
        client = client_for(server, "openai", timeout=10)
        generation = await LLMGenerator(client, timeout=0.5).generate(CONTEXT)
        await client.aclose()
    return generation, server


# Tokens and cost.


@pytest.mark.parametrize(("provider", "stream"), MODES)
def test_tokens_and_cost_come_from_the_usage_the_provider_reports(
    provider: str, stream: bool
) -> None:
    generation, _ = run(
        lambda: generate(
            draft(tokens_in=1000, tokens_out=200, model="gpt-4o-mini-2024-07-18"),
            rating(5, "REVISE", "warmer", tokens_in=800, tokens_out=20),
            draft(tokens_in=1100, tokens_out=180),
            rating(9, tokens_in=850, tokens_out=25),
            provider=provider,
            stream=stream,
        )
    )
    first, second = generation.attempts
    assert (first.usage.tokens_in, first.usage.tokens_out) == (1800, 220)
    assert (second.usage.tokens_in, second.usage.tokens_out) == (1950, 205)
    # gpt-4o-mini: $0.15 per million in, $0.60 per million out.
    assert first.usage.cost == pytest.approx((1800 * 0.15 + 220 * 0.60) / 1e6)
    assert generation.usage.cost == pytest.approx((3750 * 0.15 + 425 * 0.60) / 1e6)
    assert first.as_row()["tokens_in"] == 1800
    assert first.as_row()["cost"] == first.usage.cost


def test_a_model_without_a_price_costs_nothing_but_says_so() -> None:
    generation, _ = run(lambda: generate(draft(), rating(7), model="llama3.1"))
    (attempt,) = generation.attempts
    assert attempt.usage.cost == 0.0
    assert attempt.usage.priced is False
    assert attempt.usage.tokens_in == 240


def test_a_configured_price_table_is_used() -> None:
    prices = {"llama3.1": Price(1.0, 2.0)}
    generation, _ = run(lambda: generate(draft(), rating(7), model="llama3.1", prices=prices))
    assert generation.usage.cost == pytest.approx((240 * 1.0 + 80 * 2.0) / 1e6)


# Budgets.


def test_past_the_users_budget_templates_take_over_without_calling_the_provider() -> None:
    ledger = Ledger(total=0.5, by_user={"ana": 0.02})
    generation, server = run(
        lambda: generate(budget=Budget(daily_usd=10, per_user_daily_usd=0.02), ledger=ledger)
    )
    assert server.requests == []
    (template,) = generation.attempts
    assert generation.fallback is Fallback.BUDGET
    assert template.generator == "template"
    assert template.sent
    assert template.failure_reason == (
        "templates took over: budget exhausted: "
        "this user's daily LLM budget of $0.02 reached ($0.02 spent)"
    )


def test_the_daily_budget_stops_spending_within_a_batch() -> None:
    # Each generation costs (240 × 0.15 + 80 × 0.60) / 1e6 = $0.000084 on gpt-4o-mini.
    budget = Budget(daily_usd=0.00025)

    async def scenario() -> tuple[list[Generation], LLMServer, Ledger]:
        async with serving(responder=_draft_or_rating) as server:
            ledger = Ledger()
            client = client_for(server, "openai")
            stage = GenerationStage(LLMGenerator(client, budget=budget, ledger=ledger), limit=1)
            contexts = [_context(f"user-{n}") for n in range(5)]
            generations = await stage.run(contexts)
            await client.aclose()
        return generations, server, ledger

    generations, server, ledger = run(scenario)
    assert [g.fallback for g in generations] == [None, None, None, Fallback.BUDGET, Fallback.BUDGET]
    assert len(server.requests) == 6
    assert ledger.total == pytest.approx(3 * 0.000084)
    assert sum(g.usage.cost for g in generations) == pytest.approx(ledger.total)
    assert generations[3].reason == (
        "templates took over: budget exhausted: daily LLM budget of $0.00025 reached ($0.000252 spent)"
    )


def test_a_budget_reached_between_draft_and_rating_keeps_the_paid_draft() -> None:
    budget = Budget(per_user_daily_usd=0.0001)
    generation, server = run(lambda: generate(draft(tokens_in=1000, tokens_out=100), budget=budget))
    paid, template = generation.attempts
    assert len(server.requests) == 1
    assert paid.content
    assert paid.rating is None
    assert paid.usage.cost > 0.0001
    assert (paid.failure_reason or "").startswith("budget exhausted: this user's daily")
    assert template.sent


def test_the_budget_check_is_pure() -> None:
    budget = Budget(daily_usd=5, per_user_daily_usd=0.1)
    assert budget.refusal(4.99, 0.099) is None
    assert budget.refusal(5, 0) == "daily LLM budget of $5.00 reached ($5.00 spent)"
    assert budget.refusal(1, 0.1) == "this user's daily LLM budget of $0.10 reached ($0.10 spent)"
    assert Budget().refusal(1e9, 1e9) is None


# The stage: a concurrency limit, and a backstop for slow or broken generators.


def test_the_stage_never_has_more_calls_in_flight_than_its_limit() -> None:
    async def scenario() -> tuple[list[Generation], LLMServer]:
        async with serving(responder=lambda asked: _slowly(_draft_or_rating(asked))) as server:
            client = client_for(server, "anthropic", stream=True)
            stage = GenerationStage(LLMGenerator(client), limit=3)
            generations = await stage.run([_context(f"user-{n}") for n in range(10)])
            await client.aclose()
        return generations, server

    generations, server = run(scenario)
    assert server.most_in_flight == 3
    assert len(server.requests) == 20
    assert [g.user_id for g in generations] == [f"user-{n}" for n in range(10)]
    assert all(g.chosen is not None and g.chosen.generator == "llm" for g in generations)


class Hanging:
    name = "hanging"

    async def generate(self, context: Context) -> Generation:
        await asyncio.sleep(60)
        raise AssertionError("unreachable")


class Broken:
    name = "broken"

    async def generate(self, context: Context) -> Generation:
        raise RuntimeError("boom")


def test_a_generation_over_the_stage_timeout_gets_a_template() -> None:
    stage = GenerationStage(Hanging(), limit=2, timeout=0.2)
    (generation,) = run(lambda: stage.run([CONTEXT]))
    assert generation.fallback is Fallback.TIMEOUT
    assert generation.reason == "templates took over: generation timed out after 0.2 s"
    assert generation.chosen is not None
    assert generation.chosen.generator == "template"


def test_a_generator_that_breaks_does_not_lose_the_batch() -> None:
    stage = GenerationStage(Broken())
    generations = run(lambda: stage.run([CONTEXT, _context("bo")]))
    assert [g.chosen is not None for g in generations] == [True, True]
    assert (
        generations[0].reason
        == "templates took over: generator broken failed: RuntimeError('boom')"
    )


def test_a_stage_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="limit must be at least 1"):
        GenerationStage(Broken(), limit=0)


def _context(user_id: str) -> Context:
    return Context(user_id, "en", CONTEXT.local_time, "daily")


def _draft_or_rating(asked: dict[str, Any]) -> Scripted:
    return rating(7) if is_rating_request(asked) else draft()


def _slowly(answer: Scripted) -> Scripted:
    return Scripted(**{**answer.__dict__, "delay": 0.05})
