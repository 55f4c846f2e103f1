"""Telegram: one sendMessage per nudge, with buttons to act on it without leaving the chat.

Why it is built this way:

- python-telegram-bot speaks the Bot API and types its errors; only its `Bot` is used (no
  Application, no polling): presses reach us as updates posted to the API (api/telegram.py).
- The text is HTML, the title in bold, and every piece of nudge text escaped (Telegram wants
  `<`, `>` and `&` as entities outside tags). It is cut to Telegram's 4096 characters.
- Callback buttons carry `<code>:<nudge id>`: `a` accept, `d` dismiss, `s1h`/`s4h`/`s24h`/`s1w`
  snooze; at most 31 bytes of the 64 Telegram allows. `parse_callback` reads a press back.
  The data is not signed: it only names a nudge, and the API acts only for the nudge's owner.
  A URL button opens the nudge's action URL when it is an absolute http(s) URL.
- The Bot API takes no idempotency key, so a doubtful attempt is not harmless to resend.
- One HTTP client per event loop (its connections belong to the loop that opened them); the
  pool holds `limits.concurrency` connections, as many as the dispatcher sends at once.
- The bot token is part of every request's path. httpx logs request URLs at INFO, so a filter
  masks the token in httpx's and the Bot's records, and in our reasons.

Answers: ok Sent(message id); 429 Retry after its retry_after; 403 (bot blocked, user
deactivated, bot kicked) and 400 "chat not found" Failed(unreachable); a group that became a
supergroup Failed(unreachable), naming the new id; other 400 Failed; 401 and 404 (the token,
not this message: the dispatcher's breaker parks deliveries until it is fixed), timeouts,
network errors and 5xx Retry.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from nudgeflow import providers
from nudgeflow.channels.base import Failed, Limits, Outgoing, Result, Retry, Sent
from nudgeflow.lifecycle import Action
from nudgeflow.resilience import Rate

MAX_TEXT = 4096  # Telegram's limit on a message's visible text (counted in UTF-16 units here)
MAX_LABEL = 64  # characters of a URL button's label
MAX_CALLBACK = 64  # bytes of callback_data Telegram accepts
MAX_RETRY_AFTER = 86_400.0  # Telegram cannot park a delivery for more than a day
MAX_REASON = 300  # characters of Telegram's description kept in a reason
DEFAULT_ACTION = "Open"
GONE = ("chat not found", "peer_id_invalid")  # 400 descriptions meaning the chat is no more

NUDGE_ID = re.compile(r"n_[0-9a-z]{24}")  # ids.new_id("n")
CHAT_ID = re.compile(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31}")  # a number, or @channel
_TOKEN_PATH = re.compile(r"/bot[0-9]+:[A-Za-z0-9_-]+")


class Press(NamedTuple):
    """What a callback button asks for: the action, its nudge, and how long for a snooze."""

    action: Action
    nudge_id: str
    snooze_for: str | None  # a key of lifecycle.SNOOZE_CHOICES


# code in callback_data → what a press means, in the keyboard's order, with its label
CODES: dict[str, tuple[str, Action, str | None]] = {
    "a": ("Accept", "accept", None),
    "d": ("Dismiss", "dismiss", None),
    "s1h": ("Snooze 1h", "snooze", "1h"),
    "s4h": ("Snooze 4h", "snooze", "4h"),
    "s24h": ("Snooze 24h", "snooze", "24h"),
    "s1w": ("Snooze 1 week", "snooze", "1w"),
}
ROWS = (("a", "d"), ("s1h", "s4h"), ("s24h", "s1w"))


def callback_data(code: str, nudge_id: str) -> str:
    """The data of one button: `<code>:<nudge id>`; ValueError for an unknown code or id."""
    if code not in CODES or not NUDGE_ID.fullmatch(nudge_id):
        raise ValueError(f"no Telegram button for {code!r} on nudge {nudge_id!r}")
    return f"{code}:{nudge_id}"


def is_group_chat(chat_id: str) -> bool:
    """Groups, supergroups and channels have negative ids; a person's chat is positive."""
    return chat_id.startswith("-")


def parse_callback(data: str) -> Press:
    """What a pressed button asks for; ValueError for data our buttons never carry."""
    code, _, nudge_id = data.partition(":")
    if code not in CODES or not NUDGE_ID.fullmatch(nudge_id):
        raise ValueError(f"not a nudgeflow button: {data[:MAX_CALLBACK]!r}")
    _, action, snooze_for = CODES[code]
    return Press(action, nudge_id, snooze_for)


def message_text(nudge: dict[str, Any]) -> str:
    """The HTML text: the title in bold on one line, a blank line, the body; all escaped."""
    title = _clip(" ".join(str(nudge.get("title") or "").split()), MAX_TEXT)
    body = str(nudge.get("body") or "").strip()
    body = _clip(body, MAX_TEXT - _units(title) - 2) if title else _clip(body, MAX_TEXT)
    parts = [f"<b>{_escape(title)}</b>" if title else "", _escape(body)]
    return "\n\n".join(part for part in parts if part)


def keyboard(nudge: dict[str, Any]) -> InlineKeyboardMarkup:
    """The action URL (when there is a safe one), then Accept/Dismiss, then four snoozes."""
    nudge_id = str(nudge.get("id"))
    rows = [[_button(code, nudge_id) for code in row] for row in ROWS]
    url = action_url(nudge.get("action_url"))
    if url is not None:
        label = " ".join(str(nudge.get("action_label") or DEFAULT_ACTION).split())
        rows.insert(0, [InlineKeyboardButton(label[:MAX_LABEL] or DEFAULT_ACTION, url=url)])
    return InlineKeyboardMarkup(rows)


def _button(code: str, nudge_id: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(CODES[code][0], callback_data=callback_data(code, nudge_id))


def action_url(value: Any) -> str | None:
    """`value` if it is an absolute http(s) URL with a host and no spaces, else None."""
    if not isinstance(value, str) or any(c.isspace() or not c.isprintable() for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.hostname else None


def redact(text: str) -> str:
    """`text` with any bot token in a Bot API path masked."""
    return _TOKEN_PATH.sub("/bot<token>", text)


class _Redacting(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _TOKEN_PATH.search(message):
            record.msg, record.args = redact(message), None
        return True


_REDACTING = _Redacting()
for _logger in ("httpx", "telegram.Bot"):
    logging.getLogger(_logger).addFilter(_REDACTING)


@dataclass
class _Client:
    """The Bot and its HTTP pool, bound to one event loop."""

    loop: asyncio.AbstractEventLoop
    bot: Bot
    request: HTTPXRequest


class TelegramChannel:
    name = "telegram"
    provider = "telegram"
    resend_is_harmless = False  # sendMessage takes no idempotency key
    # Telegram: about 30 messages/s overall, 1/s per chat, 20/min in a group (negative chat ids)
    limits = Limits(
        overall=Rate(30, 1),
        per_recipient=Rate(1, 1),
        per_group=Rate(20, 60),
        is_group=is_group_chat,
    )

    def __init__(self, settings: providers.Telegram, *, timeout: float = 10.0) -> None:
        self._token = settings.bot_token.get_secret_value()
        if not self._token:
            raise ValueError("telegram.bot_token is empty")
        self._base_url = settings.base_url.rstrip("/") + "/bot"  # the Bot appends the token
        self._timeout = timeout  # seconds to connect, to write, and for an answer
        self._client: _Client | None = None

    def recipient(self, message: Outgoing) -> str | None:
        chat = message.address.get("telegram")
        return str(chat) if chat not in (None, "") else None

    async def send(self, message: Outgoing) -> Result:
        chat = _chat_id(self.recipient(message))
        if isinstance(chat, Failed):
            return chat
        text = message_text(message.nudge)
        if not text:
            return Failed(f"nudge {message.nudge.get('id')} has no text to send")
        try:
            markup = keyboard(message.nudge)
        except ValueError as exc:
            return Failed(str(exc))
        bot = await self._bot()
        try:
            sent = await bot.send_message(
                chat, text, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        except TelegramError as exc:
            return _result(exc)
        return Sent(str(sent.message_id))

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if client.loop is asyncio.get_running_loop():
            await client.request.shutdown()
        # else its loop is gone, and its sockets cannot be closed from this one: drop it

    async def _bot(self) -> Bot:
        """The Bot of the running loop, made on first use; a new loop gets a new one."""
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client.loop is not loop:
            await self.aclose()
        if self._client is None:
            request = HTTPXRequest(
                connection_pool_size=self.limits.concurrency,
                connect_timeout=self._timeout,
                read_timeout=self._timeout,
                write_timeout=self._timeout,
                pool_timeout=self._timeout,
            )
            bot = Bot(self._token, self._base_url, request=request, get_updates_request=request)
            self._client = _Client(loop, bot, request)
        return self._client.bot


def _chat_id(address: str | None) -> int | str | Failed:
    if address is None:
        return Failed("the user has no Telegram chat")
    if not CHAT_ID.fullmatch(address):
        return Failed(f"{address[:40]!r} is not a Telegram chat id")
    return address if address.startswith("@") else int(address)


def _result(exc: TelegramError) -> Result:
    why = f"Telegram: {redact(exc.message)}"[:MAX_REASON]
    if isinstance(exc, RetryAfter):
        return Retry(why, _retry_after(exc))
    if isinstance(exc, ChatMigrated):
        return Failed(f"Telegram: the group is now supergroup {exc.new_chat_id}", unreachable=True)
    if isinstance(exc, Forbidden):
        return Failed(why, unreachable=True)
    if isinstance(exc, BadRequest):  # before NetworkError, its base class
        return Failed(why, unreachable=any(gone in exc.message.lower() for gone in GONE))
    if isinstance(exc, InvalidToken):
        return Retry(f"Telegram refused the bot token: {redact(exc.message)}"[:MAX_REASON])
    return Retry(why)  # TimedOut, NetworkError (5xx, connection), an unreadable answer


def _retry_after(exc: RetryAfter) -> float:
    """Telegram's wait in seconds, within [0, a day]."""
    with warnings.catch_warnings():  # an int until PTB_TIMEDELTA, with a warning saying so
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _clip(text: str, limit: int) -> str:
    """`text` within `limit` UTF-16 units, cut with an ellipsis (never inside a surrogate pair)."""
    encoded = text.encode("utf-16-le")
    if len(encoded) <= 2 * limit:
        return text
    if limit < 1:
        return ""
    return encoded[: 2 * (limit - 1)].decode("utf-16-le", "ignore") + "…"


def _escape(text: str) -> str:
    return html.escape(text, quote=False)
