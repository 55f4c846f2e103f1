"""The webhook channel against a real HTTP server on 127.0.0.1: what it posts and how it signs
it (checked with the Standard Webhooks reference library), what each answer means, and which
targets it refuses before sending anything."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver
from standardwebhooks import Webhook as Verifier

from nudgeflow import providers
from nudgeflow.channels import webhook
from nudgeflow.channels.base import Failed, Links, Outgoing, Result, Retry, Sent
from nudgeflow.channels.webhook import WebhookChannel, unsafe_kind

SECRET = "whsec_" + base64.b64encode(b"a test secret of 32 bytes, ok!!!").decode()
CREATED = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
LINKS = Links(
    accept="https://app.example.org/act/a",
    dismiss="https://app.example.org/act/d",
    snooze="https://app.example.org/act/s",
    preferences="https://app.example.org/preferences/p",
    unsubscribe="https://app.example.org/unsubscribe/u",
)
NUDGE: dict[str, Any] = {
    "id": "ndg-1",
    "user_id": "ana",
    "rule": "career.profile_incomplete",
    "title": "Finish your profile",
    "body": "Two fields left.",
    "action_label": "Finish it",
    "action_url": "https://app.example.org/profile",
    "expires_at": datetime(2026, 11, 30, 9, 0, tzinfo=ZoneInfo("Europe/Berlin")),
    "score": 0.7,  # not part of the payload
    "data": {"internal": True},
}


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 answering from a script (then 200); keeps what it got."""

    answers: list[tuple[int, dict[str, str]]]
    slow: bool = False
    port: int = 0
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/nudges?token=t0ken"

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((dict(request.headers), await request.read()))
        if self.slow:
            await self.release.wait()
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        body = headers.pop("body", None)  # an answer's body, when a test gives one
        return web.Response(status=status, headers=headers, text=body)


@asynccontextmanager
async def receiving(
    *answers: tuple[int, dict[str, str]], slow: bool = False
) -> AsyncIterator[Receiver]:
    receiver = Receiver(list(answers), slow=slow)
    app = web.Application()
    app.router.add_post("/hooks/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.port = runner.addresses[0][1]
    try:
        yield receiver
    finally:
        receiver.release.set()
        await runner.cleanup()


def channel(*, allow_private: bool = True, timeout: float = 2.0) -> WebhookChannel:
    settings = providers.Webhook(
        secret=SECRET, allow_private=allow_private, timeout_seconds=timeout
    )
    return WebhookChannel(settings)


def outgoing(url: str | None, delivery_id: str = "dlv-1", attempt: int = 1) -> Outgoing:
    addresses = {"webhook": url} if url is not None else {}
    return Outgoing(
        delivery_id=delivery_id,
        attempt=attempt,
        nudge=NUDGE,
        user={"id": "ana", "locale": "en", "timezone": "Europe/Berlin", "addresses": addresses},
        links=LINKS,
        created_at=CREATED,
    )


def exchange(
    *answers: tuple[int, dict[str, str]],
    attempts: int = 1,
    slow: bool = False,
    allow_private: bool = True,
    timeout: float = 2.0,
    url: str | None = None,
) -> tuple[list[Result], list[tuple[dict[str, str], bytes]]]:
    """Send one delivery `attempts` times to a receiver (or to `url`, "{port}" filled in)."""

    async def scenario() -> tuple[list[Result], list[tuple[dict[str, str], bytes]]]:
        async with receiving(*answers, slow=slow) as receiver:
            target = url.format(port=receiver.port) if url is not None else receiver.url
            hook = channel(allow_private=allow_private, timeout=timeout)
            try:
                results = [
                    await hook.send(outgoing(target, attempt=n)) for n in range(1, attempts + 1)
                ]
            finally:
                await hook.aclose()
            return results, receiver.got

    return asyncio.run(scenario())


# ---- what goes out ------------------------------------------------------------------------------


def test_a_delivery_is_posted_as_signed_json_with_the_nudge_and_its_links() -> None:
    results, got = exchange()
    assert results == [Sent()]
    [(headers, body)] = got
    assert Verifier(SECRET).verify(body, headers) == {
        "type": "nudge.delivered",
        "timestamp": "2026-11-23T08:00:00Z",
        "data": {
            "delivery_id": "dlv-1",
            "nudge": {
                "id": "ndg-1",
                "user_id": "ana",
                "rule": "career.profile_incomplete",
                "title": "Finish your profile",
                "body": "Two fields left.",
                "action_label": "Finish it",
                "action_url": "https://app.example.org/profile",
                "expires_at": "2026-11-30T08:00:00Z",
            },
            "links": {
                "accept": "https://app.example.org/act/a",
                "dismiss": "https://app.example.org/act/d",
                "snooze": "https://app.example.org/act/s",
                "preferences": "https://app.example.org/preferences/p",
                "unsubscribe": "https://app.example.org/unsubscribe/u",
            },
        },
    }
    assert headers["webhook-id"] == "dlv-1"
    assert headers["Content-Type"] == "application/json"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    assert headers["webhook-signature"].startswith("v1,")


def test_the_id_of_what_the_receiver_made_of_it_is_kept() -> None:
    journal = {"body": '{"ref": "journal-entry-81"}', "Content-Type": "application/json"}
    assert exchange((200, journal))[0] == [Sent(host_ref="journal-entry-81")]
    assert exchange((201, {"body": "thanks"}))[0] == [Sent()]
    assert exchange((200, {"body": '{"ref": 81}'}))[0] == [Sent()]  # not an id we can keep
    assert exchange((200, {"body": '{"ref": "' + "x" * 300 + '"}'}))[0] == [Sent()]


def test_a_retry_of_a_delivery_carries_the_same_webhook_id_and_body() -> None:
    results, got = exchange((503, {}), attempts=2)
    assert isinstance(results[0], Retry)
    assert results[1] == Sent()
    (first, body1), (second, body2) = got
    assert first["webhook-id"] == second["webhook-id"] == "dlv-1"
    assert body1 == body2
    for headers, body in got:
        Verifier(SECRET).verify(body, headers)


def test_a_signature_made_with_another_secret_does_not_verify() -> None:
    _, [(headers, body)] = exchange()
    other = "whsec_" + base64.b64encode(b"another secret of 32 bytes, no!!").decode()
    with pytest.raises(Exception, match="signature"):
        Verifier(other).verify(body, headers)


# ---- what the answers mean ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, {}, Sent()),
        (204, {}, Sent()),
        (410, {}, Failed),
        (429, {"Retry-After": "5"}, Retry),
        (429, {}, Retry),
        (503, {}, Retry),
        (500, {}, Retry),
        (408, {}, Retry),
        (400, {}, Failed),
        (404, {}, Failed),
        (301, {"Location": "http://10.0.0.1/"}, Failed),
    ],
)
def test_each_answer_maps_to_a_typed_result(
    status: int, headers: dict[str, str], expected: Result | type
) -> None:
    [result], got = exchange((status, headers))
    assert len(got) == 1  # a redirect is not followed
    if isinstance(expected, type):
        assert isinstance(result, expected)
    else:
        assert result == expected


def test_410_gone_means_the_address_is_unreachable() -> None:
    [result], _ = exchange((410, {}))
    assert isinstance(result, Failed)
    assert result.unreachable
    assert "410" in result.reason


def test_other_client_errors_fail_without_marking_the_address_unreachable() -> None:
    [result], _ = exchange((400, {}))
    assert result == Failed("webhook host 127.0.0.1 answered HTTP 400")


def test_429_waits_as_long_as_the_receiver_asks() -> None:
    [result], _ = exchange((429, {"Retry-After": "5"}))
    assert isinstance(result, Retry)
    assert result.after == 5


def test_retry_after_may_be_an_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    [result], _ = exchange((503, {"Retry-After": format_datetime(when, usegmt=True)}))
    assert isinstance(result, Retry)
    assert result.after is not None
    assert 110 <= result.after <= 120


def test_a_server_error_without_retry_after_leaves_the_backoff_to_the_dispatcher() -> None:
    [result], _ = exchange((503, {}))
    assert result == Retry("webhook host 127.0.0.1 answered HTTP 503", None)


def test_a_refused_connection_is_retried() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there

    async def scenario() -> Result:
        hook = channel()
        try:
            return await hook.send(outgoing(f"http://127.0.0.1:{port}/hook"))
        finally:
            await hook.aclose()

    result = asyncio.run(scenario())
    assert isinstance(result, Retry)
    assert "cannot connect" in result.reason


def test_a_receiver_slower_than_the_timeout_is_retried() -> None:
    started = time.monotonic()
    [result], got = exchange(slow=True, timeout=0.2)
    assert isinstance(result, Retry)
    assert "did not answer within 0.2 s" in result.reason
    assert len(got) == 1
    assert time.monotonic() - started < 2


def test_reasons_name_the_host_but_not_the_url_that_may_hold_a_token() -> None:
    [result], _ = exchange((400, {}))
    assert isinstance(result, Failed)
    assert "t0ken" not in result.reason


# ---- targets refused ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hooks/x",
        "http://localhost:{port}/hooks/x",
        "http://127.1:{port}/hooks/x",
        "http://[::1]:{port}/hooks/x",
        "http://[::ffff:127.0.0.1]:{port}/hooks/x",
        "http://10.0.0.1:{port}/hooks/x",
        "http://192.168.1.20/hooks/x",
        "http://169.254.169.254/latest/meta-data/",
        "https://[fd00::1]/hooks/x",
        "http://0.0.0.0:{port}/hooks/x",
    ],
)
def test_private_targets_are_refused_without_a_request(url: str) -> None:
    [result], got = exchange(allow_private=False, url=url)
    assert isinstance(result, Failed)
    assert not result.unreachable
    assert "allow_private" in result.reason
    assert got == []


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/hook", "file:///etc/passwd", "gopher://example.org/", "http://", "hook"],
)
def test_only_http_and_https_urls_are_called(url: str) -> None:
    [result], got = exchange(allow_private=True, url=url)
    assert isinstance(result, Failed)
    assert not result.unreachable
    assert got == []


def test_a_user_without_a_webhook_url_has_no_recipient() -> None:
    hook = channel()
    assert hook.recipient(outgoing(None)) is None
    assert hook.recipient(outgoing("https://example.org/h")) == "https://example.org/h"
    assert asyncio.run(hook.send(outgoing(None))) == Failed("the user has no webhook URL")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("fc00::1", "private"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:c0a8:1::", "private"),  # 6to4 of 192.168.0.1
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),  # shared address space (carrier-grade NAT)
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_unsafe_kind_names_why_an_address_is_refused(address: str, kind: str | None) -> None:
    assert unsafe_kind(address) == kind


# ---- the connection pool and the lookup cache ---------------------------------------------------


class CountingResolver(ThreadedResolver):
    lookups = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        type(self).lookups += 1
        return await super().resolve(host, port, family)


@pytest.mark.parametrize("allow_private", [True, False])
def test_concurrent_sends_to_one_host_share_one_lookup(
    monkeypatch: pytest.MonkeyPatch, allow_private: bool
) -> None:
    monkeypatch.setattr(webhook, "ThreadedResolver", CountingResolver)
    CountingResolver.lookups = 0

    async def scenario() -> tuple[list[Result], int]:
        async with receiving() as receiver:
            hook = channel(allow_private=allow_private)
            url = f"http://localhost:{receiver.port}/hooks/x"
            try:
                sends = (hook.send(outgoing(url, f"dlv-{n}")) for n in range(20))
                results = await asyncio.gather(*sends)
            finally:
                await hook.aclose()
            return results, len(receiver.got)

    results, received = asyncio.run(scenario())
    assert CountingResolver.lookups == 1
    if allow_private:
        assert results == [Sent()] * 20
        assert received == 20
    else:
        assert all(isinstance(r, Failed) and "loopback" in r.reason for r in results)
        assert received == 0


def test_one_channel_works_across_event_loops() -> None:
    """One asyncio.run per round, as tests and scripts do: each loop gets its own session."""

    async def scenario(hook: WebhookChannel) -> Result:
        async with receiving() as receiver:
            return await hook.send(outgoing(receiver.url))

    hook = channel()
    assert asyncio.run(scenario(hook)) == Sent()
    assert asyncio.run(scenario(hook)) == Sent()
    asyncio.run(hook.aclose())


def test_a_secret_that_is_not_base64_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="not base64"):
        WebhookChannel(providers.Webhook(secret="whsec_not*base64!"))
