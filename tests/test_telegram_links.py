"""Which user a Telegram chat is, on both databases: an index lookup whatever the number of
users, and a link that the host app's re-upserts keep until it is unlinked (a null address or
deleting the user), while what the host sends is the host's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from api_support import Api, make_api
from nudgeflow.bot import Conversation
from nudgeflow.bot.chats import Chat, Chats
from nudgeflow.engine import Engine
from telegram_api import text_update

CHAT, OTHER = 4242, 5151


@pytest.fixture
def chats(engine: Engine) -> Chats:
    return Chats(engine)


def linked(engine: Engine, chats: Chats, user_id: str = "ana", chat: int = CHAT) -> Chat:
    """The host app's user, linked with the deep-link token it was handed, timezone named."""
    engine.upsert_user({"id": user_id, "traits": {"headline": "analyst"},
                        "addresses": {"email": f"{user_id}@example.org"}})  # fmt: skip
    found = chats.link(chat, engine.credentials.start_token(user_id))
    return chats.set_timezone(found, "Europe/Berlin")


def owner(chats: Chats, chat: int = CHAT) -> str | None:
    found = chats.find(chat)
    return found.user.id if found else None


# ---- the lookup --------------------------------------------------------------------------------


def _statements(db: sa.Engine, work: Callable[[], object]) -> list[tuple[str, Any]]:
    """The queries `work` sends, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    sa.event.listen(db, "before_cursor_execute", record)
    try:
        work()
    finally:
        sa.event.remove(db, "before_cursor_execute", record)
    return seen


def _plan(conn: sa.Connection, statement: str, parameters: Any) -> str:
    """The query plan; on PostgreSQL with sequential scans priced out, so a tiny test table
    shows whether an index *can* serve the query, as it would among millions of rows."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return "\n".join(str(row[-1]) for row in rows)
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))


def test_a_chats_user_is_found_by_index_searches_without_scanning_users(
    engine: Engine, chats: Chats
) -> None:
    engine.upsert_users({"id": f"u{n}", "addresses": {"telegram": str(10_000 + n)}}
                        for n in range(300))  # fmt: skip
    linked(engine, chats)

    statements = _statements(engine.db, lambda: chats.find(CHAT))

    assert statements, "the lookup ran no SQL"
    with engine.db.connect() as conn:
        plans = [_plan(conn, sql, params) for sql, params in statements]
    assert any("telegram_chats" in plan for plan in plans)
    for plan in plans:
        assert "SCAN" not in plan  # SQLite: SEARCH … USING INDEX, never a SCAN of a table
        assert "Seq Scan" not in plan  # PostgreSQL: Index Scan using pk_telegram_chats
        assert "Filter" not in plan  # nothing read only to be thrown away


# ---- what a re-upsert keeps --------------------------------------------------------------------


def test_a_host_reupsert_keeps_the_chat_and_the_named_timezone_and_sets_the_rest(
    engine: Engine, chats: Chats
) -> None:
    linked(engine, chats)

    engine.upsert_user({"id": "ana", "plan": "premium", "traits": {"headline": "lead"},
                        "addresses": {"email": "ana@new.example.org"}})  # fmt: skip

    ana = engine.user("ana")
    assert ana.addresses == {"email": "ana@new.example.org", "telegram": str(CHAT)}
    assert (ana.plan, dict(ana.traits)) == ("premium", {"headline": "lead"})
    assert ana.timezone.key == "Europe/Berlin"  # the user named it; the host said nothing
    chat = chats.find(CHAT)
    assert chat is not None
    assert (chat.user.id, chat.timezone_known) == ("ana", True)

    engine.upsert_user({"id": "ana", "timezone": "Asia/Tokyo"})  # the host names one: its own

    assert engine.user("ana").timezone.key == "Asia/Tokyo"
    assert engine.user("ana").addresses == {"telegram": str(CHAT)}


def test_the_bot_changes_only_its_own_and_leaves_the_hosts_traits_alone(
    engine: Engine, chats: Chats
) -> None:
    chat = linked(engine, chats)
    chats.keep(chats.forget_timezone(chat), {"text": "dentist at 9", "at": engine.clock.now()})

    ana = engine.user("ana")
    assert dict(ana.traits) == {"headline": "analyst"}
    assert ana.addresses == {"email": "ana@example.org", "telegram": str(CHAT)}
    again = chats.find(CHAT)
    assert again is not None
    assert (again.timezone_known, [m["text"] for m in again.pending]) == (False, ["dentist at 9"])


def test_stop_is_not_an_unlink_but_null_is_and_deleting_the_user_is(
    engine: Engine, chats: Chats
) -> None:
    linked(engine, chats)
    Conversation(engine).handle(text_update(CHAT, "/stop", engine.clock.now()))
    assert (owner(chats), engine.preferences("ana").proactive) == ("ana", False)

    engine.upsert_user({"id": "ana", "addresses": {"email": "ana@example.org", "telegram": None}})

    assert owner(chats) is None
    assert engine.user("ana").addresses == {"email": "ana@example.org"}
    linked(engine, chats)
    engine.delete_user("ana")
    assert owner(chats) is None


def test_a_chat_the_host_names_is_linked_and_leaves_its_previous_user(
    engine: Engine, chats: Chats
) -> None:
    linked(engine, chats, "ana")
    engine.upsert_user({"id": "bo", "addresses": {"telegram": str(CHAT)}})

    assert owner(chats) == "bo"
    assert "telegram" not in engine.user("ana").addresses
    chat = chats.find(CHAT)
    assert chat is not None
    assert chat.timezone_confirmed is None  # another person's chat: asked afresh

    engine.upsert_user({"id": "bo", "addresses": {"telegram": str(OTHER)}})  # a new chat

    assert (owner(chats), owner(chats, OTHER)) == (None, "bo")


def test_in_one_batch_a_later_user_takes_a_chat_from_an_earlier_one(engine: Engine) -> None:
    engine.upsert_users([
        {"id": "ana", "addresses": {"telegram": str(CHAT)}},
        {"id": "bo", "addresses": {"telegram": str(OTHER)}},
        {"id": "bo", "addresses": {"telegram": str(CHAT)}},
    ])  # fmt: skip

    chats = Chats(engine)
    assert (owner(chats), owner(chats, OTHER)) == ("bo", None)
    assert engine.user("ana").addresses == {}
    assert engine.user("bo").addresses == {"telegram": str(CHAT)}


# ---- through the API ---------------------------------------------------------------------------


@pytest.fixture
def api(engine: Engine) -> Api:
    return make_api(engine)


def test_put_user_keeps_the_link_unless_it_says_null(api: Api, chats: Chats) -> None:
    linked(api.engine, chats)

    def put(body: dict[str, Any]) -> Any:
        return api.client.put("/v1/users/ana", json=body, headers=api.host)

    assert put({"plan": "premium", "addresses": {"email": "ana@example.org"}}).status_code == 204
    assert api.engine.user("ana").addresses["telegram"] == str(CHAT)
    assert put({"traits": {}}).status_code == 204
    assert (owner(chats), api.engine.user("ana").timezone.key) == ("ana", "Europe/Berlin")

    assert put({"addresses": {"telegram": None}}).status_code == 204

    assert owner(chats) is None
    assert api.engine.user("ana").addresses == {}
