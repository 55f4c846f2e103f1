"""Writing facts. Every write marks its users due now, so the next sweep looks at them.

Two things about a user are not only the host app's: the timezone (the user may tell the
Telegram bot) and the Telegram chat (linked by the user with `/start`). An upsert that leaves
them out keeps what is stored; one that names them sets them, and `addresses.telegram: null`
unlinks the chat. Everything else the upsert replaces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nudgeflow.facts import EventIn, RecordIn, UserIn
from nudgeflow.store import chats, dialect
from nudgeflow.store.schema import events, preferences, records, users

_USER_COLUMNS = ["plan", "org", "role", "locale", "traits", "addresses", "updated_at"]


def upsert_users(conn: sa.Connection, batch: Sequence[UserIn], now: datetime) -> None:
    if not batch:
        return
    batch = list({u.id: u for u in batch}.values())  # last wins: one row may change once
    also = {"facts_version": users.c.facts_version + 1}
    for timezone_given in (True, False):
        rows = [_user_row(u, now) for u in batch if _timezone_given(u) is timezone_given]
        columns = [*_USER_COLUMNS, "next_check_at", *(["timezone"] if timezone_given else [])]
        if rows:
            conn.execute(dialect.upsert(conn, users, ["id"], columns, also), rows)
    _upsert_links(conn, batch, now)
    prefs = [u for u in batch if u.preferences is not None]
    if prefs:
        put_preferences(
            conn,
            [(u.id, u.preferences.model_dump(mode="json")) for u in prefs if u.preferences],
            now,
        )


def _user_row(user: UserIn, now: datetime) -> dict[str, Any]:
    return {
        "id": user.id,
        "plan": user.plan,
        "org": user.org,
        "role": user.role,
        "timezone": user.timezone,  # a new user's, and an existing one's when given
        "locale": user.locale,
        "traits": user.traits,
        "addresses": user.addresses.model_dump(exclude_none=True),
        "created_at": now,
        "updated_at": now,
        "next_check_at": now,
        "checked_at": now,
    }


def _timezone_given(user: UserIn) -> bool:
    return "timezone" in user.model_fields_set


def _upsert_links(conn: sa.Connection, batch: Sequence[UserIn], now: datetime) -> None:
    """The Telegram chats named in the batch become links, a null unlinks, and where the
    host said nothing the linked chat goes back into the addresses the upsert replaced. Runs
    after the upsert, which locked the rows: a concurrent link waits, then sees this one."""
    given = [u for u in batch if "telegram" in u.addresses.model_fields_set]
    named = {u.id: u.addresses.telegram for u in given if u.addresses.telegram}
    link_telegram(conn, [(chat, user) for user, chat in named.items()], now)
    unlink_telegram(conn, [u.id for u in given if u.id not in named], now)
    linked = chats.of_users(conn, [u.id for u in batch])
    # the linked chats back into the addresses, and out where a later user took the chat
    _mirror(conn, {user: linked.get(user) for user in linked.keys() | named.keys()}, now)


def link_telegram(conn: sa.Connection, pairs: Sequence[tuple[str, str]], now: datetime) -> None:
    """Each (chat, user): the chat becomes the user's only one (the last pair wins), with its
    address mirrored. A chat that changes hands starts its conversation afresh, and whoever had
    it loses the address."""
    wanted = _one_to_one(pairs)
    for start in range(0, len(wanted), chats.CHUNK // 2):
        part = dict(list(wanted.items())[start : start + chats.CHUNK // 2])
        _lock(conn, part)
        held = chats.touching(conn, part.values(), part.keys())
        moving = {user: chat for user, chat in part.items() if held.get(chat) != user}
        chats.replace(conn, [(chat, user) for user, chat in moving.items()], now)
        losers: dict[str, str | None] = {held[c]: None for c in moving.values() if c in held}
        _mirror(conn, {**losers, **moving}, now)


def _one_to_one(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """user → chat, each chat and each user once: a later pair overrides what it overlaps."""
    chat_of: dict[str, str] = {}
    user_of: dict[str, str] = {}
    for chat, user in pairs:
        user_of.pop(chat_of.pop(user, ""), None)
        chat_of.pop(user_of.pop(chat, ""), None)
        chat_of[user], user_of[chat] = chat, user
    return chat_of


def unlink_telegram(conn: sa.Connection, user_ids: Sequence[str], now: datetime) -> None:
    chats.drop(conn, user_ids)
    _mirror(conn, dict.fromkeys(user_ids), now)


def _lock(conn: sa.Connection, user_ids: Iterable[str]) -> None:
    """Lock the users' rows (PostgreSQL; SQLite has one writer): links to them queue."""
    conn.execute(sa.select(users.c.id).where(users.c.id.in_(list(user_ids))).with_for_update())


def _mirror(conn: sa.Connection, chat_of: Mapping[str, str | None], now: datetime) -> None:
    """Make `addresses.telegram` of each user the chat given (None: no chat), marking the
    users whose address changed due."""
    if not chat_of:
        return
    query = sa.select(users.c.id, users.c.addresses).where(users.c.id.in_(list(chat_of)))
    changed = []
    for user_id, addresses in conn.execute(query.with_for_update()):
        chat = chat_of[user_id]
        if addresses.get("telegram") != chat:
            rest = {k: v for k, v in addresses.items() if k != "telegram"}
            changed.append({"uid": user_id, "addresses": rest | ({"telegram": chat} if chat else {}),
                            "updated_at": now})  # fmt: skip
    if changed:
        conn.execute(sa.update(users).where(users.c.id == sa.bindparam("uid")), changed)
        mark_due(conn, [row["uid"] for row in changed], now)


def set_timezone(conn: sa.Connection, user_id: str, timezone: str, now: datetime) -> None:
    """The timezone the user told us (the bot): only that column changes."""
    conn.execute(
        sa.update(users).where(users.c.id == user_id).values(timezone=timezone, updated_at=now)
    )
    mark_due(conn, [user_id], now)


def put_preferences(
    conn: sa.Connection, items: Sequence[tuple[str, dict[str, Any]]], now: datetime
) -> None:
    rows = [{"user_id": uid, "data": data, "updated_at": now} for uid, data in items]
    conn.execute(dialect.upsert(conn, preferences, ["user_id"], ["data", "updated_at"]), rows)
    mark_due(conn, [uid for uid, _ in items], now)


def delete_user(conn: sa.Connection, user_id: str) -> bool:
    """Delete the user and, by cascade, everything they own. False when there was none."""
    return bool(conn.execute(sa.delete(users).where(users.c.id == user_id)).rowcount)


def insert_events(conn: sa.Connection, batch: Sequence[EventIn], now: datetime) -> int:
    """Store events once each; returns how many were new."""
    if not batch:
        return 0
    rows = [
        {
            "user_id": e.user_id,
            "id": e.id,
            "name": e.name,
            "at": e.at,
            "props": e.props,
            "received_at": now,
        }
        for e in batch
    ]
    # RETURNING yields only the rows inserted, so repeats of an event are not counted.
    stmt = dialect.insert_ignore(conn, events, ["user_id", "id"]).returning(events.c.id)
    stored = len(conn.execute(stmt, rows).all())
    mark_due(conn, {e.user_id for e in batch}, now)
    return stored


def put_records(conn: sa.Connection, batch: Sequence[RecordIn], now: datetime) -> None:
    if not batch:
        return
    batch = list({(r.user_id, r.kind, r.key): r for r in batch}.values())
    rows = [
        {
            "user_id": r.user_id,
            "kind": r.kind,
            "key": r.key,
            "props": r.props,
            "updated_at": r.updated_at or now,
        }
        for r in batch
    ]
    conn.execute(
        dialect.upsert(conn, records, ["user_id", "kind", "key"], ["props", "updated_at"]), rows
    )
    mark_due(conn, {r.user_id for r in batch}, now)


def records_of(conn: sa.Connection, user_id: str, kind: str) -> dict[str, dict[str, Any]]:
    """The user's records of one kind: key → props."""
    where = (records.c.user_id == user_id) & (records.c.kind == kind)
    query = sa.select(records.c.key, records.c.props).where(where)
    return dict(conn.execute(query).tuples().all())


def delete_record(conn: sa.Connection, user_id: str, kind: str, key: str, now: datetime) -> bool:
    where = (records.c.user_id == user_id) & (records.c.kind == kind) & (records.c.key == key)
    deleted = bool(conn.execute(sa.delete(records).where(where)).rowcount)
    mark_due(conn, [user_id], now)
    return deleted


def mark_due(conn: sa.Connection, user_ids: Iterable[str], now: datetime) -> None:
    ids = list(user_ids)
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        conn.execute(
            sa.update(users)
            .where(users.c.id.in_(chunk))
            .values(
                next_check_at=sa.case(
                    (users.c.next_check_at > now, sa.literal(now, users.c.next_check_at.type)),
                    else_=users.c.next_check_at,
                ),
                facts_version=users.c.facts_version + 1,
            )
        )


def missing_users(conn: sa.Connection, user_ids: Iterable[str]) -> set[str]:
    """The ids among `user_ids` that name no user."""
    wanted = set(user_ids)
    found: set[str] = set()
    ids = list(wanted)
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        found.update(conn.execute(sa.select(users.c.id).where(users.c.id.in_(chunk))).scalars())
    return wanted - found


def known_plans_in_use(conn: sa.Connection) -> set[str]:
    return set(conn.execute(sa.select(users.c.plan).distinct()).scalars())


def delete_users_by_prefix(conn: sa.Connection, prefix: str) -> int:
    """Delete every user whose id starts with `prefix` (the demo's), and all they own."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return int(
        conn.execute(sa.delete(users).where(users.c.id.like(escaped + "%", escape="\\"))).rowcount
    )
