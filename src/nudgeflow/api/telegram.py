"""Telegram's updates, posted by Telegram once `nudgeflow telegram --webhook URL` registered
this route: messages and button presses, handed to the bot's conversation (nudgeflow.bot).

Telegram sends the secret we registered (setWebhook's secret_token) in
X-Telegram-Bot-Api-Secret-Token. The first reply goes back as the answer, in Telegram's
"reply with a method" form, which saves a request; any further ones (the buttons removed from
a pressed message) are sent after the answer. A failure in one update is logged and answered
200, as polling skips it: Telegram would otherwise retry it, and hold up the updates behind.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from nudgeflow.bot.conversation import Conversation
from nudgeflow.bot.runner import send_replies
from nudgeflow.engine import Engine
from nudgeflow.errors import Forbidden, Unauthorized

router = APIRouter(include_in_schema=False)


@router.post("/v1/telegram/updates")
async def updates(
    request: Request,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> JSONResponse:
    engine: Engine = request.app.state.engine
    _check_secret(engine, secret)
    update: Any = await request.json()
    if not isinstance(update, dict):
        return JSONResponse({})
    replies = await run_in_threadpool(Conversation(engine).handle, update)
    if not replies:
        return JSONResponse({})
    first, rest = replies[0], replies[1:]
    telegram = engine.settings.telegram
    later = BackgroundTask(send_replies, telegram, rest) if rest and telegram else None
    return JSONResponse(first.as_method(), background=later)


def _check_secret(engine: Engine, given: str | None) -> None:
    telegram = engine.settings.telegram
    expected = telegram.webhook_secret if telegram else None
    if expected is None:
        raise Forbidden("Telegram updates are off: set telegram.webhook_secret")
    if given is None or not hmac.compare_digest(given, expected.get_secret_value()):
        raise Unauthorized("wrong X-Telegram-Bot-Api-Secret-Token")
