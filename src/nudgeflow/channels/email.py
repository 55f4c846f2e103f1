"""Email: what the SMTP, Mailgun and SendGrid channels share.

Why it is built this way:

- One rendering for every provider (`render`): the same subject, text and HTML parts, links
  and headers whichever service carries them, so switching providers changes no email.
  Templates are Jinja2 files in templates/email/, autoescaped for HTML only.
- Every email carries what mailbox providers require of bulk senders: a text and an HTML part,
  the postal address, a preferences and an unsubscribe link in the body, and RFC 8058
  one-click unsubscribe headers (`List-Unsubscribe` with the HTTPS link and
  `List-Unsubscribe-Post`), which the unsubscribe page answers to with a POST.
- Action links point at confirmation pages (a GET never acts: mail scanners open links).
- Headers are built with a policy that never folds or encodes `List-Unsubscribe`: the stdlib
  would turn a long URL into RFC 2047 encoded-words, which mail clients do not read as a URL.
- The HTTP providers share one base (`HttpEmailChannel`): an aiohttp session per event loop,
  one POST per email, and the status codes both document; a subclass only speaks its wire
  format. Neither API takes an idempotency key, so a doubtful attempt is not harmless to resend.
  Statuses: 2xx Sent; 429 Retry after the provider's own wait; 401 and 403 Retry (the API
  key, not this email: the dispatcher's breaker parks deliveries until it is fixed); 408,
  5xx and network errors Retry; any other answer Failed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import formatdate, parseaddr, parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from nudgeflow import providers
from nudgeflow.channels.base import Failed, Limits, Outgoing, Result, Retry, Sent

if TYPE_CHECKING:
    from nudgeflow.channels.base import Channel

ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058's List-Unsubscribe-Post value
DEFAULT_ACTION = "Open"
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
MAX_RETRY_AFTER = 86_400.0  # a provider cannot park a delivery for more than a day
MAX_REASON = 300  # characters of a provider's error message kept in a reason
_UNFOLDED = frozenset({"list-unsubscribe"})

templates = Environment(
    loader=PackageLoader("nudgeflow", "templates/email"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
)


class _Policy(EmailPolicy):
    """SMTP's policy (CRLF, 7-bit bodies) that writes URL headers as they are: one line of
    at most 998 characters is valid, an encoded-word is not a URL."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() in _UNFOLDED and value.isascii():
            return f"{name}: {value}{self.linesep}"
        return str(super().fold(name, value))

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in _UNFOLDED and value.isascii():
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


POLICY = _Policy(linesep="\r\n", cte_type="7bit")


@dataclass(frozen=True)
class Rendered:
    """One email, ready for any provider: SMTP makes MIME of it, the APIs make fields."""

    sender: str  # the From header, "Name <address>"
    to: str
    subject: str
    text: str
    html: str
    reply_to: str | None
    headers: dict[str, str]  # List-Unsubscribe and List-Unsubscribe-Post
    delivery_id: str


def address(message: Outgoing) -> str | None:
    """The user's email address, or None when they gave none."""
    found = message.address.get("email")
    return str(found) if found else None


def refusal(message: Outgoing) -> Failed | None:
    """Why no email can go to this user (no address, or not one), else None."""
    to = address(message)
    if to is None:
        return Failed("the user has no email address")
    if "@" not in to or any(c.isspace() or not c.isprintable() or c in "<>,;" for c in to):
        return Failed(f"{to!r} is not an email address")
    return None


def render(message: Outgoing, settings: providers.Email) -> Rendered:
    """The email for one message (to `address(message)`, which must not be None)."""
    nudge, links = message.nudge, message.links
    title = " ".join(str(nudge.get("title") or "").split())  # one line: it is the subject
    context = {
        "title": title,
        "body": nudge.get("body") or "",
        "action_label": nudge.get("action_label") or DEFAULT_ACTION,
        "links": links,
        "postal_address": settings.postal_address,
        "locale": str(message.user.get("locale") or "en").replace("_", "-"),
    }
    return Rendered(
        sender=settings.sender,
        to=address(message) or "",
        subject=title,
        text=templates.get_template("nudge.txt.j2").render(context),
        html=templates.get_template("nudge.html.j2").render(context),
        reply_to=settings.reply_to,
        headers={"List-Unsubscribe": f"<{links.unsubscribe}>", "List-Unsubscribe-Post": ONE_CLICK},
        delivery_id=message.delivery_id,
    )


def message_id(email: Rendered) -> str:
    """The same Message-ID on every attempt of a delivery: a receiver that sees one twice can
    tell it is the same email."""
    domain = parseaddr(email.sender)[1].rpartition("@")[2] or "nudgeflow.invalid"
    return f"<{email.delivery_id}@{domain}>"


def mime(email: Rendered) -> EmailMessage:
    """The email as MIME: multipart/alternative, text first (the HTML part is preferred)."""
    built = EmailMessage(policy=POLICY)
    built["From"] = email.sender
    built["To"] = email.to
    if email.reply_to:
        built["Reply-To"] = email.reply_to
    built["Subject"] = email.subject
    built["Date"] = formatdate(usegmt=True)
    built["Message-ID"] = message_id(email)
    for name, value in email.headers.items():
        built[name] = value
    built.set_content(email.text)
    built.add_alternative(email.html, subtype="html")
    return built


def email_channel(settings: providers.Email) -> Channel:
    """The email channel of the configured provider."""
    if settings.provider == "mailgun":
        from nudgeflow.channels.mailgun import MailgunChannel

        return MailgunChannel(settings)
    if settings.provider == "sendgrid":
        from nudgeflow.channels.sendgrid import SendGridChannel

        return SendGridChannel(settings)
    from nudgeflow.channels.smtp import SmtpChannel

    return SmtpChannel(settings)


# ---- the HTTP providers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One POST to a provider."""

    url: str
    headers: dict[str, str]
    body: bytes | aiohttp.FormData


class HttpEmailChannel:
    """Mailgun and SendGrid: one POST per email; subclasses fill in `request`, `sent` and
    `problem`, and may read their own rate-limit headers in `retry_after`."""

    name = "email"
    provider = "http"
    resend_is_harmless = False  # neither API takes an idempotency key
    limits = Limits(concurrency=50)

    def __init__(self, settings: providers.Email) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def recipient(self, message: Outgoing) -> str | None:
        return address(message)

    async def send(self, message: Outgoing) -> Result:
        refused = refusal(message)
        if refused is not None:
            return refused
        request = self.request(render(message, self.settings))
        try:
            async with self._connected().post(
                request.url, data=request.body, headers=request.headers, allow_redirects=False
            ) as response:
                body = await response.read()
                return self.result(response.status, response.headers, body)
        except TimeoutError:
            return Retry(f"{self.provider} did not answer within {HTTP_TIMEOUT.total:g} s")
        except aiohttp.ClientError as exc:
            return Retry(f"{self.provider}: {type(exc).__name__}: {exc}")

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # ---- what a provider fills in ------------------------------------------------------------

    def request(self, email: Rendered) -> Request:
        raise NotImplementedError

    def sent(self, headers: Mapping[str, str], body: bytes) -> Sent:
        raise NotImplementedError

    def problem(self, body: bytes) -> str:
        """The provider's own words for a refusal, from its error body ("" if none)."""
        return ""

    def retry_after(self, headers: Mapping[str, str]) -> float | None:
        return retry_after(headers.get("Retry-After"), time.time())

    # ---- shared ------------------------------------------------------------------------------

    def result(self, status: int, headers: Mapping[str, str], body: bytes) -> Result:
        if 200 <= status < 300:
            return self.sent(headers, body)
        why = f"{self.provider} answered HTTP {status}"
        if said := self.problem(body):
            why = f"{why}: {said[:MAX_REASON]}"
        if status == 429:
            return Retry(why, self.retry_after(headers))
        if status in (401, 403):  # our key, not this email: the breaker parks the rest
            return Retry(f"{why} (check the {self.provider} API key)")
        if status == 408 or status >= 500:
            return Retry(why)
        return Failed(why)

    def _connected(self) -> aiohttp.ClientSession:
        """The session of the running loop, made on first use; a new loop gets a new one."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop:
            if self._session is not None:
                self._session.detach()  # its loop is gone; nothing left to close
            connector = aiohttp.TCPConnector(limit=self.limits.concurrency, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(connector=connector, timeout=HTTP_TIMEOUT)
            self._loop = loop
        return self._session


def json_field(body: bytes, *path: str | int) -> Any:
    """A value inside a JSON body, or None when the body or the path is not there."""
    try:
        found: Any = orjson.loads(body)
        for step in path:
            found = found[step]
    except (orjson.JSONDecodeError, LookupError, TypeError):
        return None
    return found


def retry_after(value: str | None, now: float) -> float | None:
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
    return bounded(seconds)


def bounded(seconds: float) -> float | None:
    """A wait a provider asked for, within [0, a day]; None if it is not a number."""
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
