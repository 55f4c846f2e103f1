"""The bot's side of a chat: one update in, the replies out (values; the runner or the webhook
route sends them). Synchronous, since all it does is engine calls; callers run it in a thread.

- `/start <token>` links the chat to the host app's user the signed token names; `/start`
  alone, or any first message from an unknown chat, makes a user for the chat.
- Until the user's timezone is known, a message is read as a timezone; anything else is kept
  (and noted once the timezone is known) and the question asked again.
- Every other text goes to the agenda; the reply says what changed in the schedule, and
  nothing when nothing did (the agenda's reminders and questions come as nudges).
- `/schedule`, `/timezone`, `/stop`, `/help`; button presses act on the presser's nudges.
- Only private chats: in a group, whose meetings would they be?
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from telegram import Update

from nudgeflow.bot import texts
from nudgeflow.bot.chats import Chat, Chats
from nudgeflow.bot.presses import answer_press
from nudgeflow.bot.replies import Reply, Say
from nudgeflow.bot.timezones import read_timezone
from nudgeflow.engine import Engine
from nudgeflow.errors import NotFound, Unauthorized
from nudgeflow.playbooks.agenda import lead_time
from nudgeflow.rules import User

log = structlog.get_logger("nudgeflow.bot")
MAX_MESSAGE = 4000  # what the agenda takes of one message
OFFSET_LIKE = re.compile(r"\s*(?:utc|gmt)?\s*[+\-−]\s*\d", re.IGNORECASE)


class AgendaLike(Protocol):
    """What the bot needs of `engine.agenda` (a stand-in in tests)."""

    def receive(self, user_id: str, message: dict[str, Any]) -> dict[str, Any]: ...
    def schedule(self, user_id: str, *, at: datetime | None = None,
                 days: int | None = None) -> list[dict[str, Any]]: ...  # fmt: skip


@dataclass(frozen=True)
class Said:
    """A text message in a private chat."""

    chat: int
    message_id: int
    text: str
    at: datetime
    command: str | None  # "start" for "/start@our_bot abc"
    argument: str  # "abc"

    @classmethod
    def of(cls, message: dict[str, Any]) -> Said | None:
        chat, text = message.get("chat"), message.get("text")
        chat = chat if isinstance(chat, dict) else {}
        chat_id, message_id = chat.get("id"), message.get("message_id")
        at = _instant(message.get("date"))
        if chat.get("type") != "private" or not isinstance(text, str) or not text.strip():
            return None
        if not isinstance(chat_id, int) or not isinstance(message_id, int) or at is None:
            return None  # not what Telegram sends; nothing to answer
        first, _, rest = text.strip().partition(" ")
        command = first[1:].split("@", 1)[0].lower() if first.startswith("/") else None
        return cls(chat_id, message_id, text.strip(), at, command, rest.strip())

    def for_agenda(self) -> dict[str, Any]:
        return {"text": self.text[:MAX_MESSAGE], "channel": "telegram",
                "id": f"tg-{self.chat}-{self.message_id}", "at": self.at}  # fmt: skip


class Conversation:
    def __init__(self, engine: Engine, *, agenda: AgendaLike | None = None) -> None:
        self.engine = engine
        self.agenda: AgendaLike = agenda if agenda is not None else engine.agenda
        self.chats = Chats(engine)
        # "I'll remind you …" with the lead of the rule that keeps the promise, if there is one
        self.lead = lead_time(engine.rules)

    def handle(self, update: Update | dict[str, Any]) -> list[Reply]:
        """The replies to one update. Never raises: a failure is logged and, where there is a
        chat to tell, apologised for."""
        data = update.to_dict() if isinstance(update, Update) else update
        try:
            return self._route(data)
        except Exception:
            log.exception("telegram_update_failed", update_id=data.get("update_id"))
            message = data.get("message")
            said = Said.of(message) if isinstance(message, dict) else None
            return [Say(said.chat, texts.SORRY)] if said is not None else []

    def _route(self, data: dict[str, Any]) -> list[Reply]:
        press, message = data.get("callback_query"), data.get("message")
        if isinstance(press, dict):
            return answer_press(self.engine, press)
        said = Said.of(message) if isinstance(message, dict) else None
        if said is None:
            return []  # edits, joins, stickers, groups: nothing for us
        if said.command == "start":
            return [Say(said.chat, self._start(said))]
        chat = self.chats.find(said.chat)
        greeting = None
        if chat is None:
            chat, greeting = self.chats.create(said.chat), texts.WELCOME
        reply = self._reply(chat, said)
        text = "\n\n".join(part for part in (greeting, reply) if part)
        return [Say(said.chat, text)] if text else []

    def _reply(self, chat: Chat, said: Said) -> str | None:
        match said.command:
            case None if not chat.timezone_known:
                return self._timezone_answer(chat, said)
            case None:
                received = self.agenda.receive(chat.user.id, said.for_agenda())
                return texts.changes(received, chat.user.timezone, self.lead)
            case "schedule":
                return self._schedule(chat.user)
            case "timezone":
                return self._timezone(chat, said)
            case "stop":
                return self._stop(chat.user)
            case _:
                return texts.HELP  # /help, and commands we do not have

    # ---- /start ---------------------------------------------------------------------------

    def _start(self, said: Said) -> str:
        if said.argument:
            return self._link(said)
        chat = self.chats.find(said.chat)
        if chat is None:
            self.chats.create(said.chat)
            return f"{texts.WELCOME}\n\n{texts.ASK_TIMEZONE}"
        self._resume(chat.user)
        return f"Welcome back!\n\n{texts.HELP}" + self._ask_if_unknown(chat)

    def _link(self, said: Said) -> str:
        try:
            chat = self.chats.link(said.chat, said.argument)
        except Unauthorized as exc:
            return texts.BAD_LINK.format(why=texts.escape(str(exc)))
        except NotFound:
            return texts.BAD_LINK.format(why="that account no longer exists")
        log.info("telegram_chat_linked", user=chat.user.id)
        self._resume(chat.user)
        if chat.timezone_known:
            zone = texts.escape(chat.user.timezone.key)
            return f"{texts.LINKED} I'll use {zone} time; /timezone changes it."
        return f"{texts.LINKED}\n\n{texts.ASK_TIMEZONE}"

    def _resume(self, user: User) -> None:
        """/start after /stop: proactive nudges are back."""
        prefs = self.engine.preferences(user.id)
        if not prefs.proactive:
            self.engine.set_preferences(user.id, prefs.model_copy(update={"proactive": True}))

    @staticmethod
    def _ask_if_unknown(chat: Chat) -> str:
        return "" if chat.timezone_known else f"\n\n{texts.ASK_TIMEZONE}"

    # ---- the timezone -----------------------------------------------------------------------

    def _timezone(self, chat: Chat, said: Said) -> str:
        """/timezone Berlin sets it; /timezone alone asks for it."""
        if said.argument:
            return self._timezone_answer(chat, said, text=said.argument)
        self.chats.forget_timezone(chat)
        now = texts.escape(chat.user.timezone.key)
        return f"Your timezone is {now}. Which one should it be? {texts.HOW_TO_SAY_A_TIMEZONE}"

    def _timezone_answer(self, chat: Chat, said: Said, text: str | None = None) -> str:
        name = read_timezone(said.text if text is None else text)
        if name is None:
            if text is not None or _looks_like_an_answer(said.text):
                return texts.NOT_A_TIMEZONE
            self.chats.keep(chat, said.for_agenda())
            return f"{texts.KEPT_FOR_LATER} {texts.ASK_TIMEZONE}"
        kept = chat.pending_messages()
        user = self.chats.set_timezone(chat, name).user
        lines = [texts.timezone_confirmed(name, self.engine.clock.now())]
        for message in kept:  # what they said before, now that we can read its times
            lines.append(texts.changes(self.agenda.receive(user.id, message), user.timezone,
                                       self.lead) or "")  # fmt: skip
        return "\n\n".join(line for line in lines if line)

    # ---- the rest ---------------------------------------------------------------------------

    def _schedule(self, user: User) -> str:
        now = self.engine.clock.now()
        return texts.schedule(self.agenda.schedule(user.id, at=now), user.timezone, now)

    def _stop(self, user: User) -> str:
        prefs = self.engine.preferences(user.id)
        self.engine.set_preferences(user.id, prefs.model_copy(update={"proactive": False}))
        return texts.STOPPED


def _looks_like_an_answer(text: str) -> bool:
    """A try at naming a timezone ("Atlantis", "UTC+25"), rather than something to note for
    later ("Team meeting 3-4 PM Friday"): a few words, with no digits but an offset's."""
    if len(text.split()) > 3:
        return False
    return not any(c.isdigit() for c in text) or OFFSET_LIKE.match(text) is not None


def _instant(value: Any) -> datetime | None:
    """A message's date: Unix seconds in Telegram's JSON, a datetime in PTB's objects."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None
