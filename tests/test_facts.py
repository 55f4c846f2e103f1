"""Facts in through the Engine: validated at the edge, stored once, and marking users due."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
import sqlalchemy as sa

from nudgeflow.clock import FrozenClock
from nudgeflow.engine import Engine
from nudgeflow.errors import InvalidInput, NotFound, UnknownPlan
from nudgeflow.store.database import read_json
from nudgeflow.store.schema import events, records, users


def count(engine: Engine, table: sa.Table) -> int:
    with engine.db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def next_check(engine: Engine, user_id: str) -> object:
    with engine.db.connect() as conn:
        return conn.execute(
            sa.select(users.c.next_check_at).where(users.c.id == user_id)
        ).scalar_one()


def test_an_event_sent_twice_is_stored_once(engine: Engine) -> None:
    engine.upsert_user({"id": "u1"})
    event = {"id": "e1", "user_id": "u1", "name": "login", "at": "2026-11-20T10:00:00Z"}

    assert engine.track([event, event]) == 1
    assert engine.track(event) == 0
    assert count(engine, events) == 1


def test_a_batch_with_one_bad_event_writes_nothing_and_names_the_field(engine: Engine) -> None:
    engine.upsert_user({"id": "u1"})
    good = {"id": "e1", "user_id": "u1", "name": "login", "at": "2026-11-20T10:00:00Z"}
    naive = {"id": "e2", "user_id": "u1", "name": "login", "at": "2026-11-20T10:00:00"}

    with pytest.raises(InvalidInput) as raised:
        engine.track([good, naive])

    assert raised.value.field == "at"
    assert "timezone" in str(raised.value)
    assert count(engine, events) == 0


@pytest.mark.parametrize(
    ("user", "field"),
    [
        ({"id": "u 1"}, "id"),
        ({"id": "u1", "timezone": "Mars/Olympus"}, "timezone"),
        ({"id": "u1", "role": "root"}, "role"),
        ({"id": "u1", "addresses": {"email": "not-an-email"}}, "addresses.email"),
        (
            {"id": "u1", "preferences": {"quiet_hours": {"start": "7pm", "end": "07:00"}}},
            "preferences.quiet_hours.start",
        ),
        ({"id": "u1", "preferences": {"channels": ["pigeon"]}}, "preferences.channels.0"),
        ({"id": "u1", "colour": "blue"}, "colour"),
        ({"id": "u1", "locale": "en" + "-abcdefgh" * 4}, "locale"),  # longer than the column
    ],
)
def test_a_bad_user_is_refused_naming_the_field(
    engine: Engine, user: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        engine.upsert_user(user)
    assert raised.value.field == field
    assert count(engine, users) == 0


def test_an_unknown_plan_is_refused_with_the_known_ones(engine: Engine) -> None:
    with pytest.raises(UnknownPlan, match="unknown plan 'gold'; known plans: enterprise, free"):
        engine.upsert_user({"id": "u1", "plan": "gold"})


def test_facts_for_an_unknown_user_are_refused(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="no user 'ghost'"):
        engine.put_record({"user_id": "ghost", "kind": "resume", "key": "main", "props": {}})
    with pytest.raises(InvalidInput, match="no user 'ghost'"):
        engine.track(
            {"id": "e1", "user_id": "ghost", "name": "login", "at": "2026-11-20T10:00:00Z"}
        )


def test_records_upsert_and_delete(engine: Engine) -> None:
    engine.upsert_user({"id": "u1"})
    engine.put_record({"user_id": "u1", "kind": "resume", "key": "main", "props": {"score": 50}})
    engine.put_record({"user_id": "u1", "kind": "resume", "key": "main", "props": {"score": 80}})

    with engine.db.connect() as conn:
        assert conn.execute(sa.select(records.c.props)).scalars().all() == [{"score": 80}]
    engine.delete_record("u1", "resume", "main")
    assert count(engine, records) == 0
    with pytest.raises(NotFound):
        engine.delete_record("u1", "resume", "main")


def test_new_facts_mark_the_user_due_now(engine: Engine, clock: FrozenClock) -> None:
    engine.upsert_user({"id": "u1"})
    engine.sweep()
    assert next_check(engine, "u1") == clock.now() + timedelta(hours=1)  # daily_check, 09:00 UTC

    clock.advance(timedelta(minutes=30))
    engine.track({"id": "e1", "user_id": "u1", "name": "login", "at": clock.now().isoformat()})

    assert next_check(engine, "u1") == clock.now()
    assert engine.sweep().users == 1


def test_deleting_a_user_removes_everything_they_own(engine: Engine) -> None:
    engine.upsert_user({"id": "u1", "traits": {}})
    engine.put_record({"user_id": "u1", "kind": "resume", "key": "main", "props": {"score": 10}})
    engine.track({"id": "e1", "user_id": "u1", "name": "login", "at": "2026-11-20T10:00:00Z"})
    engine.sweep()
    assert engine.nudges(user_id="u1")

    engine.delete_user("u1")

    assert (count(engine, users), count(engine, records), count(engine, events)) == (0, 0, 0)
    assert engine.nudges() == []
    with pytest.raises(NotFound):
        engine.delete_user("u1")


def test_preferences_round_trip(engine: Engine) -> None:
    engine.upsert_user({"id": "u1"})
    engine.set_preferences(
        "u1", {"quiet_hours": {"start": "21:30", "end": "06:45"}, "window": "evening"}
    )

    prefs = engine.preferences("u1")

    assert prefs.model_dump(mode="json")["quiet_hours"] == {"start": "21:30", "end": "06:45"}
    assert prefs.window == "evening"
    with pytest.raises(NotFound, match="no user 'nobody'"):
        engine.set_preferences("nobody", {})


def test_json_columns_read_with_orjson_and_what_it_refuses_with_the_standard_library() -> None:
    assert read_json('{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    assert math.isnan(read_json('{"a": NaN}')["a"])  # json.dumps writes NaN; orjson refuses it
