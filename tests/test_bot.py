"""The Telegram bot, on both databases and against a Bot API double on 127.0.0.1: linking a
chat (signed tokens, new chats), the timezone question, what a message does to the agenda
(a stand-in here: the extractor has its own tests), `/schedule` on a phone, button presses,
long polling that survives bad updates, the webhook route, and `nudgeflow telegram`."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from telegram import Update

from nudgeflow.api import create_app
from nudgeflow.bot import Conversation, TelegramBot, texts
from nudgeflow.bot.replies import Answer, RemoveButtons, Reply, Say
from nudgeflow.bot.timezones import read_timezone
from nudgeflow.channels import configured
from nudgeflow.channels.telegram import MAX_TEXT
from nudgeflow.cli_telegram import telegram_command
from nudgeflow.clock import FrozenClock
from nudgeflow.config import load_settings
from nudgeflow.dispatch import Dispatcher
from nudgeflow.engine import Engine
from nudgeflow.errors import InvalidInput
from nudgeflow.playbooks.agenda import agenda, agenda_playbook
from nudgeflow.rules import Candidate, Facts, Playbook
from telegram_api import TOKEN, TelegramApi, poll_until_caught_up, press_update, telegram_api
from telegram_api import text_update as said

SECRET = "s3cret-token_for-updates"
CHAT = 4242
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # conftest's START: Monday 09:00 in Berlin

coach = Playbook("coach")


@coach.rule(cadence="hourly", cooldown="1d", channels=["telegram"])
def weekly_review(facts: Facts, now: datetime) -> Candidate:
    return Candidate(f"review:{now:%Y-%m-%d}", "Your weekly review", "Ten minutes, <now>?")


class FakeAgenda:
    """Stands in for engine.agenda: keeps what it got and answers what it was told to."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, dict[str, Any]] = {}
        self.upcoming: list[dict[str, Any]] = []

    def receive(self, user_id: str, message: dict[str, Any]) -> dict[str, Any]:
        self.received.append((user_id, message))
        if "boom" in message["text"]:
            raise RuntimeError("the extractor fell over")
        return self.answers.get(message["text"], changes())

    def schedule(
        self, user_id: str, *, at: datetime | None = None, days: int | None = None
    ) -> list[dict[str, Any]]:
        return self.upcoming


def changes(**lists: list[dict[str, Any]]) -> dict[str, Any]:
    empty: dict[str, Any] = {"added": [], "updated": [], "cancelled": [], "ignored": []}
    return {"message_id": "m", "duplicate": False, **empty, **lists}


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def meeting(title: str, start: datetime, end: datetime | None = None) -> dict[str, Any]:
    return {"id": f"mt_{title[:3]}", "title": title, "start": start.isoformat(),
            "end": end.isoformat() if end else None, "channel": "telegram",
            "confidence": 0.9, "source": "m", "status": "scheduled"}  # fmt: skip


@pytest.fixture
def api() -> Iterator[TelegramApi]:
    with telegram_api() as double:
        yield double


@pytest.fixture
def engine(database_url: str, clock: FrozenClock, api: TelegramApi) -> Iterator[Engine]:
    settings = load_settings(
        database_url=database_url,
        telegram={"bot_token": TOKEN, "base_url": api.url, "webhook_secret": SECRET},
    )
    made = Engine(database_url, settings=settings, clock=clock, playbooks=[agenda, coach])
    yield made
    made.close()


@pytest.fixture
def fake() -> FakeAgenda:
    return FakeAgenda()


@pytest.fixture
def bot(engine: Engine, fake: FakeAgenda) -> Conversation:
    return Conversation(engine, agenda=fake)


def say(bot: Conversation, text: str, chat: int = CHAT, at: datetime = NOW) -> str | None:
    """What the bot answers to `text`: the one message it sends back, or None."""
    replies = bot.handle(said(chat, text, at))
    assert all(isinstance(r, Say) and r.chat_id == chat for r in replies)
    assert len(replies) <= 1
    return replies[0].text if replies and isinstance(replies[0], Say) else None


def known_user(engine: Engine, user_id: str = "ana", timezone: str = "Europe/Berlin") -> None:
    engine.upsert_user({"id": user_id, "timezone": timezone, "addresses": {"telegram": str(CHAT)},
                        "preferences": {"channels": ["telegram"]}})  # fmt: skip


# ---- who the chat is ----------------------------------------------------------------------------


def test_a_first_message_from_a_new_chat_makes_a_user_and_asks_for_the_timezone(
    engine: Engine, bot: Conversation, fake: FakeAgenda
) -> None:
    answer = say(bot, "Team meeting 3-4 PM Friday")

    user = engine.user(f"tg-{CHAT}")
    assert user.addresses == {"telegram": str(CHAT)}
    assert engine.preferences(user.id).channels == ("telegram",)
    assert answer is not None
    assert answer.startswith(texts.WELCOME)
    assert "which timezone" in answer
    assert "as soon as I know your timezone" in answer
    assert fake.received == []  # kept until its times can be read


def test_start_alone_makes_the_user_once_and_welcomes_them_back(
    engine: Engine, bot: Conversation
) -> None:
    first = say(bot, "/start")
    again = say(bot, "/start@coach_bot")

    assert first is not None
    assert "which timezone" in first
    assert again is not None
    assert again.startswith("Welcome back")
    assert [u["id"] for u in _users(engine)] == [f"tg-{CHAT}"]


def test_start_with_a_signed_token_links_the_chat_to_the_host_apps_user(
    engine: Engine, bot: Conversation
) -> None:
    engine.upsert_user({"id": "ana", "timezone": "Europe/Berlin", "traits": {"plan": "x"}})
    token = engine.credentials.start_token("ana")

    answer = say(bot, f"/start {token}")

    assert answer == f"{texts.LINKED} I'll use Europe/Berlin time; /timezone changes it."
    ana = engine.user("ana")
    assert ana.addresses == {"telegram": str(CHAT)}
    assert ana.traits == {"plan": "x"}  # the rest of the user is as the host app left it
    assert "telegram" in engine.preferences("ana").channels
    found = bot.chats.find(CHAT)
    assert found is not None
    assert found.user == ana
    assert len(token) <= 64  # Telegram's limit on a deep link's start parameter


def test_a_link_token_for_telegram_works_too_but_not_one_for_another_purpose(
    engine: Engine, bot: Conversation
) -> None:
    engine.upsert_user({"id": "ana"})
    other = engine.credentials.link_token("ana", "accept", "n_1", hours=1)
    token = engine.credentials.link_token("ana", "telegram", hours=1)

    refused = say(bot, f"/start {other}")
    linked = say(bot, f"/start {token}")

    assert refused is not None
    assert "not for Telegram" in refused
    assert linked is not None
    assert linked.startswith(texts.LINKED)
    assert "which timezone" in linked  # UTC, never confirmed: asked
    assert engine.user("ana").addresses == {"telegram": str(CHAT)}


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("forged", "this link is not one nudgeflow made"),
        ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "this link is not one nudgeflow made"),
        ("expired", "this link has expired"),
        ("gone", "that account no longer exists"),
    ],
)
def test_a_bad_or_expired_token_says_so_and_links_nothing(
    engine: Engine, bot: Conversation, clock: FrozenClock, token: str, why: str
) -> None:
    engine.upsert_user({"id": "ana"})
    real = engine.credentials.start_token("ana", hours=1)
    if token == "forged":
        token = real[:-2] + ("AA" if real[-2:] != "AA" else "BB")
    elif token == "expired":
        clock.advance(timedelta(hours=1))
        token = real
    elif token == "gone":
        engine.delete_user("ana")
        token = real

    answer = say(bot, f"/start {token}")

    assert answer == texts.BAD_LINK.format(why=why)
    assert bot.chats.find(CHAT) is None
    assert _user_ids(engine) == (set() if why.startswith("that") else {"ana"})


def test_linking_takes_the_chat_from_the_user_the_bot_made_for_it(
    engine: Engine, bot: Conversation
) -> None:
    say(bot, "hello")
    engine.upsert_user({"id": "ana", "timezone": "Asia/Tokyo"})

    say(bot, f"/start {engine.credentials.start_token('ana')}")

    assert engine.user(f"tg-{CHAT}").addresses == {}
    found = bot.chats.find(CHAT)
    assert found is not None
    assert found.user.id == "ana"


def test_a_deep_link_token_refuses_an_id_too_long_to_fit(engine: Engine) -> None:
    assert len(engine.credentials.start_token("u" * 34)) == 64
    with pytest.raises(InvalidInput, match="too long for a Telegram deep link"):
        engine.credentials.start_token("u" * 35)


# ---- the timezone -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "zone", "shown"),
    [
        ("Berlin", "Europe/Berlin", "Europe/Berlin, where it is 09:00 now."),
        ("new york", "America/New_York", "America/New_York, where it is 03:00 now."),
        ("I'm in São Paulo.", "America/Sao_Paulo", "America/Sao_Paulo, where it is 05:00 now."),
        ("asia/tokyo", "Asia/Tokyo", "Asia/Tokyo, where it is 17:00 now."),
        ("UTC+2", "Etc/GMT-2", "UTC+2, where it is 10:00 now. A fixed offset"),
        ("+05:30", "Asia/Kolkata", "Asia/Kolkata, where it is 13:30 now."),
        ("utc", "UTC", "UTC, where it is 08:00 now."),
    ],
)
def test_the_timezone_answer_is_understood_and_confirmed(
    engine: Engine, bot: Conversation, answer: str, zone: str, shown: str
) -> None:
    say(bot, "/start")

    reply = say(bot, answer)

    assert reply is not None
    assert reply.startswith(f"Got it: {shown}")
    chat = bot.chats.find(CHAT)
    assert chat is not None
    assert (chat.user.timezone.key, chat.timezone_confirmed) == (zone, True)


@pytest.mark.parametrize("nonsense", ["Atlantis", "UTC+25", "???", "no idea"])
def test_nonsense_is_met_with_the_question_again(
    engine: Engine, bot: Conversation, nonsense: str
) -> None:
    say(bot, "/start")
    assert say(bot, nonsense) == texts.NOT_A_TIMEZONE
    assert engine.user(f"tg-{CHAT}").timezone.key == "UTC"


def test_what_was_said_before_the_timezone_is_noted_once_it_is_known(
    bot: Conversation, fake: FakeAgenda
) -> None:
    fake.answers["Team meeting 3-4 PM Friday"] = changes(
        added=[meeting("team meeting", local(27, 15), local(27, 16))]
    )
    earlier = NOW - timedelta(minutes=5)
    say(bot, "Team meeting 3-4 PM Friday", at=earlier)

    answer = say(bot, "Berlin")

    assert answer == (
        "Got it: Europe/Berlin, where it is 09:00 now.\n\n"
        "Noted: Team meeting, Fri 27 Nov 15:00–16:00.\nI'll remind you 30 minutes before."
    )
    [(user, message)] = fake.received
    assert user == f"tg-{CHAT}"
    assert message["at"] == earlier  # read as of when it was said
    assert message["channel"] == "telegram"
    assert message["id"].startswith(f"tg-{CHAT}-")


def test_timezone_asks_again_or_takes_a_new_one(engine: Engine, bot: Conversation) -> None:
    known_user(engine)

    asked = say(bot, "/timezone")
    answered = say(bot, "Tokyo")
    direct = say(bot, "/timezone Lisbon")
    wrong = say(bot, "/timezone Mars")

    assert asked is not None
    assert asked.startswith("Your timezone is Europe/Berlin.")
    assert answered is not None
    assert answered.startswith("Got it: Asia/Tokyo")
    assert direct is not None
    assert direct.startswith("Got it: Europe/Lisbon")
    assert wrong == texts.NOT_A_TIMEZONE
    assert engine.user("ana").timezone.key == "Europe/Lisbon"


@pytest.mark.parametrize(
    ("text", "zone"),
    [("EST", "America/New_York"), ("PT", "America/Los_Angeles"), ("Munich, Germany",
     "Europe/Berlin"), ("GMT-5", "Etc/GMT+5"), ("Team meeting 3-4 PM", None), ("", None)],
)  # fmt: skip
def test_read_timezone(text: str, zone: str | None) -> None:
    assert read_timezone(text) == zone


# ---- messages and the agenda --------------------------------------------------------------------


def test_a_message_goes_to_the_agenda_and_the_reply_says_what_changed(
    engine: Engine, bot: Conversation, fake: FakeAgenda
) -> None:
    known_user(engine)
    team = meeting("team meeting", local(27, 15), local(27, 16))
    fake.answers["Team meeting 3-4 PM Friday"] = changes(added=[team])
    fake.answers["my 3pm is moved to 4"] = changes(
        updated=[team | {"start": local(27, 16).isoformat(), "end": local(27, 17).isoformat()}]
    )
    fake.answers["cancel the team meeting"] = changes(cancelled=[team])
    update = said(CHAT, "Team meeting 3-4 PM Friday", NOW, message_id=77)

    [reply] = bot.handle(update)

    assert reply == Say(CHAT, "Noted: Team meeting, Fri 27 Nov 15:00–16:00.\n"
                              "I'll remind you 30 minutes before.")  # fmt: skip
    assert fake.received == [("ana", {"text": "Team meeting 3-4 PM Friday", "channel": "telegram",
                                      "id": f"tg-{CHAT}-77", "at": NOW})]  # fmt: skip
    assert say(bot, "my 3pm is moved to 4") == (
        "Moved: Team meeting, Fri 27 Nov 16:00–17:00.\nI'll remind you 30 minutes before."
    )
    assert say(bot, "cancel the team meeting") == "Cancelled: Team meeting, Fri 27 Nov 15:00–16:00."
    assert say(bot, "thanks!") is None  # nothing changed: nothing to say


@pytest.mark.parametrize(
    ("playbook", "promise"),
    [
        (agenda_playbook(lead=timedelta(minutes=10)), "\nI'll remind you 10 minutes before."),
        (agenda_playbook(lead=timedelta(hours=1)), "\nI'll remind you 1 hour before."),
        (coach, ""),  # no agenda playbook: nothing will remind, so nothing is promised
    ],
)
def test_the_reply_promises_the_reminder_with_the_configured_lead_time(
    database_url: str, clock: FrozenClock, fake: FakeAgenda, playbook: Playbook, promise: str
) -> None:
    engine = Engine(database_url, settings=load_settings(database_url=database_url), clock=clock,
                    playbooks=[playbook])  # fmt: skip
    known_user(engine)
    fake.answers["Team meeting 3-4 PM Friday"] = changes(
        added=[meeting("team meeting", local(27, 15), local(27, 16))]
    )

    answer = say(Conversation(engine, agenda=fake), "Team meeting 3-4 PM Friday")

    engine.close()
    assert answer == "Noted: Team meeting, Fri 27 Nov 15:00–16:00." + promise


@pytest.mark.parametrize(
    ("lead", "words"),
    [(timedelta(minutes=1), "1 minute"), (timedelta(minutes=90), "90 minutes"),
     (timedelta(hours=2), "2 hours"), (timedelta(days=1), "1 day")],
)  # fmt: skip
def test_a_lead_time_reads_as_a_person_says_it(lead: timedelta, words: str) -> None:
    assert texts.span(lead) == words


def test_titles_are_escaped_and_a_meeting_past_midnight_shows_both_days() -> None:
    late = meeting("<launch> & party", local(27, 23), local(28, 1))
    text = texts.changes(changes(added=[late]), BERLIN, None)
    assert text == "Noted: &lt;launch&gt; &amp; party, Fri 27 Nov 23:00 – Sat 28 Nov 01:00."


def test_a_python_telegram_bot_update_is_taken_as_well_as_a_dict(
    engine: Engine, bot: Conversation
) -> None:
    update = Update.de_json({"update_id": 1, **said(CHAT, "/start", NOW)}, None)

    [reply] = bot.handle(update)

    assert isinstance(reply, Say)
    assert reply.text.startswith(texts.WELCOME)
    assert engine.user(f"tg-{CHAT}").addresses == {"telegram": str(CHAT)}


def test_groups_edits_and_stickers_are_not_for_the_bot(
    engine: Engine, bot: Conversation, fake: FakeAgenda
) -> None:
    group = said(-100123, "Team meeting 3-4 PM Friday", NOW)
    edited = {"edited_message": said(CHAT, "Team meeting", NOW)["message"]}
    sticker = said(CHAT, "x", NOW)
    del sticker["message"]["text"]

    assert [bot.handle(u) for u in (group, edited, sticker)] == [[], [], []]
    assert _users(engine) == []
    assert fake.received == []


def test_stop_turns_proactive_nudges_off_and_start_back_on(
    engine: Engine, bot: Conversation
) -> None:
    known_user(engine)
    assert say(bot, "/stop") == texts.STOPPED
    assert engine.preferences("ana").proactive is False
    say(bot, "/start")
    assert engine.preferences("ana").proactive is True
    assert say(bot, "/help") == texts.HELP
    assert say(bot, "/dance") == texts.HELP


# ---- /schedule ----------------------------------------------------------------------------------


def test_schedule_groups_meetings_by_local_day_in_the_users_timezone(
    engine: Engine, bot: Conversation, fake: FakeAgenda
) -> None:
    known_user(engine)
    fake.upcoming = [
        meeting("1-on-1 with <Sam>", local(23, 16, 30)),
        meeting("meeting", local(24, 14, 30)),
        meeting("1-on-1", local(24, 10)),
        meeting("team meeting", local(27, 15), local(27, 16)),
        meeting("standup", local(30, 8)),
    ]
    fake.upcoming.sort(key=lambda m: m["start"])

    answer = say(bot, "/schedule")

    assert answer == (
        "<b>Your meetings</b> · Europe/Berlin time\n"
        "\n<b>Today · Mon 23 Nov</b>\n16:30  1-on-1 with &lt;Sam&gt;\n"
        "\n<b>Tomorrow · Tue 24 Nov</b>\n10:00  1-on-1\n14:30  Meeting\n"
        "\n<b>Fri 27 Nov</b>\n15:00–16:00  Team meeting\n"
        "\n<b>Mon 30 Nov</b>\n08:00  Standup"
    )


def test_schedule_in_new_york_puts_a_berlin_evening_on_its_own_day() -> None:
    evening = meeting("call", local(24, 3))  # 03:00 Tuesday in Berlin: Monday 21:00 in New York
    text = texts.schedule([evening], ZoneInfo("America/New_York"), NOW)
    assert "<b>Today · Mon 23 Nov</b>\n21:00  Call" in text


def test_schedule_with_nothing_says_so(engine: Engine, bot: Conversation) -> None:
    known_user(engine)
    assert say(bot, "/schedule") == texts.NOTHING_SCHEDULED


def test_a_long_schedule_stays_within_telegrams_limit(
    engine: Engine, bot: Conversation, fake: FakeAgenda, api: TelegramApi
) -> None:
    known_user(engine)
    fake.upcoming = [meeting("review " + "x" * 60, NOW + timedelta(hours=5 * i)) for i in range(200)]  # fmt: skip
    answer = say(bot, "/schedule")
    assert answer is not None
    assert len(answer.encode("utf-16-le")) // 2 <= MAX_TEXT
    assert answer.endswith("more.")
    poll_until_caught_up(TelegramBot(engine, _settings(engine), conversation=bot,
                                     poll_seconds=1), api, said(CHAT, "/schedule", NOW))  # fmt: skip
    assert api.texts(CHAT)[-1].endswith("more.")  # and Telegram took it


# ---- button presses -----------------------------------------------------------------------------


def _nudge_in_chat(engine: Engine, api: TelegramApi) -> tuple[str, dict[str, Any]]:
    """Ana's nudge, sent to her chat with its buttons: its id and the message."""
    known_user(engine)
    engine.sweep()
    assert asyncio.run(Dispatcher(engine, configured(engine.settings)).run_once()) == {"sent": 1}
    [nudge] = engine.nudges(user_id="ana")
    [message] = api.sent(CHAT)
    return str(nudge["id"]), {k: v for k, v in message.items() if k != "html"}


def test_a_press_acts_answers_and_takes_the_buttons_away(
    engine: Engine, bot: Conversation, api: TelegramApi
) -> None:
    nudge_id, message = _nudge_in_chat(engine, api)
    press = press_update(CHAT, f"s4h:{nudge_id}", message)

    replies = bot.handle(press)

    assert replies == [
        Answer(press["callback_query"]["id"], "Snoozed — it will come back"),
        RemoveButtons(CHAT, message["message_id"]),
    ]
    assert engine.nudge(nudge_id)["status"] == "snoozed"
    poll_until_caught_up(TelegramBot(engine, _settings(engine), conversation=bot,
                                     poll_seconds=1), api, press_update(CHAT, f"a:{nudge_id}", message))  # fmt: skip
    assert engine.nudge(nudge_id)["status"] == "accepted"
    replied = [method for method in api.methods() if method != "getUpdates"]
    assert replied[-2:] == ["answerCallbackQuery", "editMessageReplyMarkup"]
    assert "reply_markup" not in api.sent(CHAT)[0]  # the chat shows no buttons any more


def test_someone_elses_press_changes_nothing(
    engine: Engine, bot: Conversation, api: TelegramApi
) -> None:
    nudge_id, message = _nudge_in_chat(engine, api)
    press = press_update(666, f"d:{nudge_id}", message)

    replies: list[Reply] = bot.handle(press)

    assert replies == [Answer(press["callback_query"]["id"], "This is not yours.")]
    assert engine.nudge(nudge_id)["status"] == "delivered"


# ---- long polling -------------------------------------------------------------------------------


def _settings(engine: Engine) -> Any:
    assert engine.settings.telegram is not None
    return engine.settings.telegram


def test_polling_answers_in_order_honours_the_offset_and_confirms_on_stop(
    engine: Engine, bot: Conversation, api: TelegramApi
) -> None:
    api.webhook = {"url": "https://old.example.org/hook"}
    telegram = TelegramBot(engine, _settings(engine), conversation=bot, poll_seconds=1)

    poll_until_caught_up(telegram, api, said(CHAT, "/start", NOW), said(CHAT, "Berlin", NOW))

    assert api.methods()[0] == "deleteWebhook"  # getUpdates is refused while a webhook is set
    assert api.webhook is None
    texts_sent = api.texts(CHAT)
    assert texts_sent[0].startswith("Hi!")
    assert texts_sent[1].startswith("Got it: Europe/Berlin")
    offsets = [p.get("offset") for p in api.said("getUpdates")]
    assert offsets[0] is None
    assert offsets[-1] == "3"  # after updates 1 and 2 (PTB sends form fields)
    assert api.pending() == []  # confirmed: a restart does not see them again
    assert api.said("getUpdates")[0]["allowed_updates"] == ["message", "callback_query"]


def test_one_bad_update_does_not_stop_polling(
    engine: Engine, bot: Conversation, fake: FakeAgenda, api: TelegramApi
) -> None:
    known_user(engine)
    other = 5151
    engine.upsert_user({"id": "bo", "timezone": "Europe/Berlin", "addresses": {"telegram": "0"}})
    fake.answers["Team meeting 3-4 PM Friday"] = changes(
        added=[meeting("team meeting", local(27, 15), local(27, 16))]
    )
    api.fail("getUpdates", (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}))
    telegram = TelegramBot(engine, _settings(engine), conversation=bot, poll_seconds=1)

    poll_until_caught_up(
        telegram,
        api,
        said(CHAT, "boom", NOW),  # the agenda raises: logged, apologised for
        {"message": "not a message at all"},  # nonsense in the update itself
        {"message": {"chat": "4242", "text": "hi"}},
        {"message": {"chat": {"id": CHAT, "type": "private"}, "text": "no id, no date"}},
        said(0, "/help", NOW),  # Telegram refuses our reply: logged
        said(other, "/start", NOW),
        said(CHAT, "Team meeting 3-4 PM Friday", NOW),
    )

    assert api.texts(CHAT) == [texts.SORRY, "Noted: Team meeting, Fri 27 Nov 15:00–16:00.\n"
                                             "I'll remind you 30 minutes before."]  # fmt: skip
    assert api.texts(other)[0].startswith("Hi!")


def test_polling_stops_when_told_even_in_a_long_poll(
    engine: Engine, bot: Conversation, api: TelegramApi
) -> None:
    telegram = TelegramBot(engine, _settings(engine), conversation=bot, poll_seconds=30)

    async def main() -> float:
        stop = asyncio.Event()
        polling = asyncio.create_task(telegram.poll(stop))
        while api.waiting_with is None:
            await asyncio.sleep(0.01)
        began = time.monotonic()
        stop.set()
        await polling
        await telegram.aclose()
        return time.monotonic() - began

    assert asyncio.run(main()) < 2


# ---- the webhook route --------------------------------------------------------------------------


def test_the_webhook_route_hands_messages_to_the_bot_and_answers_with_a_method(
    engine: Engine, api: TelegramApi
) -> None:
    client = TestClient(create_app(engine))
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    answer = client.post("/v1/telegram/updates", json={"update_id": 9, **said(CHAT, "/start", NOW)},
                         headers=headers)  # fmt: skip

    assert answer.status_code == 200
    body = answer.json()
    assert (body["method"], body["chat_id"], body["parse_mode"]) == ("sendMessage", CHAT, "HTML")
    assert body["text"].startswith("Hi!")
    assert engine.user(f"tg-{CHAT}").addresses == {"telegram": str(CHAT)}
    refused = client.post("/v1/telegram/updates", json=said(CHAT, "/start", NOW))
    assert refused.status_code == 401


def test_a_press_through_the_webhook_answers_inline_and_edits_the_message_after(
    engine: Engine, api: TelegramApi
) -> None:
    nudge_id, message = _nudge_in_chat(engine, api)
    client = TestClient(create_app(engine))
    press = press_update(CHAT, f"d:{nudge_id}", message)

    answer = client.post("/v1/telegram/updates", json={"update_id": 1, **press},
                         headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})  # fmt: skip

    assert answer.json() == {"method": "answerCallbackQuery", "text": "Dismissed",
                             "callback_query_id": press["callback_query"]["id"]}  # fmt: skip
    assert engine.nudge(nudge_id)["status"] == "dismissed"
    [edit] = api.said("editMessageReplyMarkup")  # sent after the answer: buttons removed
    assert (edit["chat_id"], edit["message_id"]) == (str(CHAT), str(message["message_id"]))
    assert "reply_markup" not in api.sent(CHAT)[0]


# ---- nudgeflow telegram -------------------------------------------------------------------------


def _env(engine: Engine, api: TelegramApi, secret: str | None = SECRET) -> dict[str, str]:
    env = {
        "NUDGEFLOW_DATABASE_URL": engine.settings.database_url,
        "NUDGEFLOW_TELEGRAM__BOT_TOKEN": TOKEN,
        "NUDGEFLOW_TELEGRAM__BASE_URL": api.url,
    }
    return env | ({"NUDGEFLOW_TELEGRAM__WEBHOOK_SECRET": secret} if secret else {})


def test_webhook_mode_registers_the_url_with_the_secret_and_exits(
    engine: Engine, api: TelegramApi
) -> None:
    url = "https://coach.example.org/v1/telegram/updates"
    result = CliRunner().invoke(telegram_command, ["--webhook", url], env=_env(engine, api))

    assert result.exit_code == 0, result.output
    assert api.webhook is not None
    assert (api.webhook["url"], api.webhook["secret_token"]) == (url, SECRET)
    assert api.webhook["allowed_updates"] == ["message", "callback_query"]
    assert TOKEN not in result.output


@pytest.mark.parametrize(
    ("args", "secret", "says"),
    [
        (["--webhook", "https://coach.example.org/hook"], None, "telegram.webhook_secret"),
        (["--webhook", "https://coach.example.org/hook"], "has spaces", "telegram.webhook_secret"),
        (["--webhook", "http://coach.example.org/hook"], SECRET, "only to https://"),
    ],
)
def test_webhook_mode_refuses_without_a_usable_secret_or_https(
    engine: Engine, api: TelegramApi, args: list[str], secret: str | None, says: str
) -> None:
    result = CliRunner().invoke(telegram_command, args, env=_env(engine, api, secret))
    assert result.exit_code == 2
    assert says in result.output
    assert api.calls == []


def test_a_wrong_token_is_a_clear_error(engine: Engine, api: TelegramApi) -> None:
    env = _env(engine, api) | {"NUDGEFLOW_TELEGRAM__BOT_TOKEN": "987:wrong-token_x"}
    result = CliRunner().invoke(telegram_command, [], env=env)
    assert result.exit_code == 2
    assert "Telegram does not know this token" in result.output
    assert "wrong-token" not in result.output


def test_a_bot_username_of_another_bot_is_a_clear_error(engine: Engine, api: TelegramApi) -> None:
    env = _env(engine, api) | {"NUDGEFLOW_TELEGRAM__BOT_USERNAME": "other_bot"}
    result = CliRunner().invoke(telegram_command, [], env=env)
    assert result.exit_code == 2
    assert "telegram.bot_username: 'other_bot' is not this bot: the token is @coach_bot's" in (
        result.output
    )
    assert api.methods() == ["getMe"]


def test_polling_mode_runs_until_sigterm(engine: Engine, api: TelegramApi) -> None:
    api.push(said(CHAT, "/start", NOW))

    def terminate_when_answered() -> None:
        for _ in range(1000):
            if api.caught_up():
                break
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_when_answered, daemon=True).start()
    result = CliRunner().invoke(telegram_command, ["--log-format", "console"],
                                env=_env(engine, api))  # fmt: skip

    assert result.exit_code == 0, result.output
    assert api.methods()[:2] == ["getMe", "deleteWebhook"]
    assert api.texts(CHAT)[0].startswith("Hi!")
    assert api.pending() == []


def _users(engine: Engine) -> list[dict[str, Any]]:
    return [{"id": u} for u in sorted(_user_ids(engine))]


def _user_ids(engine: Engine) -> set[str]:
    import sqlalchemy as sa

    from nudgeflow.store.schema import users

    with engine.db.connect() as conn:
        return {row.id for row in conn.execute(sa.select(users.c.id))}
