"""SMTP: email through a relay of your own, or a provider's SMTP endpoint.

Why it is built this way:

- One connection per email (aiosmtplib.send): nothing to keep alive or to recover between
  rounds, and `limits.concurrency` caps the connections a relay sees at once.
- The message is flattened here, with email.POLICY, and handed over as bytes: aiosmtplib
  would flatten it again with the stdlib's policy and encode the List-Unsubscribe URL.
- SMTP takes no idempotency key, so a doubtful attempt is not harmless to resend; the
  Message-ID stays the same on every attempt, and it is the provider id we report.
- Replies map by their class (RFC 5321): 4xx Retry, 5xx Failed. A refused recipient whose
  mailbox does not exist (550, 551, 553, or an enhanced 5.1.x / 5.2.1 code) is Failed with
  `unreachable`; a policy refusal (5.7.x) says nothing about the address, so it is only
  Failed. Refused credentials, a server without STARTTLS and a server refusing us at connect
  are Retry: the fault is the set-up, not the email, and the dispatcher's breaker parks the
  deliveries until it is fixed. Connection errors, timeouts and disconnects are Retry.
"""

from __future__ import annotations

import asyncio
import re
import socket
from email.utils import parseaddr

import aiosmtplib

from nudgeflow import providers
from nudgeflow.channels.base import Failed, Limits, Outgoing, Result, Retry, Sent
from nudgeflow.channels.email import address, message_id, mime, refusal, render

ADDRESS_GONE = frozenset({550, 551, 553})  # no such mailbox, user not local, bad mailbox name
_ENHANCED = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})\b")  # RFC 3463 status codes


class SmtpChannel:
    name = "email"
    provider = "smtp"
    resend_is_harmless = False  # SMTP takes no idempotency key
    limits = Limits(concurrency=10)  # relays limit connections per client

    def __init__(self, settings: providers.Email) -> None:
        self.settings = settings
        self._envelope_from = parseaddr(settings.sender)[1] or settings.sender
        self._local_hostname: str | None = None

    def recipient(self, message: Outgoing) -> str | None:
        return address(message)

    async def send(self, message: Outgoing) -> Result:
        refused = refusal(message)
        if refused is not None:
            return refused
        email = render(message, self.settings)
        try:
            await self._deliver(mime(email).as_bytes(), email.to)
        except aiosmtplib.SMTPException as exc:
            return result(exc)
        except OSError as exc:  # TLS failures and the like that aiosmtplib passes through
            return Retry(f"SMTP server {self.settings.smtp.host}: {type(exc).__name__}: {exc}")
        return Sent(message_id(email))

    async def aclose(self) -> None:
        return None

    async def _deliver(self, raw: bytes, to: str) -> None:
        smtp = self.settings.smtp
        if self._local_hostname is None:  # aiosmtplib would look it up on every connection
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        await aiosmtplib.send(
            raw,
            sender=self._envelope_from,
            recipients=[to],
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password.get_secret_value() if smtp.password else None,
            use_tls=smtp.tls,
            start_tls=smtp.starttls and not smtp.tls,
            timeout=smtp.timeout_seconds,
            local_hostname=self._local_hostname,
        )


def result(exc: aiosmtplib.SMTPException) -> Result:
    """What an aiosmtplib error means for the delivery."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]  # one recipient per email
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return refused_recipient(exc.code, exc.message, exc.recipient)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return Retry(f"SMTP authentication failed ({exc.code} {exc.message}): check the login")
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPHeloError):
        return Retry(f"SMTP server unavailable: {exc}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        why = f"SMTP server answered {exc.code} {exc.message}"
        return Failed(why) if 500 <= exc.code < 600 else Retry(why)
    return Retry(f"SMTP {type(exc).__name__}: {exc.message}")  # timeouts, disconnects, no TLS


def refused_recipient(code: int, text: str, recipient: str) -> Result:
    why = f"SMTP server refused {recipient}: {code} {text}"
    if not 500 <= code < 600:
        return Retry(why)
    enhanced = _ENHANCED.match(text)
    if enhanced is not None:
        subject, detail = enhanced.group(2, 3)
        # the recipient's address (5.1.7 and 5.1.8 are the sender's), or its mailbox disabled
        gone = (subject == "1" and detail not in ("7", "8")) or (subject, detail) == ("2", "1")
    else:
        gone = code in ADDRESS_GONE
    return Failed(why, unreachable=gone)
