"""Telegram button presses arrive as updates: they act on the presser's own nudge only, and
only when Telegram sends the secret we registered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nudgeflow.api import create_app
from nudgeflow.clock import FrozenClock
from nudgeflow.config import load_settings
from nudgeflow.engine import Engine
from test_actions import delivered_nudge

SECRET = "s3cret-token_for-updates"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


@pytest.fixture
def bot(database_url: str, clock: FrozenClock) -> Iterator[tuple[Engine, TestClient]]:
    settings = load_settings(
        database_url=database_url,
        telegram={"bot_token": "123:abc", "webhook_secret": SECRET},
    )
    engine = Engine(database_url, settings=settings, clock=clock)
    yield engine, TestClient(create_app(engine))
    engine.close()


def press(data: str, presser: int, press_id: str = "cb1") -> dict[str, Any]:
    return {
        "update_id": 1,
        "callback_query": {"id": press_id, "from": {"id": presser}, "data": data},
    }


def test_a_press_acts_on_the_pressers_nudge_and_answers_in_the_reply(
    bot: tuple[Engine, TestClient],
) -> None:
    engine, client = bot
    nudge = delivered_nudge(engine)
    engine.upsert_user({"id": "ana", "addresses": {"telegram": "4242"}})

    answer = client.post(
        "/v1/telegram/updates", json=press(f"s4h:{nudge['id']}", 4242), headers=HEADERS
    )

    assert answer.status_code == 200
    assert answer.json() == {
        "method": "answerCallbackQuery",
        "callback_query_id": "cb1",
        "text": "Snoozed — it will come back",
    }
    assert engine.nudge(nudge["id"])["status"] == "snoozed"
    client.post("/v1/telegram/updates", json=press(f"a:{nudge['id']}", 4242), headers=HEADERS)
    assert engine.nudge(nudge["id"])["status"] == "accepted"  # the old message's buttons still act
    late = client.post(
        "/v1/telegram/updates", json=press(f"d:{nudge['id']}", 4242), headers=HEADERS
    )
    assert "cannot be dismissed" in late.json()["text"]


def test_someone_elses_press_changes_nothing(bot: tuple[Engine, TestClient]) -> None:
    engine, client = bot
    nudge = delivered_nudge(engine)
    engine.upsert_user({"id": "ana", "addresses": {"telegram": "4242"}})

    answer = client.post(
        "/v1/telegram/updates", json=press(f"d:{nudge['id']}", 666), headers=HEADERS
    )

    assert answer.json()["text"] == "This is not yours."
    assert engine.nudge(nudge["id"])["status"] == "delivered"


def test_unknown_buttons_and_nudges_are_answered_not_failed(
    bot: tuple[Engine, TestClient],
) -> None:
    _, client = bot
    forged = client.post("/v1/telegram/updates", json=press("x:whatever", 1), headers=HEADERS)
    missing = client.post(
        "/v1/telegram/updates", json=press("a:n_000000000000000000000000", 1), headers=HEADERS
    )
    message = client.post(
        "/v1/telegram/updates", json={"update_id": 2, "message": {"text": "hi"}}, headers=HEADERS
    )

    assert forged.json()["text"] == "This button is not ours."
    assert missing.status_code == 200
    assert "no nudge" in missing.json()["text"]
    assert message.status_code == 200


def test_updates_without_the_secret_are_refused(bot: tuple[Engine, TestClient]) -> None:
    engine, client = bot
    nudge = delivered_nudge(engine)
    engine.upsert_user({"id": "ana", "addresses": {"telegram": "4242"}})
    data = press(f"a:{nudge['id']}", 4242)

    assert client.post("/v1/telegram/updates", json=data).status_code == 401
    wrong = {"X-Telegram-Bot-Api-Secret-Token": "guess"}
    assert client.post("/v1/telegram/updates", json=data, headers=wrong).status_code == 401
    assert engine.nudge(nudge["id"])["status"] == "delivered"


def test_updates_are_off_until_a_secret_is_configured(engine: Engine) -> None:
    client = TestClient(create_app(engine))
    answer = client.post("/v1/telegram/updates", json=press("a:x", 1), headers=HEADERS)
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
