"""The Telegram bot: people link their chat, say their timezone, tell it about meetings, ask
for their `/schedule` and press the buttons under their nudges.

- `conversation`: one update in, the replies out (the bot's behaviour; no I/O of its own)
- `chats`: which user a chat is, linking by signed token, timezone and kept messages
- `presses`: accept / snooze / dismiss from a button, for the nudge's owner only
- `timezones`, `texts`: reading a timezone, writing for a phone (pure)
- `replies`: sendMessage, answerCallbackQuery, editMessageReplyMarkup as values
- `runner`: long polling, setWebhook, and sending replies with python-telegram-bot's Bot

`nudgeflow telegram` polls; with `--webhook URL` it registers the webhook, and
`POST /v1/telegram/updates` of `nudgeflow serve` hands each update to the same conversation.
"""

from nudgeflow.bot.conversation import Conversation
from nudgeflow.bot.runner import TelegramBot

__all__ = ["Conversation", "TelegramBot"]
