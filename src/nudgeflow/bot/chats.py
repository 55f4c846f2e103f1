"""Who a Telegram chat is: the host app's user once a signed `/start` token linked it, else a
user the bot made for it (`tg-<chat id>`). A lookup by primary key in `telegram_chats`, which
also keeps the bot's state with the chat: whether the user named their timezone, and the
messages said before it was known.

A timezone is known once the user named it, or — for a user the host app made, who never said
either way — when it is anything but the default UTC. `/timezone` asks again.

The bot writes only what it changes (the link, the timezone, its own state), never the whole
user: what the host app sent stays as it sent it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nudgeflow.engine import Engine
from nudgeflow.errors import NotFound, Unauthorized
from nudgeflow.rules import User
from nudgeflow.store import chats as chat_store
from nudgeflow.store import database
from nudgeflow.store import facts as fact_store

PURPOSE = "telegram"  # of link tokens (read_link) that may link a chat
MAX_PENDING = 3


def bot_user_id(chat_id: int) -> str:
    return f"tg-{chat_id}"


@dataclass(frozen=True)
class Chat:
    id: int
    user: User
    timezone_confirmed: bool | None  # None: never asked
    pending: tuple[dict[str, Any], ...] = ()  # kept messages, "at" as ISO text

    @property
    def timezone_known(self) -> bool:
        if self.timezone_confirmed is not None:
            return self.timezone_confirmed
        return self.user.timezone.key != "UTC"

    def pending_messages(self) -> list[dict[str, Any]]:
        """The kept messages as the agenda takes them."""
        return [{**m, "at": datetime.fromisoformat(m["at"])} for m in self.pending]


class Chats:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def owner(self, chat_id: int | str) -> str | None:
        """The id of the user this chat belongs to."""
        with self.engine.db.connect() as conn:
            found = chat_store.find(conn, str(chat_id))
        return found.user_id if found else None

    def find(self, chat_id: int) -> Chat | None:
        with self.engine.db.connect() as conn:
            found = chat_store.find(conn, str(chat_id))
        if found is None:
            return None
        pending = tuple(m for m in found.pending if isinstance(m, dict))
        return Chat(chat_id, self.engine.user(found.user_id), found.timezone_confirmed, pending)

    def create(self, chat_id: int) -> Chat:
        """The chat's own user, to be asked for a timezone; one the bot made before is reused."""
        user_id = bot_user_id(chat_id)
        with database.writer(self.engine.db).begin() as conn:
            exists = not fact_store.missing_users(conn, [user_id])
            if exists:
                fact_store.link_telegram(conn, [(str(chat_id), user_id)], self.engine.clock.now())
        if not exists:
            self.engine.upsert_user({
                "id": user_id, "traits": {"source": "telegram"},
                "addresses": {"telegram": str(chat_id)}, "preferences": {"channels": ["telegram"]},
            })  # fmt: skip
        return self._found(chat_id)

    def link(self, chat_id: int, token: str) -> Chat:
        """The token's user, now owner of this chat (no other user keeps it), with Telegram
        among their channels. Unauthorized for a forged or expired token, NotFound when the
        user is gone."""
        user = self.engine.user(self._read(token))
        with database.writer(self.engine.db).begin() as conn:
            fact_store.link_telegram(conn, [(str(chat_id), user.id)], self.engine.clock.now())
        prefs = self.engine.preferences(user.id)
        if "telegram" not in prefs.channels:
            self.engine.set_preferences(
                user.id, prefs.model_copy(update={"channels": (*prefs.channels, "telegram")})
            )
        return self._found(chat_id)

    def _read(self, token: str) -> str:
        """The user a token names: a compact deep-link token, or a link token (too long for a
        deep link, but a host app may hand it out to paste after /start)."""
        if "." not in token:
            return self.engine.credentials.read_start_token(token)
        user_id, purpose, _ = self.engine.credentials.read_link(token)
        if purpose != PURPOSE:
            raise Unauthorized("this link is not for Telegram")
        return user_id

    def set_timezone(self, chat: Chat, name: str) -> Chat:
        """The timezone the user named: theirs from now on, and nothing kept any more."""
        with database.writer(self.engine.db).begin() as conn:
            fact_store.set_timezone(conn, chat.user.id, name, self.engine.clock.now())
            chat_store.set_state(conn, str(chat.id), timezone_confirmed=True, pending=[])
        return self._found(chat.id)

    def forget_timezone(self, chat: Chat) -> Chat:
        return self._state(chat, timezone_confirmed=False)

    def keep(self, chat: Chat, message: dict[str, Any]) -> Chat:
        """Keep a message said before the timezone was known (the latest few)."""
        kept = [*chat.pending, {**message, "at": message["at"].isoformat()}]
        return self._state(chat, pending=kept[-MAX_PENDING:])

    def _state(self, chat: Chat, **state: Any) -> Chat:
        with database.writer(self.engine.db).begin() as conn:
            chat_store.set_state(conn, str(chat.id), **state)
        return self._found(chat.id)

    def _found(self, chat_id: int) -> Chat:
        found = self.find(chat_id)
        if found is None:  # the host app deleted the user in between
            raise NotFound("telegram chat", str(chat_id))
        return found
