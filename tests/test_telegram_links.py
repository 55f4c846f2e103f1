"""Which user a Telegram chat is, on both databases: an index lookup whatever the number of
users, and a link that the host app's re-upserts keep until it is unlinked (a null address or
deleting the user), while what the host sends is the host's."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from api_support import Api, make_api
from nudgeflow.bot import Conversation
from nudgeflow.bot.chats import Chat, Chats
from nudgeflow.clock import FrozenClock
from nudgeflow.config import load_settings
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


# ---- the deep link the host app hands out ------------------------------------------------------


@pytest.fixture
def bot_api(database_url: str, clock: FrozenClock) -> Iterator[Api]:
    settings = load_settings(database_url=database_url,
                             telegram={"bot_token": "123:abc", "bot_username": "coach_bot"})  # fmt: skip
    engine = Engine(database_url, settings=settings, clock=clock)
    yield make_api(engine)
    engine.close()


def test_the_host_gets_a_deep_link_whose_start_links_the_chat(bot_api: Api) -> None:
    engine, longest = bot_api.engine, "u" * 34  # the longest id a deep link carries
    engine.upsert_users([{"id": "ana"}, {"id": longest}])

    answer = bot_api.client.post("/v1/users/ana/telegram-link", headers=bot_api.host)

    assert answer.status_code == 200, answer.text
    link = answer.json()
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", link["token"])  # what Telegram carries
    assert link["url"] == f"https://t.me/coach_bot?start={link['token']}"
    expires = datetime.fromisoformat(link["expires_at"])
    assert expires == engine.clock.now().replace(microsecond=0) + timedelta(hours=24)
    Conversation(engine).handle(text_update(CHAT, f"/start {link['token']}", engine.clock.now()))
    assert owner(Chats(engine)) == "ana"
    long = bot_api.client.post(f"/v1/users/{longest}/telegram-link", headers=bot_api.host)
    assert len(long.json()["token"]) == 64


def test_a_deep_link_lives_the_hours_asked_and_no_longer(bot_api: Api, clock: FrozenClock) -> None:
    bot_api.engine.upsert_user({"id": "ana"})
    link = bot_api.client.post("/v1/users/ana/telegram-link", json={"hours": 2},
                               headers=bot_api.host).json()  # fmt: skip
    assert link["expires_at"] == (clock.now() + timedelta(hours=2)).isoformat().replace(
        "+00:00", "Z"
    )

    clock.advance(timedelta(hours=2))
    reply = Conversation(bot_api.engine).handle(
        text_update(CHAT, f"/start {link['token']}", clock.now())
    )

    assert "expired" in str(reply)
    assert owner(Chats(bot_api.engine)) is None


@pytest.mark.parametrize(
    ("user_id", "body", "status", "named"),
    [
        ("nobody", None, 404, "nobody"),
        ("u" * 35, None, 422, "user_id"),  # too long for Telegram's 64 characters
        ("ana", {"hours": 24 * 7 + 1}, 422, "hours"),
        ("ana", {"hours": 0}, 422, "hours"),
    ],
)
def test_a_deep_link_is_refused_for_no_user_a_long_id_or_bad_hours(
    bot_api: Api, user_id: str, body: dict[str, Any] | None, status: int, named: str
) -> None:
    bot_api.engine.upsert_users([{"id": "ana"}, {"id": "u" * 35}])
    answer = bot_api.client.post(f"/v1/users/{user_id}/telegram-link", json=body,
                                 headers=bot_api.host)  # fmt: skip
    assert answer.status_code == status, answer.text
    assert named in answer.json()["detail"]


def test_without_the_bots_username_the_api_says_which_setting_is_missing(api: Api) -> None:
    api.engine.upsert_user({"id": "ana"})
    answer = api.client.post("/v1/users/ana/telegram-link", headers=api.host)
    assert answer.status_code == 409
    assert "telegram.bot_username" in answer.json()["detail"]


def test_a_user_token_cannot_get_a_deep_link_for_its_own_account(bot_api: Api) -> None:
    bot_api.engine.upsert_user({"id": "ana"})  # a leaked token must not hand the chat over
    answer = bot_api.client.post("/v1/users/ana/telegram-link", headers=bot_api.token("ana"))
    assert answer.status_code == 403
