"""Telegram's updates: a user pressed Accept, Snooze or Dismiss under a nudge in the chat.

Telegram POSTs each update here with the secret we registered (setWebhook's secret_token) in
X-Telegram-Bot-Api-Secret-Token. A press acts only on the presser's own nudge: the nudge's
user must have the presser's Telegram id as their address. The answer is Telegram's own
"reply with a method" form, so the press is acknowledged without a second request.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nudgeflow.channels.telegram import parse_callback
from nudgeflow.engine import Engine
from nudgeflow.errors import Forbidden, NudgeflowError, Unauthorized

router = APIRouter(include_in_schema=False)

ANSWERS = {"accepted": "Done ✓", "snoozed": "Snoozed — it will come back", "dismissed": "Dismissed"}


@router.post("/v1/telegram/updates")
async def updates(
    request: Request,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> JSONResponse:
    engine: Engine = request.app.state.engine
    _check_secret(engine, secret)
    update: dict[str, Any] = await request.json()
    press = update.get("callback_query")
    if not isinstance(press, dict):
        return JSONResponse({})  # messages and other updates: nothing to do yet
    text = await run_in_threadpool(_act, engine, press)
    return JSONResponse(
        {"method": "answerCallbackQuery", "callback_query_id": str(press.get("id")), "text": text}
    )


def _check_secret(engine: Engine, given: str | None) -> None:
    telegram = engine.settings.telegram
    expected = telegram.webhook_secret if telegram else None
    if expected is None:
        raise Forbidden("Telegram updates are off: set telegram.webhook_secret")
    if given is None or not hmac.compare_digest(given, expected.get_secret_value()):
        raise Unauthorized("wrong X-Telegram-Bot-Api-Secret-Token")


def _act(engine: Engine, press: dict[str, Any]) -> str:
    """Do what the button says, if the presser owns the nudge; the text Telegram shows."""
    try:
        action, nudge_id, snooze_for = parse_callback(str(press.get("data", "")))
    except ValueError:
        return "This button is not ours."
    presser = str((press.get("from") or {}).get("id", ""))
    try:
        nudge = engine.nudge(nudge_id)
        owner = nudge["user_id"]
        if str(engine.user(owner).addresses.get("telegram")) != presser:
            return "This is not yours."
        if action == "snooze":
            done = engine.snooze(nudge_id, snooze_for or "24h", user_id=owner)
        elif action == "accept":
            done = engine.accept(nudge_id, user_id=owner)
        else:
            done = engine.dismiss(nudge_id, user_id=owner)
    except NudgeflowError as exc:
        return str(exc)[:200]
    status = str(done["status"])
    return ANSWERS.get(status, status)
