"""From decision to inbox and back: a nudge decided for email goes through the outbox to a real
SMTP server, and the links in the email it receives work on the app — opening one changes
nothing, its button acts, and one-click unsubscribe turns email off."""

from __future__ import annotations

import asyncio
import email
import re
import socket
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient

from nudgeflow.api import create_app
from nudgeflow.channels import configured
from nudgeflow.clock import FrozenClock
from nudgeflow.config import load_settings
from nudgeflow.dispatch import Dispatcher
from nudgeflow.engine import Engine
from nudgeflow.rules import Candidate, Facts, Playbook

APP = "https://nudges.example.org"
coach = Playbook("coach")


@coach.rule(cadence="hourly", cooldown="1d", channels=["email"])
def weekly_review(facts: Facts, now: datetime) -> Candidate:
    return Candidate(
        f"review:{now:%Y-%m-%d}",
        "Your weekly review",
        "Ten minutes to look back at the week.",
        action_label="Start the review",
        action_url="https://app.example.org/review",
    )


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(envelope.content)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    server = Controller(box, hostname="127.0.0.1", port=port)
    server.start()
    yield box, port
    server.stop()


@pytest.fixture
def engine(database_url: str, clock: FrozenClock, mailbox: tuple[Mailbox, int]) -> Iterator[Engine]:
    settings = load_settings(
        database_url=database_url,
        public_url=APP,
        email={
            "sender": "Coach <coach@example.org>",
            "postal_address": "Example Ltd, 1 Main St, Springfield",
            "smtp": {"host": "127.0.0.1", "port": mailbox[1], "timeout_seconds": 5},
        },
    )
    made = Engine(database_url, settings=settings, clock=clock, playbooks=[coach])
    yield made
    made.close()


def send_email(engine: Engine, mailbox: Mailbox) -> tuple[str, EmailMessage]:
    """Ana's nudge decided and dispatched; its id and the email as her client reads it."""
    engine.upsert_user({"id": "ana", "addresses": {"email": "ana@example.org"}})
    engine.sweep()
    dispatcher = Dispatcher(engine, configured(engine.settings))
    assert asyncio.run(dispatcher.run_once()) == {"sent": 1}
    [nudge] = engine.nudges(user_id="ana")
    [raw] = mailbox.messages
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return str(nudge["id"]), message


def links(message: EmailMessage) -> dict[str, str]:
    """Our links in the text part, by purpose, as paths on the app."""
    text = message.get_body(("plain",))
    assert isinstance(text, EmailMessage)
    found = re.findall(rf"{re.escape(APP)}(/(\w+)/[\w.\-]+)", text.get_content())
    by_purpose: dict[str, str] = {}
    for path, kind in found:
        by_purpose.setdefault(kind, path)
    return by_purpose


def test_the_accept_link_in_the_email_shows_a_page_and_its_button_acts(
    engine: Engine, mailbox: tuple[Mailbox, int]
) -> None:
    nudge_id, message = send_email(engine, mailbox[0])
    assert message["To"] == "ana@example.org"
    assert message["Subject"] == "Your weekly review"
    assert engine.nudge(nudge_id)["status"] == "delivered"
    paths = links(message)
    assert {"act", "preferences", "unsubscribe"} <= set(paths)
    app = TestClient(create_app(engine))

    opened = app.get(paths["act"])  # what a mail scanner does
    assert opened.status_code == 200
    assert "Your weekly review" in opened.text
    assert engine.nudge(nudge_id)["status"] == "delivered"
    acted = app.post(paths["act"])
    assert acted.status_code == 200
    assert engine.nudge(nudge_id)["status"] == "accepted"
    assert app.post(paths["act"]).status_code == 200  # idempotent
    assert app.get(paths["preferences"]).status_code == 200


def test_one_click_unsubscribe_from_the_header_turns_email_off(
    engine: Engine, mailbox: tuple[Mailbox, int]
) -> None:
    _, message = send_email(engine, mailbox[0])
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = str(message["List-Unsubscribe"])
    assert header.startswith(f"<{APP}/unsubscribe/")
    app = TestClient(create_app(engine))

    answer = app.post(
        header.strip("<>").removeprefix(APP),
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert answer.status_code == 200
    assert "email" not in engine.preferences("ana").channels
