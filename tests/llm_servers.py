"""LLM provider doubles on 127.0.0.1 that speak the real wire formats, answering from a script.

- OpenAI chat completions, `POST /v1/chat/completions`: a `chat.completion` with
  `choices[0].message.content` and `usage.prompt_tokens/completion_tokens`; with
  `"stream": true`, SSE `data: {chat.completion.chunk}` lines, a usage chunk with empty
  `choices` when `stream_options.include_usage` asks for it, then `data: [DONE]`.
- Anthropic messages, `POST /v1/messages`: a `message` with `content` blocks (`tool_use` when the
  request forces a tool and the scripted text is a JSON object, else `text`), `stop_reason` and
  `usage.input_tokens/output_tokens`; with `"stream": true`, the SSE events message_start,
  content_block_start, content_block_delta (text_delta or input_json_delta), content_block_stop,
  message_delta (with the output usage) and message_stop.

Each request takes the next `Scripted` answer (or asks `responder`, once the script is used up):
a reply, an error status with headers (429 with Retry-After), a delay, or a raw body. The server
keeps every request body, when it came, and the most requests it had in flight at once."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_ids = itertools.count(1)


@dataclass(frozen=True)
class Scripted:
    text: str = ""  # what the model "wrote"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    raw: str | None = None  # a body sent as is, instead of the provider's JSON
    tokens_in: int = 120
    tokens_out: int = 40
    model: str | None = None  # the model the answer names; the one asked for by default


def reply(content: str | dict[str, Any], **options: Any) -> Scripted:
    text = content if isinstance(content, str) else json.dumps(content)
    return Scripted(text=text, **options)


def draft(
    message_type: str = "check_in",
    content: str = "How did the interview prep go yesterday?",
    push_text: str = "How did the prep go?",
    **options: Any,
) -> Scripted:
    return reply(
        {"message_type": message_type, "content": content, "push_text": push_text}, **options
    )


def rating(
    score: int, recommendation: str = "SEND", reason: str = "fine", **options: Any
) -> Scripted:
    return reply({"rating": score, "recommendation": recommendation, "reason": reason}, **options)


def failure(status: int, **headers: str) -> Scripted:
    return Scripted(status=status, headers={k.replace("_", "-"): v for k, v in headers.items()})


@dataclass
class LLMServer:
    script: list[Scripted]
    responder: Callable[[dict[str, Any]], Scripted] | None = None
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, _openai_body, _openai_stream, _openai_error)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, _anthropic_body, _anthropic_stream, _anthropic_error)

    async def _answer(
        self,
        request: web.Request,
        body: Callable[[dict[str, Any], Scripted], dict[str, Any]],
        stream: Callable[[dict[str, Any], Scripted], Iterator[str]],
        error: Callable[[int], dict[str, Any]],
    ) -> web.StreamResponse:
        asked = await request.json()
        self.requests.append(asked)
        self.arrivals.append(time.monotonic())
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            answer = self._next(asked)
            if answer.delay:
                await _sleep_unless(self.release, answer.delay)
            if answer.raw is not None:
                return web.Response(text=answer.raw, content_type="application/json")
            if answer.status != 200:
                return web.json_response(
                    error(answer.status), status=answer.status, headers=answer.headers
                )
            if asked.get("stream"):
                return await _send_events(request, stream(asked, answer))
            return web.json_response(body(asked, answer), headers=answer.headers)
        finally:
            self.in_flight -= 1

    def _next(self, asked: dict[str, Any]) -> Scripted:
        if self.script:
            return self.script.pop(0)
        if self.responder is not None:
            return self.responder(asked)
        raise AssertionError(f"unscripted request: {json.dumps(asked)[:300]}")


@asynccontextmanager
async def serving(
    *script: Scripted, responder: Callable[[dict[str, Any]], Scripted] | None = None
) -> AsyncIterator[LLMServer]:
    server = LLMServer(list(script), responder)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.chat_completions)
    app.router.add_post("/v1/messages", server.messages)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        server.release.set()
        await runner.cleanup()


def closed_port() -> int:
    """A loopback port nothing listens on: connections are refused, as from a server that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def system_prompt(asked: dict[str, Any]) -> str:
    """The system prompt of a request in either format."""
    if "system" in asked:
        return str(asked["system"])
    return next((m["content"] for m in asked["messages"] if m["role"] == "system"), "")


def is_rating_request(asked: dict[str, Any]) -> bool:
    return "review a coaching message" in system_prompt(asked)


async def _sleep_unless(release: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake when the server shuts down, so a slow reply does not hold it open."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(release.wait(), seconds)


async def _send_events(request: web.Request, events: Iterator[str]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for event in events:
        await response.write(event.encode())
    await response.write_eof()
    return response


# OpenAI chat completions


def _openai_body(asked: dict[str, Any], answer: Scripted) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model or asked["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _openai_usage(answer),
    }


def _openai_stream(asked: dict[str, Any], answer: Scripted) -> Iterator[str]:
    with_usage = bool((asked.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": answer.model or asked["model"],
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        extra = {"usage": None} if with_usage else {}
        return _data({**base, "choices": [choice], **extra})

    yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(answer.text):
        yield chunk({"content": piece})
    yield chunk({}, "stop")
    if with_usage:
        yield _data({**base, "choices": [], "usage": _openai_usage(answer)})
    yield "data: [DONE]\n\n"


def _openai_usage(answer: Scripted) -> dict[str, int]:
    total = answer.tokens_in + answer.tokens_out
    return {
        "prompt_tokens": answer.tokens_in,
        "completion_tokens": answer.tokens_out,
        "total_tokens": total,
    }


def _openai_error(status: int) -> dict[str, Any]:
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    return {"error": {"message": f"scripted {status}", "type": kind, "param": None, "code": kind}}


# Anthropic messages


def _anthropic_block(asked: dict[str, Any], text: str) -> dict[str, Any]:
    """A tool_use block when the request forces a tool and the text is a JSON object."""
    choice = asked.get("tool_choice") or {}
    if choice.get("type") == "tool":
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return {
                "type": "tool_use",
                "id": f"toolu_{next(_ids)}",
                "name": choice["name"],
                "input": value,
            }
    return {"type": "text", "text": text}


def _anthropic_body(asked: dict[str, Any], answer: Scripted) -> dict[str, Any]:
    block = _anthropic_block(asked, answer.text)
    return {
        "id": f"msg_{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": answer.model or asked["model"],
        "content": [block],
        "stop_reason": "tool_use" if block["type"] == "tool_use" else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": answer.tokens_in, "output_tokens": answer.tokens_out},
    }


def _anthropic_stream(asked: dict[str, Any], answer: Scripted) -> Iterator[str]:
    message = _anthropic_body(asked, answer)
    block = message["content"][0]
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": answer.tokens_in, "output_tokens": 1}
    yield _event("message_start", {"type": "message_start", "message": start})
    if block["type"] == "tool_use":
        opening, kind, key, text = (
            {**block, "input": {}},
            "input_json_delta",
            "partial_json",
            json.dumps(block["input"]),
        )
    else:
        opening, kind, key, text = {"type": "text", "text": ""}, "text_delta", "text", block["text"]
    yield _event(
        "content_block_start", {"type": "content_block_start", "index": 0, "content_block": opening}
    )
    yield _event("ping", {"type": "ping"})
    for piece in _pieces(text):
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": kind, key: piece}}
        yield _event("content_block_delta", delta)
    yield _event("content_block_stop", {"type": "content_block_stop", "index": 0})
    ending = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    usage = {"output_tokens": answer.tokens_out}
    yield _event("message_delta", {"type": "message_delta", "delta": ending, "usage": usage})
    yield _event("message_stop", {"type": "message_stop"})


def _anthropic_error(status: int) -> dict[str, Any]:
    kinds = {429: "rate_limit_error", 529: "overloaded_error"}
    kind = kinds.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": f"scripted {status}"}}


def _pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _data(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def _event(name: str, payload: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n"
