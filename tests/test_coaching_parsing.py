"""Replies read tolerantly, and what cannot be read says why; prices by model."""

from __future__ import annotations

import pytest

from nudgeflow.coaching.base import Draft, Rating, Recommendation
from nudgeflow.coaching.clients import AnthropicClient, OpenAIClient
from nudgeflow.coaching.parsing import MalformedReply, json_object, parse_draft, parse_rating
from nudgeflow.coaching.prices import DEFAULT_PRICES, Price, price_of, usage_of
from nudgeflow.coaching.settings import LLMSettings, client_for

OBJECT = {"a": 1, "b": "x"}


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": "x"}',
        '  {"a": 1, "b": "x",}  ',
        'Here you go:\n```json\n{"a": 1, "b": "x"}\n```',
        '```\n{"a": 1,\n "b": "x",\n}\n```',
        'Sure. {"a": 1, "b": "x"} Anything else?',
        "{'a': 1, 'b': 'x'}",
        "{“a”: 1, “b”: “x”}",
        'Thinking {not json} then {"a": 1, "b": "x"}',
    ],
)
def test_a_json_object_is_found_wherever_it_sits(text: str) -> None:
    assert json_object(text) == OBJECT


def test_braces_inside_strings_do_not_confuse_the_search() -> None:
    assert json_object('note: {"a": "}{", "b": 2}') == {"a": "}{", "b": 2}


@pytest.mark.parametrize("text", ["", "no json here", "[1, 2]", '{"a": 1'])
def test_no_object_is_malformed(text: str) -> None:
    with pytest.raises(MalformedReply, match="no JSON object in the reply"):
        json_object(text)


def test_a_draft_accepts_loose_type_names_and_cuts_a_long_push_text() -> None:
    long_push = "word " * 40
    draft = parse_draft(
        f'{{"type": "Personal Insight", "message": " Hi there. ", "push": "{long_push}"}}'
    )
    assert draft.message_type == "personal_insight"
    assert draft.content == "Hi there."
    assert len(draft.push_text) <= 120
    assert draft.push_text.endswith("…")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '{"message_type": "pep_talk", "content": "x", "push_text": "y"}',
            "message type 'pep_talk' is not one of the eight",
        ),
        ('{"message_type": "check_in", "push_text": "y"}', "the reply has no 'content'"),
        ('{"message_type": "check_in", "content": 5, "push_text": "y"}', "'content' is not text"),
    ],
)
def test_a_bad_draft_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(MalformedReply, match=problem):
        parse_draft(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"rating": 7, "recommendation": "SEND", "reason": "ok"}',
            Rating(7, Recommendation.SEND, "ok"),
        ),
        ('{"rating": "8/10", "recommendation": "revise"}', Rating(8, Recommendation.REVISE, "")),
        (
            '{"score": 6.4, "decision": " skip ", "feedback": "meh"}',
            Rating(6, Recommendation.SKIP, "meh"),
        ),
    ],
)
def test_ratings_are_read_leniently(text: str, expected: Rating) -> None:
    assert parse_rating(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"rating": 0, "recommendation": "SEND"}', "rating 0 is not a number from 1 to 10"),
        ('{"rating": "great", "recommendation": "SEND"}', "rating 'great' is not a number"),
        ('{"rating": true, "recommendation": "SEND"}', "rating True is not a number"),
        (
            '{"rating": 7, "recommendation": "MAYBE"}',
            "recommendation 'MAYBE' is not SEND, SKIP or REVISE",
        ),
        ('{"rating": 7}', "the reply has no 'recommendation'"),
    ],
)
def test_a_bad_rating_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(MalformedReply, match=problem):
        parse_rating(text)


def test_a_draft_round_trips_through_parse() -> None:
    assert parse_draft(
        '{"message_type": "challenge", "content": "Go.", "push_text": "Go"}'
    ) == Draft("challenge", "Go.", "Go")


# Prices.


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("gpt-4o-mini", DEFAULT_PRICES["gpt-4o-mini"]),
        ("gpt-4o-mini-2024-07-18", DEFAULT_PRICES["gpt-4o-mini"]),
        ("gpt-4o-2024-08-06", DEFAULT_PRICES["gpt-4o"]),
        ("claude-3-5-haiku-20241022", DEFAULT_PRICES["claude-3-5-haiku"]),
        ("claude-3-5-haiku-latest", DEFAULT_PRICES["claude-3-5-haiku"]),
        ("openai/gpt-4o-mini", DEFAULT_PRICES["gpt-4o-mini"]),  # OpenRouter's names
        ("claude-sonnet-4-5-20250929", DEFAULT_PRICES["claude-sonnet-4-5"]),
        ("gpt-4o-mini-search", None),  # another model, not a snapshot
        ("llama3.1:8b", None),
    ],
)
def test_a_price_is_found_for_a_model_and_its_snapshots(model: str, price: Price | None) -> None:
    assert price_of(model, DEFAULT_PRICES) == price


def test_usage_is_priced_per_million_tokens() -> None:
    usage = usage_of("m", 2_000_000, 500_000, {"m": Price(0.5, 2.0)})
    assert (usage.cost, usage.priced) == (2.0, True)
    assert usage_of("unknown", 10, 10, {}).priced is False


# Settings.


def test_settings_from_the_environment_keep_the_key_secret() -> None:
    settings = LLMSettings.from_env(
        {
            "NUDGEFLOW_LLM_BASE_URL": "https://openrouter.ai/api/v1",
            "NUDGEFLOW_LLM_API_KEY": "sk-or-very-secret",
            "NUDGEFLOW_LLM_MODEL": "openai/gpt-4o-mini",
        }
    )
    assert settings is not None
    assert settings.label == "openrouter"
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in str(settings.model_dump())
    assert isinstance(client_for(settings), OpenAIClient)
    assert LLMSettings.from_env({}) is None


@pytest.mark.parametrize(
    ("values", "label", "kind"),
    [
        ({"model": "gpt-4o-mini"}, "openai", OpenAIClient),
        ({"model": "llama3.1", "base_url": "http://127.0.0.1:11434/v1"}, "ollama", OpenAIClient),
        ({"model": "qwen", "base_url": "http://gpu-box:8000/v1"}, "gpu-box", OpenAIClient),
        ({"model": "claude-haiku-4-5", "provider": "anthropic"}, "anthropic", AnthropicClient),
    ],
)
def test_the_provider_label_and_client_follow_the_settings(
    values: dict[str, str], label: str, kind: type
) -> None:
    settings = LLMSettings.model_validate(values)
    assert settings.label == label
    client = client_for(settings)
    assert isinstance(client, kind)
    assert client.provider == label
