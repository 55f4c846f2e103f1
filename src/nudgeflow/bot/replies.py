"""What the bot says back, as values: the conversation decides them without I/O, and the
runner sends them with python-telegram-bot's `Bot` (polling), or the webhook route returns
the first as its answer (Telegram's "reply with a method": one request saved) and sends the
rest. Every text is HTML whose user-given parts were escaped where the text was made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import TelegramError

from nudgeflow.channels.telegram import redact

log = structlog.get_logger("nudgeflow.bot")


@dataclass(frozen=True)
class Say:
    """sendMessage: a text in the chat."""

    chat_id: int
    text: str

    def as_method(self) -> dict[str, Any]:
        return {"method": "sendMessage", "chat_id": self.chat_id, "text": self.text,
                "parse_mode": "HTML"}  # fmt: skip

    async def send(self, bot: Bot) -> None:
        await bot.send_message(self.chat_id, self.text, parse_mode=ParseMode.HTML)


@dataclass(frozen=True)
class Answer:
    """answerCallbackQuery: the small notice a button press gets (it stops the spinner)."""

    callback_query_id: str
    text: str

    def as_method(self) -> dict[str, Any]:
        return {"method": "answerCallbackQuery", "callback_query_id": self.callback_query_id,
                "text": self.text}  # fmt: skip

    async def send(self, bot: Bot) -> None:
        await bot.answer_callback_query(self.callback_query_id, self.text)


@dataclass(frozen=True)
class RemoveButtons:
    """editMessageReplyMarkup without a markup: the pressed message loses its buttons."""

    chat_id: int
    message_id: int

    def as_method(self) -> dict[str, Any]:
        return {"method": "editMessageReplyMarkup", "chat_id": self.chat_id,
                "message_id": self.message_id}  # fmt: skip

    async def send(self, bot: Bot) -> None:
        await bot.edit_message_reply_markup(self.chat_id, self.message_id)


Reply = Say | Answer | RemoveButtons


async def send_all(bot: Bot, replies: Sequence[Reply]) -> None:
    """Send each reply in order; one that Telegram refuses is logged and the rest still go."""
    for reply in replies:
        try:
            await reply.send(bot)
        except TelegramError as exc:
            log.warning("telegram_reply_failed", method=reply.as_method()["method"],
                        error=redact(exc.message))  # fmt: skip
