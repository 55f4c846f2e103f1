"""Channels: one module per provider behind the interface in base.py.

`configured(settings)` builds the channels the settings name: email (SMTP, Mailgun or
SendGrid) with an `[email]` section, Telegram with `[telegram]`, webhooks with `[webhook]`.
In-app needs no channel: a due in-app delivery is the nudge appearing in the inbox.
"""

from __future__ import annotations

from nudgeflow.channels.base import Channel
from nudgeflow.config import Settings


def configured(settings: Settings) -> list[Channel]:
    found: list[Channel] = []
    if settings.email is not None:
        from nudgeflow.channels.email import email_channel

        found.append(email_channel(settings.email))
    if settings.telegram is not None:
        from nudgeflow.channels.telegram import TelegramChannel

        found.append(TelegramChannel(settings.telegram))
    if settings.webhook is not None:
        from nudgeflow.channels.webhook import WebhookChannel

        found.append(WebhookChannel(settings.webhook))
    return found
