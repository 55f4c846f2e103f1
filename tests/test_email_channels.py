"""The email channels against real servers on 127.0.0.1: an aiosmtpd SMTP server receives what
SmtpChannel sends, and an aiohttp server speaks Mailgun's and SendGrid's HTTP APIs. Each email
is read back with the `email` package, as a mail client would."""

from __future__ import annotations

import asyncio
import base64
import email
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr

from nudgeflow import providers
from nudgeflow.channels.base import Channel, Failed, Links, Outgoing, Result, Retry, Sent
from nudgeflow.channels.email import email_channel
from nudgeflow.channels.mailgun import MailgunChannel
from nudgeflow.channels.sendgrid import SendGridChannel
from nudgeflow.channels.smtp import SmtpChannel

TOKEN = "eyJ1IjoidV8wMWgiLCJwIjoiYWNjZXB0In0." + "x" * 90  # as long as a real signed token
LINKS = Links(
    accept=f"https://nudges.example.org/act/{TOKEN}a",
    dismiss=f"https://nudges.example.org/act/{TOKEN}d",
    snooze=f"https://nudges.example.org/act/{TOKEN}s",
    preferences=f"https://nudges.example.org/preferences/{TOKEN}p",
    unsubscribe=f"https://nudges.example.org/unsubscribe/{TOKEN}u",
)
POSTAL = "Example Ltd, 1 Main St, Springfield"
SENDER = "Career Coach <coach@example.org>"


def outgoing(
    title: str = "Your interview is tomorrow", address: str | None = "ada@example.org"
) -> Outgoing:
    return Outgoing(
        delivery_id="d_01jd2xk5m8",
        attempt=1,
        nudge={"id": "n_1", "user_id": "u_1", "rule": "interview_prep", "title": title,
               "body": "Read your notes on the company.", "action_label": "Prepare now",
               "action_url": "https://app.example.org/prep", "expires_at": None},
        user={"id": "u_1", "locale": "en", "timezone": "Europe/Berlin",
              "addresses": {"email": address} if address else {}},
        links=LINKS,
        created_at=datetime(2026, 11, 23, 8, tzinfo=UTC),
    )  # fmt: skip


def settings(**changes: Any) -> providers.Email:
    return providers.Email(
        sender=SENDER, postal_address=POSTAL, reply_to="Help <help@example.org>", **changes
    )


async def deliver(channel: Channel, message: Outgoing) -> Result:
    """One send, then the channel closed, as the dispatcher does at shutdown."""
    try:
        return await channel.send(message)
    finally:
        await channel.aclose()


def closed_port() -> int:
    """A port nothing listens on: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ---- SMTP -----------------------------------------------------------------------------------


@dataclass
class Inbox:
    """An aiosmtpd handler: keeps each envelope, or answers RCPT or DATA as told."""

    rcpt_reply: str | None = None
    data_reply: str | None = None
    received: list[Envelope] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        self.received.append(envelope)
        return "250 Message accepted for delivery"


@asynccontextmanager
async def smtp_server(inbox: Inbox, **options: Any) -> AsyncIterator[providers.Smtp]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(inbox, hostname="inbox.test", **options), "127.0.0.1", 0
    )
    try:
        yield providers.Smtp(
            host="127.0.0.1", port=server.sockets[0].getsockname()[1], timeout_seconds=5
        )
    finally:
        server.close()


def smtp_send(inbox: Inbox, message: Outgoing, **server_options: Any) -> Result:
    async def main() -> Result:
        async with smtp_server(inbox, **server_options) as smtp:
            return await deliver(SmtpChannel(settings(smtp=smtp)), message)

    return asyncio.run(main())


def received(inbox: Inbox) -> tuple[bytes, EmailMessage]:
    """The one email the inbox got: as it came, and as a mail client reads it."""
    assert len(inbox.received) == 1
    content = inbox.received[0].content
    assert isinstance(content, bytes)
    parsed = email.message_from_bytes(content, policy=default)
    assert isinstance(parsed, EmailMessage)
    return content, parsed


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


def test_smtp_sends_a_text_and_an_html_part_with_every_link_and_one_click_unsubscribe() -> None:
    inbox = Inbox()
    result = smtp_send(inbox, outgoing())

    assert result == Sent("<d_01jd2xk5m8@example.org>")
    assert inbox.received[0].mail_from == "coach@example.org"
    assert inbox.received[0].rcpt_tos == ["ada@example.org"]
    raw, message = received(inbox)
    assert message["From"] == SENDER
    assert message["To"] == "ada@example.org"
    assert message["Reply-To"] == "Help <help@example.org>"
    assert message["Subject"] == "Your interview is tomorrow"
    assert message["Message-ID"] == result.provider_id
    assert message["List-Unsubscribe"] == f"<{LINKS.unsubscribe}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    # the URL stays one plain header line (the stdlib would fold it into encoded-words)
    assert f"\r\nList-Unsubscribe: <{LINKS.unsubscribe}>\r\n".encode() in raw
    text, html = parts(message)
    for part in (text, html):
        assert "Read your notes on the company." in part
        assert "Prepare now" in part
        assert POSTAL in part
        for link in (
            LINKS.accept,
            LINKS.snooze,
            LINKS.dismiss,
            LINKS.preferences,
            LINKS.unsubscribe,
        ):
            assert link in part
    assert f'<a href="{LINKS.accept}"' in html


def test_a_hostile_title_is_escaped_in_html_and_cannot_add_headers() -> None:
    title = '<script>alert("x")</script> Über & co\r\nBcc: mallory@example.org'
    inbox = Inbox()
    assert isinstance(smtp_send(inbox, outgoing(title)), Sent)

    _, message = received(inbox)
    assert message["Bcc"] is None
    assert inbox.received[0].rcpt_tos == ["ada@example.org"]
    assert message["Subject"] == '<script>alert("x")</script> Über & co Bcc: mallory@example.org'
    text, html = parts(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Über &amp; co" in html
    assert '<script>alert("x")</script> Über & co' in text  # plain text is not HTML-escaped


@pytest.mark.parametrize(
    ("reply", "unreachable"),
    [
        ("451 4.3.0 Try again later", None),  # None: Retry
        ("452 4.2.2 Mailbox full for now", None),
        ("550 5.1.1 No such user here", True),
        ("553 Mailbox name not allowed", True),  # no enhanced code: the reply code decides
        ("550 5.7.1 Rejected by policy", False),  # about the email, not the address
        ("552 5.2.2 Mailbox full", False),
    ],
)
def test_a_refused_recipient_maps_by_reply_code(reply: str, unreachable: bool | None) -> None:
    result = smtp_send(Inbox(rcpt_reply=reply), outgoing())

    if unreachable is None:
        assert isinstance(result, Retry)
    else:
        assert isinstance(result, Failed)
        assert result.unreachable is unreachable
    assert reply.split(maxsplit=1)[0] in result.reason


def test_content_refused_after_data_is_failed_but_the_address_stays() -> None:
    result = smtp_send(Inbox(data_reply="554 5.6.0 Message content rejected"), outgoing())

    assert isinstance(result, Failed)
    assert not result.unreachable
    assert "554" in result.reason


def test_smtp_login_is_used_and_a_refused_one_is_retried() -> None:
    logins: list[LoginPassword] = []

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        logins.append(data)
        return AuthResult(success=data.password == b"s3cret", handled=False)

    async def main(password: str) -> Result:
        async with smtp_server(
            Inbox(), authenticator=authenticator, auth_require_tls=False
        ) as smtp:
            login = smtp.model_copy(
                update={"username": "nudgeflow", "password": SecretStr(password)}
            )
            return await deliver(SmtpChannel(settings(smtp=login)), outgoing())

    assert isinstance(asyncio.run(main("s3cret")), Sent)
    refused = asyncio.run(main("wrong"))
    assert isinstance(refused, Retry)
    assert "authentication" in refused.reason
    assert {login.login for login in logins} == {b"nudgeflow"}


def test_smtp_connection_refused_is_retry() -> None:
    smtp = providers.Smtp(host="127.0.0.1", port=closed_port(), timeout_seconds=2)

    result = asyncio.run(deliver(SmtpChannel(settings(smtp=smtp)), outgoing()))

    assert isinstance(result, Retry)


def test_an_smtp_server_that_never_answers_is_retry_after_the_timeout() -> None:
    async def main() -> Result:
        silent = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        smtp = providers.Smtp(host="127.0.0.1", port=port, timeout_seconds=0.2)
        try:
            return await deliver(SmtpChannel(settings(smtp=smtp)), outgoing())
        finally:
            silent.close()

    result = asyncio.run(main())

    assert isinstance(result, Retry)
    assert "Timed out" in result.reason


@pytest.mark.parametrize("address", [None, "ada@example.org\r\nBcc: mallory@example.org", "ada"])
def test_no_or_no_valid_address_fails_without_connecting(address: str | None) -> None:
    smtp = providers.Smtp(host="127.0.0.1", port=closed_port(), timeout_seconds=2)

    result = asyncio.run(deliver(SmtpChannel(settings(smtp=smtp)), outgoing(address=address)))

    assert isinstance(result, Failed)
    assert not result.unreachable


# ---- Mailgun and SendGrid over HTTP ---------------------------------------------------------


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    form: dict[str, str] | None
    json: Any


@dataclass
class FakeApi:
    """Answers each POST with (status, headers, body) and keeps what it was sent."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    calls: list[Call] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        form, json = None, None
        if request.content_type.startswith("multipart/"):
            form = {key: str(value) for key, value in (await request.post()).items()}
        else:
            json = await request.json()
        self.calls.append(Call(request.path, dict(request.headers), form, json))
        return web.Response(status=self.status, headers=self.headers, body=self.body)


@asynccontextmanager
async def api_server(api: FakeApi) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/{tail:.*}", api.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def http_settings(provider: str, base_url: str) -> providers.Email:
    if provider == "mailgun":
        mailgun = providers.Mailgun(domain="mg.example.org", api_key="key-abc", base_url=base_url)
        return settings(provider="mailgun", mailgun=mailgun)
    sendgrid = providers.SendGrid(api_key="SG.abc", base_url=base_url)
    return settings(provider="sendgrid", sendgrid=sendgrid)


def http_send(provider: str, api: FakeApi, message: Outgoing | None = None) -> Result:
    async def main() -> Result:
        async with api_server(api) as base_url:
            channel = email_channel(http_settings(provider, base_url))
            return await deliver(channel, message or outgoing())

    return asyncio.run(main())


def test_mailgun_gets_basic_auth_and_the_form_fields_of_its_messages_api() -> None:
    api = FakeApi(
        200, body=b'{"id": "<20261123.1@mg.example.org>", "message": "Queued. Thank you."}'
    )

    result = http_send("mailgun", api)

    assert result == Sent("<20261123.1@mg.example.org>")
    [call] = api.calls
    assert call.path == "/v3/mg.example.org/messages"
    assert call.headers["Authorization"] == "Basic " + base64.b64encode(b"api:key-abc").decode()
    assert call.headers["Content-Type"].startswith("multipart/form-data")
    assert call.form is not None
    form = call.form
    assert form["from"] == SENDER
    assert form["to"] == "ada@example.org"
    assert form["subject"] == "Your interview is tomorrow"
    assert form["h:Reply-To"] == "Help <help@example.org>"
    assert form["h:List-Unsubscribe"] == f"<{LINKS.unsubscribe}>"
    assert form["h:List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert form["v:delivery_id"] == "d_01jd2xk5m8"
    for part in (form["text"], form["html"]):
        assert LINKS.accept in part
        assert LINKS.preferences in part
        assert POSTAL in part


def test_sendgrid_gets_a_bearer_key_and_the_v3_mail_send_json() -> None:
    api = FakeApi(202, headers={"X-Message-Id": "W9SN4dpfRWmMaVtDoUqSEg"})

    result = http_send("sendgrid", api)

    assert result == Sent("W9SN4dpfRWmMaVtDoUqSEg")
    [call] = api.calls
    assert call.path == "/v3/mail/send"
    assert call.headers["Authorization"] == "Bearer SG.abc"
    assert call.headers["Content-Type"] == "application/json"
    sent = call.json
    assert sent["personalizations"] == [{"to": [{"email": "ada@example.org"}]}]
    assert sent["from"] == {"email": "coach@example.org", "name": "Career Coach"}
    assert sent["reply_to"] == {"email": "help@example.org", "name": "Help"}
    assert sent["subject"] == "Your interview is tomorrow"
    assert [c["type"] for c in sent["content"]] == ["text/plain", "text/html"]
    assert sent["headers"] == {
        "List-Unsubscribe": f"<{LINKS.unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert sent["custom_args"] == {"delivery_id": "d_01jd2xk5m8"}
    assert sent["tracking_settings"] == {"subscription_tracking": {"enable": False}}
    for part in sent["content"]:
        assert LINKS.snooze in part["value"]
        assert LINKS.unsubscribe in part["value"]


ERRORS = {
    "mailgun": b'{"message": "to parameter is not a valid address"}',
    "sendgrid": b'{"errors": [{"message": "Does not contain a valid address.", "field": "personalizations.0.to.0.email", "help": null}]}',
}
HTTP = pytest.mark.parametrize("provider", ["mailgun", "sendgrid"])


@HTTP
def test_429_is_retried_after_the_providers_retry_after(provider: str) -> None:
    result = http_send(provider, FakeApi(429, headers={"Retry-After": "7"}, body=b"{}"))

    assert result == Retry(f"{provider} answered HTTP 429", after=7.0)


def test_sendgrid_429_waits_until_its_rate_limit_resets() -> None:
    reset = str(int(time.time()) + 30)
    api = FakeApi(
        429,
        headers={"X-RateLimit-Reset": reset},
        body=b'{"errors": [{"message": "too many requests"}]}',
    )

    result = http_send("sendgrid", api)

    assert isinstance(result, Retry)
    assert result.after is not None
    assert 25 <= result.after <= 30
    assert "too many requests" in result.reason


@HTTP
@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_is_retried_with_backoff(provider: str, status: int) -> None:
    result = http_send(provider, FakeApi(status, body=b"upstream trouble"))

    assert result == Retry(f"{provider} answered HTTP {status}")


@HTTP
def test_a_refused_request_is_failed_with_the_providers_words(provider: str) -> None:
    result = http_send(provider, FakeApi(400, body=ERRORS[provider]))

    assert isinstance(result, Failed)
    assert not result.unreachable
    assert "HTTP 400" in result.reason
    assert "valid address" in result.reason


@HTTP
def test_a_refused_api_key_is_retried_so_the_breaker_parks_deliveries(provider: str) -> None:
    result = http_send(provider, FakeApi(401, body=b'{"message": "Forbidden"}'))

    assert isinstance(result, Retry)
    assert result.after is None
    assert "API key" in result.reason


@HTTP
def test_connection_refused_is_retry(provider: str) -> None:
    async def main() -> Result:
        channel = email_channel(http_settings(provider, f"http://127.0.0.1:{closed_port()}"))
        return await deliver(channel, outgoing())

    result = asyncio.run(main())

    assert isinstance(result, Retry)
    assert provider in result.reason


@HTTP
def test_concurrent_emails_share_a_channel_which_reopens_after_aclose(provider: str) -> None:
    api = FakeApi(200 if provider == "mailgun" else 202, body=b'{"id": "<1@mg.example.org>"}')

    async def main() -> list[Result]:
        async with api_server(api) as base_url:
            channel = email_channel(http_settings(provider, base_url))
            results = await asyncio.gather(*(channel.send(outgoing()) for _ in range(5)))
            await channel.aclose()
            return [*results, await deliver(channel, outgoing())]

    results = asyncio.run(main())

    assert all(isinstance(r, Sent) for r in results)
    assert len(api.calls) == 6


# ---- choosing the channel -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "kind"),
    [("smtp", SmtpChannel), ("mailgun", MailgunChannel), ("sendgrid", SendGridChannel)],
)
def test_the_factory_builds_the_configured_provider(provider: str, kind: type[Any]) -> None:
    channel = email_channel(
        http_settings(provider, "https://api.example.org") if provider != "smtp" else settings()
    )

    assert isinstance(channel, kind)
    assert (channel.name, channel.provider) == ("email", provider)
    assert channel.resend_is_harmless is False
    assert channel.limits.overall is None
    assert channel.limits.concurrency > 0
    assert channel.recipient(outgoing()) == "ada@example.org"
    assert channel.recipient(outgoing(address=None)) is None
