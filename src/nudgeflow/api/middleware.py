"""Around every request: a request id in every log line, a cap on body size, and replays of
requests sent again with the same Idempotency-Key. Pure ASGI, so responses stream through."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

import structlog
from anyio import to_thread
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nudgeflow.api.problems import problem
from nudgeflow.store import idempotency
from nudgeflow.store.database import writer

log = structlog.get_logger("nudgeflow.api")


class RequestLog:
    """Takes X-Request-ID or makes one, binds it to every log line of the request, sends it
    back, and logs the request with its status and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given[:64] or uuid.uuid4().hex
        status = 500
        started = time.perf_counter()

        async def tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, tagged)
            finally:
                log.info("request", method=scope["method"], path=scope["path"], status=status,
                         ms=round((time.perf_counter() - started) * 1000, 1))  # fmt: skip


class BodyLimit:
    """Refuses a body over `limit` bytes with 413, by its Content-Length or as it streams in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._too_large(scope, receive, send)
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await self._too_large(scope, receive, send)
        scope.setdefault("state", {})["body"] = bytes(body)
        await self.app(scope, _replay(bytes(body)), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is over the limit of {self.limit:,} bytes"
        response = problem(Request(scope), 413, "Request body too large", detail)
        await response(scope, receive, send)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


class Idempotency:
    """A write sent with an Idempotency-Key is done once: repeats get the first answer (and
    `Idempotent-Replayed: true`); the same key on a different request is a 422."""

    WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(self, app: ASGIApp, engine: Any) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", [])) if scope["type"] == "http" else {}
        key = headers.get(b"idempotency-key", b"").decode("latin-1")
        if not key or scope["method"] not in self.WRITES:
            return await self.app(scope, receive, send)
        if len(key) > 255:
            response = problem(
                Request(scope), 422, "Invalid input", "Idempotency-Key: at most 255 characters"
            )
            return await response(scope, receive, send)
        caller = hashlib.sha256(headers.get(b"authorization", b"")).hexdigest()[:64]
        fingerprint = hashlib.sha256(
            b"\n".join([scope["method"].encode(), scope["path"].encode(),
                        scope.get("query_string", b""), scope.get("state", {}).get("body", b"")])
        ).hexdigest()  # fmt: skip
        stored = await to_thread.run_sync(self._find, caller, key)
        if stored is not None:
            return await self._answer_again(scope, receive, send, stored, fingerprint)
        status, content_type, chunks = 0, "", []

        async def capture(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                content_type = dict(message.get("headers", [])).get(b"content-type", b"").decode()
            else:
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        if 200 <= status < 500 and status not in (401, 429):
            answer = {"fingerprint": fingerprint, "status": status,
                      "content_type": content_type, "body": b"".join(chunks)}  # fmt: skip
            await to_thread.run_sync(self._keep, caller, key, answer)

    async def _answer_again(
        self, scope: Scope, receive: Receive, send: Send, stored: dict[str, Any], fingerprint: str
    ) -> None:
        if stored["fingerprint"] != fingerprint:
            detail = "this Idempotency-Key was used for a different request"
            return await problem(Request(scope), 422, "Idempotency-Key reused", detail)(
                scope, receive, send
            )
        headers = [(b"idempotent-replayed", b"true")]
        if stored["content_type"]:
            headers.append((b"content-type", stored["content_type"].encode()))
        await send({"type": "http.response.start", "status": stored["status"], "headers": headers})
        await send({"type": "http.response.body", "body": stored["body"]})

    def _find(self, caller: str, key: str) -> dict[str, Any] | None:
        with self.engine.db.connect() as conn:
            return idempotency.find(conn, caller, key)

    def _keep(self, caller: str, key: str, answer: dict[str, Any]) -> None:
        with writer(self.engine.db).begin() as conn:
            idempotency.keep(conn, caller, key, **answer, now=self.engine.clock.now())
