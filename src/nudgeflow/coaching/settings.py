"""LLM settings, and the generator they make. Secrets are SecretStr: never in logs or reprs.

    # nudgeflow.toml
    [llm]
    provider = "openai"                  # the wire format: "openai" (any compatible endpoint) or "anthropic"
    base_url = "http://127.0.0.1:11434/v1"   # OpenAI, OpenRouter, Ollama, vLLM, …
    model = "llama3.1"
    daily_budget_usd = 5.0
    prices = { "llama3.1" = { input_per_million = 0, output_per_million = 0 } }

or NUDGEFLOW_LLM_PROVIDER, NUDGEFLOW_LLM_BASE_URL, NUDGEFLOW_LLM_API_KEY, NUDGEFLOW_LLM_MODEL
(`LLMSettings.from_env`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from nudgeflow.coaching.base import LLMClient
from nudgeflow.coaching.budget import Budget, Ledger
from nudgeflow.coaching.gate import Gate
from nudgeflow.coaching.llm import LLMGenerator
from nudgeflow.coaching.prices import DEFAULT_PRICES, Price
from nudgeflow.coaching.stage import GenerationStage
from nudgeflow.coaching.templates import TemplateGenerator

DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}
ENV_PREFIX = "NUDGEFLOW_LLM_"


class LLMSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Literal["openai", "anthropic"] = "openai"
    model: str = Field(min_length=1)
    base_url: str | None = None  # the provider's public endpoint when None
    api_key: SecretStr | None = None
    timeout_seconds: float = Field(default=30, gt=0)  # one HTTP request
    generation_timeout_seconds: float = Field(default=90, gt=0)  # drafts, ratings and revision
    max_retries: int = Field(default=2, ge=0, le=10)  # on 429, 5xx and timeouts
    max_tokens: int = Field(default=600, ge=50, le=8000)
    structured: bool = True  # JSON schema / forced tool; off for servers that reject it
    stream: bool = False
    threshold: int = Field(default=6, ge=1, le=10)
    revisions: int = Field(default=1, ge=0, le=3)
    concurrency: int = Field(default=8, ge=1, le=1000)
    daily_budget_usd: float | None = Field(default=None, ge=0)
    user_daily_budget_usd: float | None = Field(default=None, ge=0)
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> LLMSettings | None:
        """Settings from NUDGEFLOW_LLM_*; None when no model is named (templates only)."""
        names = ("provider", "model", "base_url", "api_key")
        given = {
            n: environ[ENV_PREFIX + n.upper()] for n in names if environ.get(ENV_PREFIX + n.upper())
        }
        return cls.model_validate(given) if "model" in given else None

    @property
    def endpoint(self) -> str:
        return self.base_url or DEFAULT_BASE_URLS[self.provider]

    @property
    def label(self) -> str:
        """Whom we talk to, as recorded with each attempt: openai, openrouter, ollama, …"""
        host = urlsplit(self.endpoint).hostname or ""
        if self.provider == "anthropic" or host.endswith("openai.com"):
            return self.provider
        if "openrouter" in host:
            return "openrouter"
        return "ollama" if urlsplit(self.endpoint).port == 11434 else host or self.provider


def client_for(settings: LLMSettings) -> LLMClient:
    """The SDK client the settings describe. The SDKs (the `llm` extra) load only here."""
    from nudgeflow.coaching.clients import AnthropicClient, OpenAIClient

    kind = AnthropicClient if settings.provider == "anthropic" else OpenAIClient
    return kind(
        model=settings.model,
        base_url=settings.endpoint,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        timeout=settings.timeout_seconds,
        max_retries=settings.max_retries,
        structured=settings.structured,
        stream=settings.stream,
        provider=settings.label,
    )


def generator_for(
    settings: LLMSettings,
    *,
    templates: TemplateGenerator | None = None,
    ledger: Ledger | None = None,
    client: LLMClient | None = None,
) -> LLMGenerator:
    return LLMGenerator(
        client or client_for(settings),
        templates=templates,
        gate=Gate(settings.threshold, settings.revisions),
        budget=Budget(settings.daily_budget_usd, settings.user_daily_budget_usd),
        ledger=ledger,
        prices=settings.prices,
        max_tokens=settings.max_tokens,
        timeout=settings.generation_timeout_seconds,
    )


def stage_for(settings: LLMSettings, generator: LLMGenerator) -> GenerationStage:
    # The stage's own timeout is a backstop a little past the generator's, which records
    # the attempts it made before giving up.
    backstop = settings.generation_timeout_seconds + settings.timeout_seconds
    return GenerationStage(
        generator, limit=settings.concurrency, timeout=backstop, templates=generator.templates
    )
