"""`nudgeflow telegram`: the bot. Long polling until SIGINT or SIGTERM (the update in hand is
finished first), or, with `--webhook URL`, register the webhook and exit: Telegram then posts
updates to `nudgeflow serve`. Reminders go out through the engine's loops (`serve` or
`worker`), not through this command."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import click
import structlog
from telegram.error import InvalidToken, TelegramError

from nudgeflow import providers
from nudgeflow.bot.runner import TelegramBot, webhook_secret
from nudgeflow.channels.telegram import redact
from nudgeflow.cli import _engine, friendly
from nudgeflow.engine import Engine
from nudgeflow.errors import ConfigError

log = structlog.get_logger("nudgeflow.bot")


@click.command("telegram")
@click.option(
    "--webhook",
    metavar="URL",
    help="Have Telegram post updates to URL (https://host/v1/telegram/updates) and exit.",
)
@click.option(
    "--log-format", type=click.Choice(["json", "console"]), default="json", show_default=True
)
@friendly
def telegram_command(webhook: str | None, log_format: str) -> None:
    """The Telegram bot: long polling, or register a webhook for `nudgeflow serve`."""
    from nudgeflow import service

    service.configure_logging(log_format == "json")
    engine = _engine()
    settings = _settings(engine)
    if webhook is not None:
        _check_url(webhook)
        webhook_secret(settings)  # before asking Telegram anything
        asyncio.run(_talk(engine, settings, lambda bot: bot.set_webhook(webhook)))
        click.echo(f"Telegram now posts updates to {webhook}")
        return
    asyncio.run(_talk(engine, settings, _poll_until_signalled))


def _settings(engine: Engine) -> providers.Telegram:
    if engine.settings.telegram is None:
        raise ConfigError("telegram", "set telegram.bot_token (NUDGEFLOW_TELEGRAM__BOT_TOKEN)")
    return engine.settings.telegram


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise click.BadParameter("Telegram posts only to https:// URLs", param_hint="--webhook")


async def _talk(
    engine: Engine, settings: providers.Telegram, work: Callable[[TelegramBot], Awaitable[None]]
) -> None:
    """getMe (a wrong token is a clear error, not a loop of failures), then `work(bot)`."""
    bot = TelegramBot(engine, settings)
    try:
        name = await bot.start()
        log.info("telegram_bot", username=name)
        _check_username(settings, name)
        await work(bot)
    except InvalidToken:
        raise ConfigError("telegram.bot_token", "Telegram does not know this token") from None
    except TelegramError as exc:
        raise click.ClickException(f"Telegram: {redact(exc.message)}") from None
    finally:
        await bot.aclose()


def _check_username(settings: providers.Telegram, name: str) -> None:
    """The deep links the API hands out name telegram.bot_username: it must be this bot."""
    configured = settings.bot_username
    if configured is not None and configured.lower() != name.lower():
        raise ConfigError(
            "telegram.bot_username", f"{configured!r} is not this bot: the token is @{name}'s"
        )


async def _poll_until_signalled(bot: TelegramBot) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await bot.poll(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
