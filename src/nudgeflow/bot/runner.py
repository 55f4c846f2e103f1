"""The bot on the wire, with python-telegram-bot's `Bot` (no Application: the conversation is
ours, and the engine is synchronous):

- `poll(stop)`: deleteWebhook, then getUpdates in a loop with the offset past the last update
  handled, until `stop` is set; the long poll in flight is cancelled, and a last getUpdates
  confirms what was handled so a restart does not see it again. A failed getUpdates is
  retried after a growing pause; a failure in one update is logged and the next one follows.
- `set_webhook(url)`: Telegram posts updates to `url` (the route in api/telegram.py) with our
  secret in X-Telegram-Bot-Api-Secret-Token.
- `send_replies`: what the webhook route could not put in its answer.
"""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.request import HTTPXRequest
from telegram.warnings import PTBUserWarning

from nudgeflow import providers
from nudgeflow.bot.conversation import Conversation
from nudgeflow.bot.replies import Reply, send_all
from nudgeflow.channels.telegram import redact
from nudgeflow.engine import Engine
from nudgeflow.errors import ConfigError

log = structlog.get_logger("nudgeflow.bot")
T = TypeVar("T")

ALLOWED_UPDATES = ("message", "callback_query")
POLL_SECONDS = 30  # how long Telegram holds a getUpdates open when there is nothing
MAX_PAUSE = 30.0  # seconds between getUpdates after failures, at most
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what setWebhook accepts as secret_token


@dataclass
class Client:
    """A Bot and its two connection pools: one for replies, one for the long poll, so a
    reply never waits behind a getUpdates held open."""

    bot: Bot
    pools: tuple[HTTPXRequest, HTTPXRequest]

    @classmethod
    def of(cls, settings: providers.Telegram, *, timeout: float = 10.0) -> Client:
        pools = (_pool(timeout), _pool(timeout))
        base_url = settings.base_url.rstrip("/") + "/bot"  # the Bot appends the token
        token = settings.bot_token.get_secret_value()
        return cls(Bot(token, base_url, request=pools[0], get_updates_request=pools[1]), pools)

    async def aclose(self) -> None:
        for pool in self.pools:  # closed whether or not the Bot was initialized
            await pool.shutdown()


def _pool(timeout: float) -> HTTPXRequest:
    return HTTPXRequest(connect_timeout=timeout, read_timeout=timeout,
                        write_timeout=timeout, pool_timeout=timeout)  # fmt: skip


async def send_replies(settings: providers.Telegram, replies: Sequence[Reply]) -> None:
    client = Client.of(settings)
    try:
        await send_all(client.bot, replies)
    finally:
        await client.aclose()


def webhook_secret(settings: providers.Telegram) -> str:
    """The secret Telegram will send with each update; ConfigError when missing or unusable."""
    secret = settings.webhook_secret
    if secret is None:
        raise ConfigError("telegram.webhook_secret", "required for webhook mode")
    if not SECRET_TOKEN.fullmatch(secret.get_secret_value()):
        raise ConfigError("telegram.webhook_secret", "use 1–256 of A-Z a-z 0-9 _ -")
    return secret.get_secret_value()


class TelegramBot:
    def __init__(
        self,
        engine: Engine,
        settings: providers.Telegram,
        *,
        conversation: Conversation | None = None,
        poll_seconds: int = POLL_SECONDS,
        timeout: float = 10.0,
    ) -> None:
        self.client = Client.of(settings, timeout=timeout)
        self.bot = self.client.bot
        self.settings = settings
        self.conversation = conversation or Conversation(engine)
        self.poll_seconds = poll_seconds
        self.timeout = timeout

    async def start(self) -> str:
        """getMe: the bot's username; InvalidToken when Telegram does not know the token."""
        me = await self.bot.get_me()
        return me.username or str(me.id)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def process(self, update: Update | dict[str, Any]) -> None:
        """Handle one update and send the replies; never raises."""
        try:
            replies = await asyncio.to_thread(self.conversation.handle, update)
            await send_all(self.bot, replies)
        except Exception:  # a bug here must not stop the loop: the next update may be fine
            log.exception("telegram_update_failed")

    async def set_webhook(self, url: str) -> None:
        await self.bot.set_webhook(
            url, secret_token=webhook_secret(self.settings), allowed_updates=ALLOWED_UPDATES
        )

    async def poll(self, stop: asyncio.Event) -> None:
        await self.bot.delete_webhook()  # getUpdates is refused while a webhook is set
        offset: int | None = None
        failures = 0
        while not stop.is_set():
            try:
                updates = await _unless(stop, self._get_updates(offset, self.poll_seconds))
            except TelegramError as exc:
                failures += 1
                log.warning("telegram_poll_failed", error=redact(exc.message), failures=failures)
                await _unless(stop, asyncio.sleep(min(MAX_PAUSE, 0.5 * 2**failures)))
                continue
            failures = 0
            for update in updates or ():
                offset = max(offset or 0, int(update["update_id"]) + 1)
                await self.process(update)
        await self._confirm(offset)

    async def _get_updates(self, offset: int | None, timeout: int) -> list[dict[str, Any]]:
        """The updates as Telegram sent them. PTB's typed get_updates parses the whole batch,
        so one update it cannot read would fail every poll and hold up all the others."""
        params: dict[str, Any] = {"timeout": timeout, "allowed_updates": list(ALLOWED_UPDATES)}
        if offset is not None:
            params["offset"] = offset
        with warnings.catch_warnings():  # PTB suggests its typed method: avoided on purpose
            warnings.filterwarnings("ignore", "Please use 'Bot.getUpdates'", PTBUserWarning)
            found = await self.bot.do_api_request(
                "getUpdates", api_kwargs=params, read_timeout=self.timeout + timeout
            )
        if not isinstance(found, list):
            return []
        return [u for u in found if isinstance(u, dict) and isinstance(u.get("update_id"), int)]

    async def _confirm(self, offset: int | None) -> None:
        """Telegram forgets updates below the offset of the next getUpdates: make one."""
        if offset is None:
            return
        try:
            await self._get_updates(offset, 0)
        except TelegramError as exc:
            log.warning("telegram_confirm_failed", error=redact(exc.message))


async def _unless(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None when `stop` is set first (the work is then cancelled)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None
