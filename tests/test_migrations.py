"""The migrations build exactly the schema the code describes, and unwind cleanly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from nudgeflow.store import database
from nudgeflow.store.schema import metadata, telegram_chats, users


def test_migrated_database_matches_the_schema_module(database_url: str) -> None:
    engine = database.connect(database_url)
    database.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_every_migration_downgrades_and_upgrades_again(database_url: str) -> None:
    engine = database.connect(database_url)
    database.upgrade(engine)
    database.downgrade(engine, "base")
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    database.upgrade(engine)
    assert database.is_current(engine)
    engine.dispose()


def test_0006_moves_telegram_addresses_and_the_bots_traits_into_telegram_chats_and_back(
    database_url: str,
) -> None:
    engine = database.connect(database_url)
    database.upgrade(engine, "0005")
    old = datetime(2026, 11, 1, tzinfo=UTC)
    kept = [{"text": "dentist at 9", "channel": "telegram", "at": "2026-11-01T08:00:00+00:00"}]
    with engine.begin() as conn:
        conn.execute(users.insert(), [
            _user("ana", old, {"telegram": "42", "email": "a@x.io"},
                  {"timezone_confirmed": True, "headline": "h"}),
            _user("tg-42", old - timedelta(days=1), {"telegram": "42"}, {"source": "telegram"}),
            _user("bo", old, {"telegram": "7"}, {"timezone_confirmed": False,
                                                 "telegram_pending": kept}),
            _user("cy", old, {"email": "c@x.io"}, {}),
        ])  # fmt: skip

    database.upgrade(engine)

    with engine.connect() as conn:
        chats = conn.execute(sa.select(telegram_chats).order_by(telegram_chats.c.chat_id)).all()
        found = {r.id: (r.addresses, r.traits) for r in conn.execute(sa.select(users))}
    database.downgrade(engine, "0005")  # the state goes back where the older code reads it
    with engine.connect() as conn:
        back = {r.id: r.traits for r in conn.execute(sa.select(users.c.id, users.c.traits))}
    engine.dispose()
    assert [(c.chat_id, c.user_id, c.timezone_confirmed, c.pending) for c in chats] == [
        ("42", "ana", True, []),  # the chat's last updated claimant, as the bot answered
        ("7", "bo", False, kept),
    ]
    assert found == {
        "ana": ({"telegram": "42", "email": "a@x.io"}, {"headline": "h"}),
        "tg-42": ({}, {"source": "telegram"}),
        "bo": ({"telegram": "7"}, {}),
        "cy": ({"email": "c@x.io"}, {}),
    }
    assert (back["ana"], back["bo"]) == (
        {"headline": "h", "timezone_confirmed": True},
        {"timezone_confirmed": False, "telegram_pending": kept},
    )


def _user(
    user_id: str, at: datetime, addresses: dict[str, Any], traits: dict[str, Any]
) -> dict[str, Any]:
    return {"id": user_id, "plan": "free", "org": None, "role": "user", "timezone": "UTC",
            "locale": "en", "traits": traits, "addresses": addresses, "created_at": at,
            "updated_at": at, "next_check_at": at, "checked_at": at}  # fmt: skip
