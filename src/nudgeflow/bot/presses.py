"""A press on a nudge's button: accept, snooze or dismiss, on the presser's own nudge only —
the presser's chat must be linked to the nudge's user. The press is answered
(Telegram shows the text and stops the spinner) and, once it took effect, the pressed message
loses its buttons: the answer said what happened, and a snoozed nudge comes back as a new
message with buttons of its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nudgeflow.bot.chats import Chats
from nudgeflow.bot.replies import Answer, RemoveButtons, Reply
from nudgeflow.channels.telegram import parse_callback
from nudgeflow.engine import Engine
from nudgeflow.errors import NudgeflowError

ANSWERS = {"accepted": "Done ✓", "snoozed": "Snoozed — it will come back", "dismissed": "Dismissed"}
MAX_ANSWER = 200  # Telegram shows at most 200 characters of an answer


def answer_press(engine: Engine, press: Mapping[str, Any]) -> list[Reply]:
    text, acted = act(engine, press)
    replies: list[Reply] = [Answer(str(press.get("id")), text)]
    message = press.get("message")
    if acted and isinstance(message, dict):
        chat = (message.get("chat") or {}).get("id")
        if isinstance(chat, int) and isinstance(message.get("message_id"), int):
            replies.append(RemoveButtons(chat, message["message_id"]))
    return replies


def act(engine: Engine, press: Mapping[str, Any]) -> tuple[str, bool]:
    """Do what the button says if the presser owns the nudge: the text Telegram shows, and
    whether the nudge is now in the state the button asked for."""
    try:
        action, nudge_id, snooze_for = parse_callback(str(press.get("data", "")))
    except ValueError:
        return "This button is not ours.", False
    presser = str((press.get("from") or {}).get("id", ""))
    try:
        owner = engine.nudge(nudge_id)["user_id"]
        if Chats(engine).owner(presser) != owner:
            return "This is not yours.", False
        if action == "snooze":
            done = engine.snooze(nudge_id, snooze_for or "24h", user_id=owner)
        elif action == "accept":
            done = engine.accept(nudge_id, user_id=owner)
        else:
            done = engine.dismiss(nudge_id, user_id=owner)
    except NudgeflowError as exc:
        return str(exc)[:MAX_ANSWER], False
    status = str(done["status"])
    return ANSWERS.get(status, status), status in ANSWERS
