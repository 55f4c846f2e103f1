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
        try:
            if self._stream:
                return await self._streamed(prompt, max_tokens)
            return await self._whole(prompt, max_tokens)
        except openai.APITimeoutError as exc:
            raise ProviderError(f"{self.provider} timed out: {exc}", timeout=True) from exc
        except openai.APIStatusError as exc:
            raise ProviderError(f"{self.provider} answered HTTP {exc.status_code}") from exc
        except openai.APIConnectionError as exc:
            raise ProviderError(f"{self.provider} unreachable: {exc}") from exc
        except (openai.OpenAIError, ValueError) as exc:
            raise ProviderError(f"{self.provider} sent an unreadable response: {exc}") from exc

    async def aclose(self) -> None:
        await self._client.close()

    async def _whole(self, prompt: Prompt, max_tokens: int) -> Reply:
        completion = await self._client.chat.completions.create(
            model=self.model,
            messages=self._messages(prompt),
            max_tokens=max_tokens,
            response_format=self._format(prompt) if self._structured else openai.omit,
        )
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
            model=self.model,
            messages=self._messages(prompt),
            max_tokens=max_tokens,
            response_format=self._format(prompt) if self._structured else openai.omit,
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

    @staticmethod
    def _messages(prompt: Prompt) -> list[ChatCompletionMessageParam]:
        return [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ]

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
        try:
            message = await self._message(prompt, max_tokens)
        except anthropic.APITimeoutError as exc:
            raise ProviderError(f"{self.provider} timed out: {exc}", timeout=True) from exc
        except anthropic.APIStatusError as exc:
            raise ProviderError(f"{self.provider} answered HTTP {exc.status_code}") from exc
        except anthropic.APIConnectionError as exc:
            raise ProviderError(f"{self.provider} unreachable: {exc}") from exc
        except (anthropic.AnthropicError, ValueError) as exc:
            raise ProviderError(f"{self.provider} sent an unreadable response: {exc}") from exc
        usage = message.usage
        return Reply(_text_of(message), usage.input_tokens, usage.output_tokens, message.model)

    async def aclose(self) -> None:
        await self._client.close()

    async def _message(self, prompt: Prompt, max_tokens: int) -> Message:
        messages: list[MessageParam] = [{"role": "user", "content": prompt.user}]
        tools, choice = self._tool(prompt) if self._structured else (anthropic.omit, anthropic.omit)
        if not self._stream:
            return await self._client.messages.create(
                model=self.model,
                max_tokens=max_tokens,
                system=prompt.system,
                messages=messages,
                tools=tools,
                tool_choice=choice,
            )
        async with self._client.messages.stream(
            model=self.model,
            max_tokens=max_tokens,
            system=prompt.system,
            messages=messages,
            tools=tools,
            tool_choice=choice,
        ) as stream:
            return await stream.get_final_message()

    @staticmethod
    def _tool(prompt: Prompt) -> tuple[list[ToolParam], ToolChoiceToolParam]:
        tool: ToolParam = {
            "name": prompt.schema_name,
            "description": "Give your answer by calling this tool.",
            "input_schema": prompt.schema,
        }
        return [tool], {"type": "tool", "name": prompt.schema_name}


def _text_of(message: Message) -> str:
    """The forced tool's input as JSON, else the text blocks (a model that answered in prose)."""
    for block in message.content:
        if block.type == "tool_use":
            return json.dumps(block.input)
    return "".join(block.text for block in message.content if block.type == "text")
