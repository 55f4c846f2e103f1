"""Webhooks: one signed JSON POST to the URL a user or the host app gave us.

Why it is built this way:

- Signed per Standard Webhooks (https://www.standardwebhooks.com), so receivers can use any of
  its libraries: `webhook-id` is the delivery id, the same on every retry, so a receiver
  dedupes by it and sending again is harmless. The body stays the same across retries too
  (its `timestamp` is when the delivery was created); only `webhook-timestamp` moves.
- The URL is untrusted input, so only http(s) goes out and, unless `allow_private`, every
  address its host resolves to must be public: no loopback, intranet or cloud metadata
  service (SSRF). The check lives in the connector's resolver, so the addresses checked are
  the addresses connected to (no DNS rebinding in between), and redirects are not followed.
- The hot path stays cheap: each host's checked addresses are remembered for a short time
  (concurrent lookups share one query), JSON comes from orjson, and one aiohttp session keeps
  `limits.concurrency` connections alive (httpx's async pool falls behind at this
  concurrency, encode/httpx#3215).

A receiver may answer a 2xx with JSON `{"ref": "..."}`, the id of what it made of the message
(a journal entry): it is kept with the generated message's attempt.

Status codes: 2xx Sent; 410 Failed(unreachable) (the endpoint disabled itself); 429 and 503
Retry after the receiver's Retry-After; 408, other 5xx and network errors Retry; any other
answer (4xx, 3xx) Failed. Reasons name the host only: a URL's path or query may hold a token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import ipaddress
import math
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from nudgeflow import providers
from nudgeflow.channels.base import Failed, Limits, Outgoing, Result, Retry, Sent

EVENT = "nudge.delivered"
NUDGE_FIELDS = ("id", "user_id", "rule", "title", "body", "action_label", "action_url")
USER_AGENT = "nudgeflow-webhook"
RESOLVE_TTL = 30.0  # seconds a host's checked addresses (or its refusal) are reused
MAX_HOSTS = 10_000  # remembered hosts before the cache is pruned
MAX_ANSWER = 64 * 1024  # bytes of an answer read so its connection can be reused
MAX_REF = 256  # as generation_attempts.host_ref holds
MAX_RETRY_AFTER = 86_400.0  # a receiver cannot park a delivery for more than a day
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_JSON = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
# the most specific first: 169.254.169.254 is link-local before it is private
_UNSAFE = ("loopback", "link_local", "multicast", "unspecified", "reserved", "private")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Key = tuple[str, int, int]  # host, port, address family
_Entry = tuple[float, asyncio.Task[list[ResolveResult]]]  # expires (monotonic), the lookup


class UnsafeTarget(OSError):
    """A webhook host resolves to an address we do not call (see `unsafe_kind`)."""


def unsafe_kind(address: str) -> str | None:
    """Why an IP address is no webhook target ("loopback", "private", "link-local", …), or None
    for a public one. IPv4 inside IPv6 (mapped, 6to4, NAT64) is judged as the IPv4 it carries."""
    ip: IPAddress = ipaddress.ip_address(address)
    ip = _embedded_ipv4(ip) or ip
    for kind in _UNSAFE:
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-public"


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret: its base64 part, decoded."""
    encoded = secret.removeprefix("whsec_")
    try:  # padding added: unpadded secrets work, as in the spec's libraries
        key = base64.b64decode(encoded + "==")
    except binascii.Error:
        raise ValueError("the webhook secret is not base64 (whsec_…)") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def payload(message: Outgoing) -> dict[str, Any]:
    """The JSON document a receiver gets: the event, when it happened, and the nudge."""
    nudge = {key: message.nudge.get(key) for key in NUDGE_FIELDS}
    nudge["expires_at"] = _utc(message.nudge.get("expires_at"))
    return {
        "type": EVENT,
        "timestamp": _utc(message.created_at),
        "data": {"delivery_id": message.delivery_id, "nudge": nudge, "links": message.links},
    }


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value  # naive datetimes are UTC already (orjson's OPT_NAIVE_UTC)


class CheckedResolver(AbstractResolver):
    """Resolves with the loop's getaddrinfo, refuses unsafe addresses unless `allow_private`,
    and remembers each answer or refusal for RESOLVE_TTL seconds; a failed lookup is not kept."""

    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._threaded = ThreadedResolver()
        self._cache: dict[_Key, _Entry] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        key, now = (host, port, family), time.monotonic()
        entry = self._cache.get(key)
        if entry is None or entry[0] <= now:
            entry = (now + RESOLVE_TTL, asyncio.ensure_future(self._lookup(key)))
            self._remember(key, entry, now)
        # shielded: one caller's timeout must not cancel the lookup the others share
        return await asyncio.shield(entry[1])

    async def _lookup(self, key: _Key) -> list[ResolveResult]:
        host, port, family = key
        try:
            found = await self._threaded.resolve(host, port, socket.AddressFamily(family))
        except OSError:
            self._cache.pop(key, None)
            raise
        if not self._allow_private:
            for address in found:
                if kind := unsafe_kind(address["host"]):
                    raise UnsafeTarget(
                        f"webhook host {host} is at {address['host']}, a {kind} address "
                        "(set allow_private to call it)"
                    )
        return found

    def _remember(self, key: _Key, entry: _Entry, now: float) -> None:
        if len(self._cache) >= MAX_HOSTS:
            self._cache = {k: e for k, e in self._cache.items() if e[0] > now}
            if len(self._cache) >= MAX_HOSTS:
                self._cache.clear()
        self._cache[key] = entry

    async def close(self) -> None:
        self._cache.clear()


@dataclass
class _Client:
    """The HTTP session and its resolver, both bound to one event loop."""

    loop: asyncio.AbstractEventLoop
    session: aiohttp.ClientSession
    resolver: CheckedResolver


class WebhookChannel:
    name = "webhook"
    provider = "webhook"
    resend_is_harmless = True  # receivers dedupe by webhook-id
    # Requests in flight: receivers answer in ~100 ms, so 256 keep ~2,500/s going. Most
    # deliveries go to one host (the host app's endpoint), so there is no lower per-host cap.
    limits = Limits(concurrency=256)

    def __init__(
        self, settings: providers.Webhook, *, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._key = secret_key(settings.secret.get_secret_value())
        self._allow_private = settings.allow_private
        self._timeout_seconds = settings.timeout_seconds
        self._clock = (
            wall_clock  # wall time for webhook-timestamp: receivers compare it with theirs
        )
        self._client: _Client | None = None

    def recipient(self, message: Outgoing) -> str | None:
        url = message.address.get("webhook")
        return str(url) if url else None

    async def send(self, message: Outgoing) -> Result:
        target = _target(self.recipient(message))
        if isinstance(target, Failed):
            return target
        client = await self._connected()
        refused = await self._refusal(client.resolver, target)
        if refused is not None:
            return refused
        body = orjson.dumps(payload(message), option=_JSON)
        headers = self._headers(message.delivery_id, body)
        return await self._post(client.session, target, body, headers)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.session.close()

    # ---- one request --------------------------------------------------------------------------

    def _headers(self, webhook_id: str, body: bytes) -> dict[str, str]:
        timestamp = str(int(self._clock()))
        signed = f"{webhook_id}.{timestamp}.".encode() + body
        signature = base64.b64encode(hmac.digest(self._key, signed, "sha256")).decode()
        return {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": f"v1,{signature}",
        }

    async def _refusal(self, resolver: CheckedResolver, target: URL) -> Result | None:
        """Check the host before anything is sent (the connector skips its resolver for IP
        literals); the connector's own lookup then comes from the same cache."""
        if self._allow_private:
            return None
        host, port = target.raw_host or "", target.port or 0
        try:
            await resolver.resolve(host, port, socket.AF_UNSPEC)
        except UnsafeTarget as exc:
            return Failed(str(exc))
        except (OSError, UnicodeError) as exc:
            return Retry(f"cannot resolve webhook host {host}: {exc}")
        return None

    async def _post(
        self, session: aiohttp.ClientSession, target: URL, body: bytes, headers: dict[str, str]
    ) -> Result:
        host = target.host
        try:
            async with session.post(
                target, data=body, headers=headers, allow_redirects=False
            ) as response:
                answer = await _drain(response)
                result = _result(response.status, response.headers, host, self._clock())
                return Sent(host_ref=_ref(answer)) if isinstance(result, Sent) else result
        except aiohttp.InvalidURL:
            return Failed(f"invalid webhook URL for host {host}")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, UnsafeTarget):  # the host moved since it was checked
                return Failed(str(exc.os_error))
            return Retry(f"cannot connect to webhook host {host}: {exc.os_error}")
        except TimeoutError:
            return Retry(f"webhook host {host} did not answer within {self._timeout_seconds:g} s")
        except aiohttp.ClientError as exc:
            return Retry(f"webhook host {host}: {type(exc).__name__}: {exc}")

    async def _connected(self) -> _Client:
        """The session of the running loop, made on first use. A session cannot move between
        loops, so a new loop (one asyncio.run per round) closes the old one and makes its own."""
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client.loop is not loop:
            await self.aclose()  # safe: with its loop closed, aiohttp only marks it closed
        if self._client is None:
            self._client = self._open(loop)
        return self._client

    def _open(self, loop: asyncio.AbstractEventLoop) -> _Client:
        resolver = CheckedResolver(self._allow_private)
        connector = aiohttp.TCPConnector(
            limit=self.limits.concurrency,
            keepalive_timeout=30,
            resolver=resolver,
            use_dns_cache=False,  # the resolver keeps its own, checked, cache
        )
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._timeout_seconds),
            headers={"user-agent": USER_AGENT},
            cookie_jar=aiohttp.DummyCookieJar(),  # receivers' cookies are not kept
        )
        return _Client(loop, session, resolver)


def _target(url: str | None) -> URL | Failed:
    """The URL to POST to, or why it is refused (no address, not http(s), no host)."""
    if url is None:
        return Failed("the user has no webhook URL")
    try:
        target = URL(url)
    except (TypeError, ValueError):
        return Failed("the webhook URL is not a valid URL")
    if target.scheme not in ("http", "https"):
        return Failed(f"webhook URLs must be http or https, not {target.scheme or 'no scheme'!r}")
    if not target.raw_host:
        return Failed("the webhook URL has no host")
    return target


async def _drain(response: aiohttp.ClientResponse) -> bytes:
    """Read a short answer to its end so the connection goes back to the pool, and give its
    start; a long one is cut off, and its connection closed."""
    start, received = b"", 0
    while received <= MAX_ANSWER and (chunk := await response.content.read(MAX_ANSWER)):
        start = start or chunk
        received += len(chunk)
    return start


def _ref(answer: bytes) -> str | None:
    """The receiver's `{"ref": "..."}`, if it sent one (at most MAX_REF characters)."""
    if not answer.startswith(b"{") or b'"ref"' not in answer:
        return None  # most receivers answer nothing: no parsing on the hot path
    try:
        ref = orjson.loads(answer).get("ref")
    except orjson.JSONDecodeError:
        return None
    return ref if isinstance(ref, str) and 0 < len(ref) <= MAX_REF else None


def _result(status: int, headers: Mapping[str, str], host: str | None, now: float) -> Result:
    if 200 <= status < 300:
        return Sent()
    why = f"webhook host {host} answered HTTP {status}"
    if status == 410:
        return Failed(f"{why} (Gone): the endpoint is disabled", unreachable=True)
    if status in (429, 503):
        return Retry(why, _retry_after(headers.get("Retry-After"), now))
    if status == 408 or status >= 500:
        return Retry(why)
    return Failed(why)


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date), within [0, a day]."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.replace(tzinfo=when.tzinfo or UTC).timestamp() - now
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
