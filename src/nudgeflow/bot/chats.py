"""Who a Telegram chat is. A chat belongs to the user whose `addresses.telegram` is its id:
the host app's user once a signed `/start` token linked it, else a user the bot made for it
(`tg-<chat id>`). Also the user's timezone, and the messages kept until it is known.

A timezone is known when the trait `timezone_confirmed` says so, or — for a user the host app
made, who never said either way — when it is anything but the default UTC. `/timezone` sets the
trait false to ask again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nudgeflow.engine import Engine
from nudgeflow.errors import Unauthorized
from nudgeflow.localtime import zone
from nudgeflow.rules import User
from nudgeflow.store.schema import users

PURPOSE = "telegram"  # of link tokens (read_link) that may link a chat
CONFIRMED = "timezone_confirmed"
PENDING = "telegram_pending"  # messages said before the timezone was known
MAX_PENDING = 3


def bot_user_id(chat_id: int) -> str:
    return f"tg-{chat_id}"


def timezone_known(user: User) -> bool:
    confirmed = user.traits.get(CONFIRMED)
    return bool(confirmed) if confirmed is not None else user.timezone.key != "UTC"


class Chats:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def find(self, chat_id: int) -> User | None:
        """The user this chat belongs to (the last updated, should two claim it)."""
        found = self._claimants(chat_id)
        return self.engine.user(found[0]) if found else None

    def create(self, chat_id: int) -> User:
        """The chat's own user, asked for a timezone; one the bot made before is reused."""
        user_id = bot_user_id(chat_id)
        if user_id in self._ids_present([user_id]):
            return self._rewrite(self.engine.user(user_id), addresses={"telegram": str(chat_id)})
        self.engine.upsert_user({
            "id": user_id, "traits": {"source": "telegram", CONFIRMED: False},
            "addresses": {"telegram": str(chat_id)}, "preferences": {"channels": ["telegram"]},
        })  # fmt: skip
        return self.engine.user(user_id)

    def link(self, chat_id: int, token: str) -> User:
        """The token's user, now owner of this chat (no other user keeps it), with Telegram
        among their channels. Unauthorized for a forged or expired token, NotFound when the
        user is gone."""
        user = self.engine.user(self._read(token))
        for other in self._claimants(chat_id):
            if other != user.id:
                old = self.engine.user(other)
                self._rewrite(old, addresses={k: v for k, v in old.addresses.items()
                                              if k != "telegram"})  # fmt: skip
        linked = self._rewrite(user, addresses={**user.addresses, "telegram": str(chat_id)})
        prefs = self.engine.preferences(user.id)
        if "telegram" not in prefs.channels:
            self.engine.set_preferences(
                user.id, prefs.model_copy(update={"channels": (*prefs.channels, "telegram")})
            )
        return linked

    def _read(self, token: str) -> str:
        """The user a token names: a compact deep-link token, or a link token (too long for a
        deep link, but a host app may hand it out to paste after /start)."""
        if "." not in token:
            return self.engine.credentials.read_start_token(token)
        user_id, purpose, _ = self.engine.credentials.read_link(token)
        if purpose != PURPOSE:
            raise Unauthorized("this link is not for Telegram")
        return user_id

    def set_timezone(self, user: User, name: str) -> User:
        traits = {k: v for k, v in user.traits.items() if k != PENDING}
        return self._rewrite(user, timezone=name, traits={**traits, CONFIRMED: True})

    def forget_timezone(self, user: User) -> User:
        return self._rewrite(user, traits={**user.traits, CONFIRMED: False})

    def keep(self, user: User, message: dict[str, Any]) -> User:
        """Keep a message said before the timezone was known (the latest few)."""
        kept = [*self.pending(user), {**message, "at": message["at"].isoformat()}]
        return self._rewrite(user, traits={**user.traits, PENDING: kept[-MAX_PENDING:]})

    @staticmethod
    def pending(user: User) -> list[dict[str, Any]]:
        kept = user.traits.get(PENDING)
        return [dict(m) for m in kept if isinstance(m, dict)] if isinstance(kept, list) else []

    @staticmethod
    def pending_messages(user: User) -> list[dict[str, Any]]:
        """The kept messages as the agenda takes them."""
        return [{**m, "at": datetime.fromisoformat(m["at"])} for m in Chats.pending(user)]

    def _rewrite(
        self,
        user: User,
        *,
        timezone: str | None = None,
        traits: dict[str, Any] | None = None,
        addresses: dict[str, str] | None = None,
    ) -> User:
        """The user with some fields changed, written whole (an upsert replaces the row)."""
        changed = replace(
            user,
            timezone=zone(timezone) if timezone else user.timezone,
            traits=dict(user.traits) if traits is None else traits,
            addresses=dict(user.addresses) if addresses is None else addresses,
        )
        self.engine.upsert_user({
            "id": changed.id, "plan": changed.plan, "org": changed.org, "role": changed.role,
            "timezone": changed.timezone.key, "locale": changed.locale,
            "traits": dict(changed.traits), "addresses": dict(changed.addresses),
        })  # fmt: skip
        return changed

    def _claimants(self, chat_id: int) -> list[str]:
        # A scan of the JSON column, once per update: an expression index on the telegram
        # address (or a table of chats) would make it a lookup among millions of users.
        query = (
            sa.select(users.c.id)
            .where(users.c.addresses["telegram"].as_string() == str(chat_id))
            .order_by(users.c.updated_at.desc())
        )
        with self.engine.db.connect() as conn:
            return [row.id for row in conn.execute(query)]

    def _ids_present(self, user_ids: list[str]) -> set[str]:
        with self.engine.db.connect() as conn:
            rows = conn.execute(sa.select(users.c.id).where(users.c.id.in_(user_ids)))
            return {row.id for row in rows}
