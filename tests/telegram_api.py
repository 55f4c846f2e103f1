"""A Telegram Bot API double on 127.0.0.1, in a thread of its own (so synchronous tests, the
CLI and asyncio code can all talk to it): `/bot<token>/<method>` for getMe, getUpdates (a long
poll over scripted updates that honours the offset, as Telegram does), setWebhook,
deleteWebhook, sendMessage, answerCallbackQuery and editMessageReplyMarkup, answering in
Telegram's shapes (`{"ok": true, "result": …}`, errors with `error_code` and `description`).
It checks what Telegram checks (HTML entities, lengths, button data) and keeps every call."""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from nudgeflow.bot import TelegramBot

TOKEN = "123456789:AAH-test_token_0123456789abcdefghi"
BOT = {"id": 123456789, "is_bot": True, "first_name": "Coach", "username": "coach_bot"}
MAX_TEXT = 4096
MAX_CALLBACK = 64
MAX_ANSWER = 200
CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
OLD_QUERY = "Bad Request: query is too old and response timeout expired or query ID is invalid"

_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
_message_ids = itertools.count(1)


def error(code: int, description: str, **parameters: Any) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return code, body


def checked_text(params: dict[str, Any], *, tags: str = "b|i") -> str | tuple[int, dict[str, Any]]:
    """The text a sendMessage shows, or the error Telegram answers it with: HTML that uses
    other tags than `tags` or a bare <, > or &, empty or too long text, or a button whose
    callback_data is over 64 bytes."""
    text = str(params.get("text") or "")
    if params.get("parse_mode") == "HTML":
        tag = re.compile(rf"</?({tags})>")
        if set(_ENTITY.sub("", tag.sub("", text))) & set("<>&"):
            return error(400, "Bad Request: can't parse entities: unsupported start tag")
        text = html.unescape(tag.sub("", text))
    if not text.strip():
        return error(400, "Bad Request: message text is empty")
    if len(text.encode("utf-16-le")) // 2 > MAX_TEXT:
        return error(400, "Bad Request: message is too long")
    for row in (params.get("reply_markup") or {}).get("inline_keyboard", []):
        for button in row:
            if len(button.get("callback_data", "").encode()) > MAX_CALLBACK:
                return error(400, "Bad Request: BUTTON_DATA_INVALID")
    return text


def ok(result: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"ok": True, "result": result}


def chat(chat_id: int) -> dict[str, Any]:
    if chat_id < 0:
        return {"id": chat_id, "type": "group", "title": "Team"}
    return {"id": chat_id, "type": "private", "first_name": "Ana"}


def text_update(
    chat_id: int, text: str, at: datetime, message_id: int | None = None
) -> dict[str, Any]:
    """A message a person wrote in their chat with the bot."""
    message: dict[str, Any] = {
        "message_id": message_id if message_id is not None else next(_message_ids),
        "from": {"id": abs(chat_id), "is_bot": False, "first_name": "Ana", "language_code": "en"},
        "chat": chat(chat_id),
        "date": int(at.timestamp()),
        "text": text,
    }
    if text.startswith("/"):
        command = len(text.split(maxsplit=1)[0])
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": command}]
    return {"message": message}


def press_update(presser: int, data: str, message: dict[str, Any] | None = None) -> dict[str, Any]:
    """A press on a button under `message` (a message the bot sent)."""
    press: dict[str, Any] = {
        "id": f"cb{next(_message_ids)}",
        "from": {"id": presser, "is_bot": False, "first_name": "Ana"},
        "chat_instance": "-7001",
        "data": data,
    }
    if message is not None:
        press["message"] = message
    return {"callback_query": press}


@dataclass
class TelegramApi:
    port: int = 0
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None
    waiting_with: int | None = None  # the offset of the getUpdates held open, if one is
    closing: bool = False
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _last_id: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- scripting ----------------------------------------------------------------------------

    def push(self, *updates: dict[str, Any]) -> None:
        """Updates for the bot to get, numbered in order."""
        with self._lock:
            for update in updates:
                self._last_id += 1
                self._updates.append({"update_id": self._last_id, **update})

    def fail(self, method: str, answer: tuple[int, dict[str, Any]], times: int = 1) -> None:
        """The next `times` calls of `method` get `answer`."""
        self.failures.setdefault(method, []).extend([answer] * times)

    def caught_up(self) -> bool:
        """The bot handled every update pushed: it waits in a getUpdates past the last."""
        waiting = self.waiting_with
        return waiting is not None and waiting > self._last_id

    def pending(self) -> list[int]:
        """Ids of the updates Telegram still holds (not confirmed by a later offset)."""
        with self._lock:
            return [u["update_id"] for u in self._updates]

    # ---- what was said ------------------------------------------------------------------------

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Messages the bot sent (to `chat_id`), oldest first, as Telegram keeps them."""
        return [m for (c, _), m in sorted(self.messages.items(), key=lambda kv: kv[0][1])
                if chat_id is None or c == chat_id]  # fmt: skip

    def texts(self, chat_id: int | None = None) -> list[str]:
        """What the chat shows of each message the bot sent: the text without markup."""
        return [m["text"] for m in self.sent(chat_id)]

    def said(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    # ---- the Bot API ----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        params = await _params(request)
        self.calls.append((method, params))
        if token != TOKEN:
            status, body = error(401, "Unauthorized")
        elif self.failures.get(method):
            status, body = self.failures[method].pop(0)
        else:
            status, body = await self._answer(method, params, request)
        return web.json_response(body, status=status)

    async def _answer(
        self, method: str, params: dict[str, Any], request: web.Request
    ) -> tuple[int, dict[str, Any]]:
        if method == "getUpdates":
            return await self._get_updates(params, request)
        answer = {
            "getMe": lambda: ok(BOT | {"can_join_groups": True, "supports_inline_queries": False}),
            "setWebhook": lambda: self._set_webhook(params),
            "deleteWebhook": lambda: self._set_webhook(None),
            "sendMessage": lambda: self._send_message(params),
            "answerCallbackQuery": lambda: self._answer_callback(params),
            "editMessageReplyMarkup": lambda: self._edit_markup(params),
        }.get(method)
        return answer() if answer is not None else error(404, "Not Found")

    def _set_webhook(self, params: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        self.webhook = params
        done = "Webhook was set" if params else "Webhook was deleted"
        return 200, {"ok": True, "result": True, "description": done}

    @staticmethod
    def _answer_callback(params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not params.get("callback_query_id"):
            return error(400, OLD_QUERY)
        if len(str(params.get("text", ""))) > MAX_ANSWER:
            return error(400, "Bad Request: MESSAGE_TOO_LONG")
        return ok(True)

    async def _get_updates(
        self, params: dict[str, Any], request: web.Request
    ) -> tuple[int, dict[str, Any]]:
        if self.webhook is not None:
            return error(409, CONFLICT)
        offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        with self._lock:  # "confirmed as soon as getUpdates is called with a higher offset"
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        self.waiting_with = offset
        try:
            while True:
                with self._lock:
                    ready = self._updates[:limit]
                gone = request.transport is None or request.transport.is_closing()
                if ready or gone or self.closing or time.monotonic() >= deadline:
                    return ok(ready)
                await asyncio.sleep(0.01)
        finally:
            self.waiting_with = None

    def _send_message(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        text = checked_text(params)
        if not isinstance(text, str):
            return text
        markup = params.get("reply_markup")
        chat_id = int(params["chat_id"])
        if chat_id == 0:
            return error(400, "Bad Request: chat not found")
        message_id = next(_message_ids)
        message: dict[str, Any] = {"message_id": message_id, "from": BOT, "chat": chat(chat_id),
                                   "date": int(time.time()), "text": text,
                                   "html": params.get("text")}  # fmt: skip
        if markup:
            message["reply_markup"] = markup
        self.messages[(chat_id, message_id)] = message
        return ok({k: v for k, v in message.items() if k != "html"})

    def _edit_markup(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        key = (int(str(params.get("chat_id", 0))), int(str(params.get("message_id", 0))))
        message = self.messages.get(key)
        if message is None:
            return error(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup") or None
        if markup == message.get("reply_markup"):
            return error(400, NOT_MODIFIED)
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        shown = {k: v for k, v in message.items() if k != "html"}
        return ok(shown | {"edit_date": int(time.time())})


async def _params(request: web.Request) -> dict[str, Any]:
    """Parameters in any of the ways the Bot API takes them: query, form, JSON."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
    else:
        params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    for name in ("reply_markup", "allowed_updates"):
        if isinstance(params.get(name), str):
            params[name] = json.loads(params[name])
    return params


@contextmanager
def telegram_api() -> Iterator[TelegramApi]:
    """The double, serving on 127.0.0.1 from a thread until the block ends."""
    api = TelegramApi()
    loop = asyncio.new_event_loop()
    runner: list[web.AppRunner] = []
    ready = threading.Event()

    async def start() -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", api.handle)
        runner.append(web.AppRunner(app, access_log=None))
        await runner[0].setup()
        await web.TCPSite(runner[0], "127.0.0.1", 0).start()
        api.port = runner[0].addresses[0][1]
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()),
                              daemon=True)  # fmt: skip
    thread.start()
    assert ready.wait(5), "the Bot API double did not start"
    try:
        yield api
    finally:
        api.closing = True  # a long poll still held open ends now
        asyncio.run_coroutine_threadsafe(runner[0].cleanup(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def poll_until_caught_up(bot: TelegramBot, api: TelegramApi, *updates: dict[str, Any]) -> None:
    """Push `updates`, run the bot's long polling until it handled them all, then stop it
    as a signal would."""

    async def main() -> None:
        stop = asyncio.Event()
        polling = asyncio.create_task(bot.poll(stop))
        try:
            for _ in range(1000):
                if api.caught_up() or polling.done():
                    break
                await asyncio.sleep(0.01)
            assert api.caught_up(), f"the bot did not handle every update: {api.pending()}"
        finally:
            stop.set()
            await polling
            await bot.aclose()

    api.push(*updates)
    asyncio.run(main())
