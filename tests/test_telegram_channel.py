"""The Telegram channel against a Bot API double on 127.0.0.1 that speaks Telegram's wire format:
what sendMessage receives (chat, escaped HTML, buttons whose data fits and parses back), what
each of Telegram's answers means, and the callback data format on its own."""

from __future__ import annotations

import asyncio
import gc
import html
import json
import logging
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from nudgeflow import providers
from nudgeflow.channels.base import Failed, Links, Outgoing, Result, Retry, Sent
from nudgeflow.channels.telegram import (
    CODES,
    MAX_CALLBACK,
    MAX_TEXT,
    TelegramChannel,
    action_url,
    callback_data,
    keyboard,
    parse_callback,
)
from nudgeflow.ids import new_id
from nudgeflow.lifecycle import SNOOZE_CHOICES
from nudgeflow.resilience import Rate
from telegram_api import checked_text, error

TOKEN = "123456789:AAH-test_token_0123456789abcdefghi"
NUDGE_ID = "n_06h0d4hn9fwyg07xwa290bm7"
CHAT = "4242"
LINKS = Links(
    accept="https://app.example.org/act/a",
    dismiss="https://app.example.org/act/d",
    snooze="https://app.example.org/act/s",
    preferences="https://app.example.org/preferences/p",
    unsubscribe="https://app.example.org/unsubscribe/u",
)
NUDGE: dict[str, Any] = {
    "id": NUDGE_ID,
    "user_id": "ana",
    "rule": "career.profile_incomplete",
    "title": "<b>x</b> & y",
    "body": 'Two fields left: "skills" & <script>alert(1)</script> 🚀',
    "action_label": "Finish it",
    "action_url": "https://app.example.org/profile?from=telegram&x=1",
}
# every press a nudge's keyboard offers: (action, snooze_for)
PRESSES = {
    ("accept", None),
    ("dismiss", None),
    ("snooze", "1h"),
    ("snooze", "4h"),
    ("snooze", "24h"),
    ("snooze", "1w"),
}


# ---- a Bot API double ---------------------------------------------------------------------------


@dataclass
class BotApi:
    """`/bot<token>/<method>` on 127.0.0.1: answers scripted errors first, then checks a
    sendMessage as Telegram does and returns the Message; keeps every call's parameters."""

    answers: list[tuple[int, dict[str, Any]]]
    delay: float = 0.0
    port: int = 0
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        params = await _params(request)
        self.calls.append((method, params))
        await asyncio.sleep(self.delay)
        if token != TOKEN:
            status, body = error(401, "Unauthorized")
        elif method != "sendMessage":
            status, body = error(404, "Not Found")
        elif self.answers:
            status, body = self.answers.pop(0)
        else:
            status, body = _send_message(params, len(self.calls))
        return web.json_response(body, status=status)


async def _params(request: web.Request) -> dict[str, Any]:
    """Parameters in any of the ways the Bot API takes them: query, form, JSON."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
    else:
        params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    if isinstance(params.get("reply_markup"), str):
        params["reply_markup"] = json.loads(params["reply_markup"])
    return params


def _send_message(params: dict[str, Any], message_id: int) -> tuple[int, dict[str, Any]]:
    text = checked_text(params, tags="b")  # the channel writes bold and nothing else
    if not isinstance(text, str):
        return text
    chat_id = int(params["chat_id"])
    chat = {"id": chat_id, "type": "private" if chat_id > 0 else "group", "title": "Team"}
    message = {
        "message_id": message_id,
        "from": {"id": 123456789, "is_bot": True, "first_name": "Coach", "username": "coach_bot"},
        "chat": chat | ({"first_name": "Ana"} if chat_id > 0 else {}),
        "date": 1795420800,
        "text": text,
        "reply_markup": params.get("reply_markup"),
    }
    return 200, {"ok": True, "result": message}


@asynccontextmanager
async def bot_api(
    *answers: tuple[int, dict[str, Any]], delay: float = 0.0
) -> AsyncIterator[BotApi]:
    api = BotApi(list(answers), delay=delay)
    app = web.Application()
    app.router.add_route("*", "/bot{token}/{method}", api.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api.port = runner.addresses[0][1]
    try:
        yield api
    finally:
        await runner.cleanup()


def channel(url: str, *, token: str = TOKEN, timeout: float = 2.0) -> TelegramChannel:
    return TelegramChannel(providers.Telegram(bot_token=token, base_url=url), timeout=timeout)


def outgoing(chat: str | None = CHAT, **nudge: Any) -> Outgoing:
    addresses = {"telegram": chat} if chat is not None else {}
    return Outgoing(
        delivery_id="d_1",
        attempt=1,
        nudge=NUDGE | nudge,
        user={"id": "ana", "locale": "en", "timezone": "Europe/Berlin", "addresses": addresses},
        links=LINKS,
        created_at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
    )


def exchange(
    *answers: tuple[int, dict[str, Any]], message: Outgoing | None = None, delay: float = 0.0
) -> tuple[Result, BotApi]:
    """Send one message to a fresh Bot API double; the result and what the double got."""

    async def main() -> tuple[Result, BotApi]:
        async with bot_api(*answers, delay=delay) as api:
            telegram = channel(api.url, timeout=0.3 if delay else 2.0)
            try:
                return await telegram.send(message or outgoing()), api
            finally:
                await telegram.aclose()

    return asyncio.run(main())


# ---- what Telegram receives ---------------------------------------------------------------------


def test_one_send_message_with_escaped_html_and_the_buttons() -> None:
    result, api = exchange()

    assert result == Sent("1")
    assert [method for method, _ in api.calls] == ["sendMessage"]  # no getMe first
    params = api.calls[0][1]
    assert params["chat_id"] == CHAT
    assert params["parse_mode"] == "HTML"
    assert params["text"] == (
        "<b>&lt;b&gt;x&lt;/b&gt; &amp; y</b>\n\n"
        'Two fields left: "skills" &amp; &lt;script&gt;alert(1)&lt;/script&gt; 🚀'
    )
    rows = params["reply_markup"]["inline_keyboard"]
    assert rows[0] == [{"text": "Finish it", "url": NUDGE["action_url"]}]
    buttons = [button for row in rows[1:] for button in row]
    assert [b["text"] for b in buttons] == [label for label, _, _ in CODES.values()]
    assert all(len(b["callback_data"].encode()) <= MAX_CALLBACK for b in buttons)
    presses = [parse_callback(b["callback_data"]) for b in buttons]
    assert {p.nudge_id for p in presses} == {NUDGE_ID}
    assert {(p.action, p.snooze_for) for p in presses} == PRESSES


def test_the_chat_sees_the_nudge_text_exactly() -> None:
    hostile = outgoing(title="  A <i>&amp;</i>\n  B  ", body="1 < 2 && 3 > 2\n\nnew &para; line")
    result, api = exchange(message=hostile)
    assert isinstance(result, Sent)
    assert api.calls[0][1]["text"].startswith("<b>A &lt;i&gt;&amp;amp;&lt;/i&gt; B</b>\n\n")
    visible = html.unescape(re.sub(r"</?b>", "", api.calls[0][1]["text"]))
    assert visible == "A <i>&amp;</i> B\n\n1 < 2 && 3 > 2\n\nnew &para; line"


def test_a_group_chat_and_a_long_text_that_is_cut_to_fit() -> None:
    result, api = exchange(message=outgoing("-1001234567890", body="🚀" * MAX_TEXT))
    assert result == Sent("1")
    params = api.calls[0][1]
    assert params["chat_id"] == "-1001234567890"
    assert params["text"].endswith("…")


@pytest.mark.parametrize(
    ("url", "has_button"),
    [
        ("https://app.example.org/profile", True),
        ("http://app.example.org/x?y=1#z", True),
        ("/profile", False),
        ("app.example.org/profile", False),
        ("javascript:alert(1)", False),
        ("ftp://files.example.org/a", False),
        ("https://", False),
        ("https://app.example.org/a b", False),
        ("https://[::1", False),
        ("", False),
        (None, False),
    ],
)
def test_a_url_button_only_for_an_absolute_http_url(url: str | None, has_button: bool) -> None:
    rows = keyboard(NUDGE | {"action_url": url}).inline_keyboard
    urls = [button.url for row in rows for button in row if button.url]
    assert urls == ([url] if has_button else [])
    assert (action_url(url) is not None) is has_button


@pytest.mark.parametrize(
    ("chat", "reason"),
    [(None, "has no Telegram chat"), ("", "has no Telegram chat"), ("ana", "not a Telegram chat")],
)
def test_no_request_without_a_chat_id(chat: str | None, reason: str) -> None:
    result, api = exchange(message=outgoing(chat))
    assert isinstance(result, Failed)
    assert reason in result.reason
    assert not result.unreachable
    assert api.calls == []


def test_a_nudge_id_that_cannot_be_a_button_is_not_sent() -> None:
    result, api = exchange(message=outgoing(id="x" * 80))
    assert isinstance(result, Failed)
    assert api.calls == []


# ---- what each answer means ----------------------------------------------------------------------


BLOCKED = error(403, "Forbidden: bot was blocked by the user")
MIGRATED = error(
    400,
    "Bad Request: group chat was upgraded to a supergroup chat",
    migrate_to_chat_id=-1001234567890,
)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (BLOCKED, Failed("Telegram: Forbidden: bot was blocked by the user", unreachable=True)),
        (
            error(403, "Forbidden: user is deactivated"),
            Failed("Telegram: Forbidden: user is deactivated", unreachable=True),
        ),
        (
            error(400, "Bad Request: chat not found"),
            Failed("Telegram: Chat not found", unreachable=True),
        ),
        (
            MIGRATED,
            Failed("Telegram: the group is now supergroup -1001234567890", unreachable=True),
        ),
        (error(400, "Bad Request: BUTTON_URL_INVALID"), Failed("Telegram: Button_url_invalid")),
        (error(500, "Internal Server Error"), Retry("Telegram: Internal Server Error")),
        (error(502, "Bad Gateway"), Retry("Telegram: Bad Gateway")),
        # a 429 without retry_after: the dispatcher's own backoff
        (error(429, "Too Many Requests"), Retry("Telegram: Too Many Requests")),
    ],
)
def test_what_each_answer_means(answer: tuple[int, dict[str, Any]], expected: Result) -> None:
    result, api = exchange(answer)
    assert result == expected
    assert len(api.calls) == 1


# PTB's RetryAfter warns about its own coming change of type when it is made
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
@pytest.mark.parametrize("timedelta_opt_in", ["", "true"])
def test_too_many_requests_waits_as_long_as_telegram_asks(
    timedelta_opt_in: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", timedelta_opt_in)  # retry_after an int, or a timedelta
    result, _ = exchange(error(429, "Too Many Requests: retry after 7", retry_after=7))
    assert isinstance(result, Retry)
    assert result.after == 7.0


def test_a_wrong_token_is_retried_and_never_shown() -> None:
    async def main() -> Result:
        async with bot_api() as api:
            telegram = channel(api.url, token="987:wrong-token_x")
            try:
                return await telegram.send(outgoing())
            finally:
                await telegram.aclose()

    result = asyncio.run(main())
    assert isinstance(result, Retry)
    assert result.after is None  # the breaker counts it: every send would fail alike
    assert "wrong-token" not in result.reason


def test_no_answer_in_time_is_retried() -> None:
    result, _ = exchange(delay=1.0)
    assert isinstance(result, Retry)
    assert result.after is None


def test_no_server_is_retried_without_the_token_in_the_reason() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there

    async def main() -> Result:
        telegram = channel(f"http://127.0.0.1:{port}")
        try:
            return await telegram.send(outgoing())
        finally:
            await telegram.aclose()

    result = asyncio.run(main())
    assert isinstance(result, Retry)
    assert TOKEN not in result.reason


def test_httpx_logs_show_no_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="httpx")
    caplog.set_level(logging.DEBUG, logger="telegram")
    result, _ = exchange()
    assert result == Sent("1")
    assert "/bot<token>/sendMessage" in caplog.text
    assert TOKEN.partition(":")[2] not in caplog.text


# ---- the channel across event loops -------------------------------------------------------------


# the first loop ends without aclose(): its sockets can only be dropped, not closed, later
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_one_channel_across_event_loops() -> None:
    """A caller may run each round in a new loop: the channel makes a new client for it."""

    async def send_twice(telegram: TelegramChannel) -> list[Result]:
        return [await telegram.send(outgoing()), await telegram.send(outgoing())]

    async def main() -> tuple[list[Result], int]:
        async with bot_api() as api:
            telegram = channel(api.url)
            first = await asyncio.to_thread(asyncio.run, send_twice(telegram))
            second = await send_twice(telegram)
            await telegram.aclose()
            await telegram.aclose()  # twice is harmless
            return first + second, len(api.calls)

    results, calls = asyncio.run(main())
    gc.collect()  # the dropped client's warning, here rather than in another test
    assert results == [Sent("1"), Sent("2"), Sent("3"), Sent("4")]
    assert calls == 4


# ---- the callback data --------------------------------------------------------------------------


def test_every_button_round_trips() -> None:
    nudge_id = new_id("n")  # ids as the engine makes them
    for code, (_, action, snooze_for) in CODES.items():
        data = callback_data(code, nudge_id)
        assert len(data.encode()) <= MAX_CALLBACK
        assert parse_callback(data) == (action, nudge_id, snooze_for)
        if snooze_for is not None:
            assert snooze_for in SNOOZE_CHOICES
    assert {(action, snooze) for _, action, snooze in CODES.values()} == PRESSES


@pytest.mark.parametrize(
    "junk",
    [
        "",
        ":",
        "a",
        "a:",
        f"x:{NUDGE_ID}",
        f"s2h:{NUDGE_ID}",
        f"A:{NUDGE_ID}",
        f"a:{NUDGE_ID}:more",
        f"a:{NUDGE_ID} ",
        f"a:{NUDGE_ID.upper()}",
        f"a:{NUDGE_ID}0",
        "a:n_06h0d4hn9fwyg07xwa290bm",
        "a:d_06h0d4hn9fwyg07xwa290bm7",
        "a:../../admin",
        "accept:" + NUDGE_ID,
        "\x00" * 64,
    ],
)
def test_anything_else_is_not_a_button(junk: str) -> None:
    with pytest.raises(ValueError, match="not a nudgeflow button"):
        parse_callback(junk)


def test_buttons_refuse_what_they_could_not_carry() -> None:
    with pytest.raises(ValueError, match="no Telegram button"):
        callback_data("s2h", NUDGE_ID)
    with pytest.raises(ValueError, match="no Telegram button"):
        callback_data("a", "n_" + "0" * 80)


def test_declared_limits() -> None:
    telegram = channel("https://api.telegram.org")
    assert (telegram.name, telegram.provider) == ("telegram", "telegram")
    assert telegram.resend_is_harmless is False
    assert telegram.limits.overall == Rate(30, 1)
    assert telegram.limits.per_recipient == Rate(1, 1)
    assert telegram.limits.per_group == Rate(20, 60)
    assert telegram.limits.is_group is not None
    assert telegram.limits.is_group("-1001234")
    assert not telegram.limits.is_group("4242")
    assert telegram.recipient(outgoing("-100")) == "-100"
    assert telegram.recipient(outgoing(None)) is None
