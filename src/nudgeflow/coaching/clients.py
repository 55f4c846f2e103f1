"""The two kinds of LLM provider, each through its official SDK, behind one small interface:
`complete(prompt, max_tokens) -> Reply` (the text and the token counts), or `ProviderError`.

- `OpenAIClient`: any OpenAI-compatible chat-completions endpoint (OpenAI, OpenRouter, Ollama,
  vLLM) by `base_url`. Structured output through `response_format` `json_schema`.
- `AnthropicClient`: the Messages API. Structured output through one forced tool whose input
  schema is the reply's shape.

Both may stream (the reply is assembled, the usage taken from the stream's last events). The
SDKs retry 429 and 5xx answers and timeouts `max_retries` times with exponential backoff,
honouring `Retry-After`; what still fails becomes a `ProviderError`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import anthropic
import openai
from anthropic.types import Message, MessageParam, ToolChoiceToolParam, ToolParam
from openai.types.chat import ChatCompletionMessageParam
from openai.types.chat.completion_create_params import ResponseFormat

from nudgeflow.coaching.base import Prompt, ProviderError, Reply

UNUSED_KEY = "unused"  # local servers (Ollama, vLLM) want no key, the SDKs want one


class OpenAIClient:
    def __init__(
        self,
        *,
        model: str,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        structured: bool = True,
        stream: bool = False,
        provider: str = "openai",
    ) -> None:
        self.provider, self.model = provider, model
        self._structured, self._stream = structured, stream
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or UNUSED_KEY,
            timeout=timeout,
            max_retries=max_retries,
        )

    async def complete(self, prompt: Prompt, max_tokens: int) -> Reply:
        with _failures_of(openai, openai.OpenAIError, self.provider):
            if self._stream:
                return await self._streamed(prompt, max_tokens)
            return await self._whole(prompt, max_tokens)

    async def aclose(self) -> None:
        await self._client.close()

    async def _whole(self, prompt: Prompt, max_tokens: int) -> Reply:
        completion = await self._client.chat.completions.create(**self._request(prompt, max_tokens))
        usage = completion.usage
        text = completion.choices[0].message.content if completion.choices else None
        return Reply(
            text or "",
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
            completion.model or self.model,
        )

    async def _streamed(self, prompt: Prompt, max_tokens: int) -> Reply:
        stream = await self._client.chat.completions.create(
            **self._request(prompt, max_tokens),
            stream=True,
            stream_options={"include_usage": True},  # a last chunk carries the usage
        )
        parts: list[str] = []
        tokens_in = tokens_out = 0
        model = self.model
        async with stream:
            async for chunk in stream:
                model = chunk.model or model
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
                if chunk.usage is not None:
                    tokens_in, tokens_out = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
        return Reply("".join(parts), tokens_in, tokens_out, model)

    def _request(self, prompt: Prompt, max_tokens: int) -> dict[str, Any]:
        """What every request says, streamed or not."""
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ]
        return {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "response_format": self._format(prompt) if self._structured else openai.omit,
        }

    @staticmethod
    def _format(prompt: Prompt) -> ResponseFormat:
        return {
            "type": "json_schema",
            "json_schema": {"name": prompt.schema_name, "schema": prompt.schema, "strict": True},
        }


class AnthropicClient:
    def __init__(
        self,
        *,
        model: str,
        base_url: str = "https://api.anthropic.com",
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        structured: bool = True,
        stream: bool = False,
        provider: str = "anthropic",
    ) -> None:
        self.provider, self.model = provider, model
        self._structured, self._stream = structured, stream
        self._client = anthropic.AsyncAnthropic(
            base_url=base_url,
            api_key=api_key or UNUSED_KEY,
            timeout=timeout,
            max_retries=max_retries,
        )

    async def complete(self, prompt: Prompt, max_tokens: int) -> Reply:
        with _failures_of(anthropic, anthropic.AnthropicError, self.provider):
            message = await self._message(prompt, max_tokens)
        usage = message.usage
        return Reply(_text_of(message), usage.input_tokens, usage.output_tokens, message.model)

    async def aclose(self) -> None:
        await self._client.close()

    async def _message(self, prompt: Prompt, max_tokens: int) -> Message:
        messages: list[MessageParam] = [{"role": "user", "content": prompt.user}]
        tools, choice = self._tool(prompt) if self._structured else (anthropic.omit, anthropic.omit)
        request: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens,
                                   "system": prompt.system, "messages": messages,
                                   "tools": tools, "tool_choice": choice}  # fmt: skip
        if not self._stream:
            whole: Message = await self._client.messages.create(**request)
            return whole
        async with self._client.messages.stream(**request) as stream:
            return await stream.get_final_message()

    @staticmethod
    def _tool(prompt: Prompt) -> tuple[list[ToolParam], ToolChoiceToolParam]:
        tool: ToolParam = {
            "name": prompt.schema_name,
            "description": "Give your answer by calling this tool.",
            "input_schema": prompt.schema,
        }
        return [tool], {"type": "tool", "name": prompt.schema_name}


@contextmanager
def _failures_of(sdk: ModuleType, base: type[Exception], provider: str) -> Iterator[None]:
    """What still fails after the SDK's own retries, as a ProviderError saying why. Both SDKs
    name their errors alike; `base` is the SDK's root error."""
    try:
        yield
    except sdk.APITimeoutError as exc:
        raise ProviderError(f"{provider} timed out: {exc}", timeout=True) from exc
    except sdk.APIStatusError as exc:
        raise ProviderError(f"{provider} answered HTTP {exc.status_code}") from exc
    except sdk.APIConnectionError as exc:
        raise ProviderError(f"{provider} unreachable: {exc}") from exc
    except (base, ValueError) as exc:
        raise ProviderError(f"{provider} sent an unreadable response: {exc}") from exc


def _text_of(message: Message) -> str:
    """The forced tool's input as JSON, else the text blocks (a model that answered in prose)."""
    for block in message.content:
        if block.type == "tool_use":
            return json.dumps(block.input)
    return "".join(block.text for block in message.content if block.type == "text")
