"""The `telegram_chats` table: which user a chat is, and the bot's conversation state with it.

Every lookup is by primary key (the chat) or by the unique user id, so the bot's cost per
update does not grow with users. Only rows here: keeping `users.addresses.telegram` in step
is the caller's (`store.facts.link_telegram`), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nudgeflow.store.schema import telegram_chats as chats

CHUNK = 5000  # ids per IN list


@dataclass(frozen=True)
class Chat:
    chat_id: str
    user_id: str
    timezone_confirmed: bool | None
    pending: list[dict[str, Any]]


def find(conn: sa.Connection, chat_id: str) -> Chat | None:
    row = conn.execute(sa.select(chats).where(chats.c.chat_id == chat_id)).first()
    if row is None:
        return None
    pending = row.pending if isinstance(row.pending, list) else []
    return Chat(row.chat_id, row.user_id, row.timezone_confirmed, pending)


def of_users(conn: sa.Connection, user_ids: Iterable[str]) -> dict[str, str]:
    """user id → chat id, for the users that have a chat."""
    found: dict[str, str] = {}
    for chunk in _chunks(list(user_ids)):
        query = sa.select(chats.c.user_id, chats.c.chat_id).where(chats.c.user_id.in_(chunk))
        found.update(conn.execute(query).tuples().all())
    return found


def touching(
    conn: sa.Connection, chat_ids: Collection[str], user_ids: Collection[str]
) -> dict[str, str]:
    """chat id → user id of every row that holds one of the chats or one of the users."""
    query = sa.select(chats.c.chat_id, chats.c.user_id).where(
        chats.c.chat_id.in_(list(chat_ids)) | chats.c.user_id.in_(list(user_ids))
    )
    return dict(conn.execute(query).tuples().all())


def replace(conn: sa.Connection, pairs: Sequence[tuple[str, str]], now: datetime) -> None:
    """Each (chat, user) becomes a fresh row: whatever held the chat or the user goes first."""
    if not pairs:
        return
    chat_ids, user_ids = [c for c, _ in pairs], [u for _, u in pairs]
    conn.execute(
        sa.delete(chats).where(chats.c.chat_id.in_(chat_ids) | chats.c.user_id.in_(user_ids))
    )
    rows: list[dict[str, Any]] = [{"chat_id": c, "user_id": u, "linked_at": now, "timezone_confirmed": None,
             "pending": []} for c, u in pairs]  # fmt: skip
    conn.execute(sa.insert(chats), rows)


def drop(conn: sa.Connection, user_ids: Iterable[str]) -> None:
    for chunk in _chunks(list(user_ids)):
        conn.execute(sa.delete(chats).where(chats.c.user_id.in_(chunk)))


def set_state(
    conn: sa.Connection,
    chat_id: str,
    *,
    timezone_confirmed: bool | None = None,
    pending: list[dict[str, Any]] | None = None,
) -> None:
    """Change what is given of the bot's state with the chat."""
    values: dict[str, Any] = {}
    if timezone_confirmed is not None:
        values["timezone_confirmed"] = timezone_confirmed
    if pending is not None:
        values["pending"] = pending
    if values:
        conn.execute(sa.update(chats).where(chats.c.chat_id == chat_id).values(**values))


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
