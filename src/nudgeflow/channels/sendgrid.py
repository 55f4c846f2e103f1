"""SendGrid: email through its v3 Mail Send API (https://www.twilio.com/docs/sendgrid).

One `POST {base_url}/v3/mail/send` per email with `Authorization: Bearer <key>` and a JSON
body: `personalizations` (one, to the user), `from` and `reply_to` as `{email, name}`,
`subject`, `content` (text/plain before text/html: SendGrid refuses the other order), our
List-Unsubscribe headers in `headers`, and the delivery id in `custom_args`, which SendGrid
hands back in its event webhooks. SendGrid's own subscription tracking is switched off for
these emails: the unsubscribe link and headers are ours, and a second list of unsubscribed
users at SendGrid would be one nudgeflow never sees. A 202 has an empty body; the
`X-Message-Id` header is the provider id. Errors answer `{"errors": [{"message": …}]}`.

Statuses as in email.HttpEmailChannel; a 429 waits until `X-RateLimit-Reset` (a Unix time),
else the Retry-After header.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any

import orjson

from nudgeflow import providers
from nudgeflow.channels.base import Sent
from nudgeflow.channels.email import (
    HttpEmailChannel,
    Rendered,
    Request,
    bounded,
    json_field,
    retry_after,
)


class SendGridChannel(HttpEmailChannel):
    provider = "sendgrid"

    def __init__(self, settings: providers.Email) -> None:
        super().__init__(settings)
        if settings.sendgrid is None:
            raise ValueError("the sendgrid email provider needs its [email.sendgrid] settings")
        sendgrid = settings.sendgrid
        self.url = f"{sendgrid.base_url.rstrip('/')}/v3/mail/send"
        self._headers = {
            "Authorization": f"Bearer {sendgrid.api_key.get_secret_value()}",
            "Content-Type": "application/json",
        }

    def request(self, email: Rendered) -> Request:
        return Request(self.url, self._headers, orjson.dumps(body(email)))

    def sent(self, headers: Mapping[str, str], body: bytes) -> Sent:
        return Sent(headers.get("X-Message-Id"))

    def problem(self, body: bytes) -> str:
        said = json_field(body, "errors", 0, "message")
        return said if isinstance(said, str) else ""

    def retry_after(self, headers: Mapping[str, str]) -> float | None:
        now = time.time()
        try:
            return bounded(float(headers["X-RateLimit-Reset"]) - now)
        except (KeyError, ValueError):
            return retry_after(headers.get("Retry-After"), now)


def body(email: Rendered) -> dict[str, Any]:
    """The Mail Send request body of one email."""
    found: dict[str, Any] = {
        "personalizations": [{"to": [{"email": email.to}]}],
        "from": contact(email.sender),
        "subject": email.subject,
        "content": [
            {"type": "text/plain", "value": email.text},
            {"type": "text/html", "value": email.html},
        ],
        "headers": email.headers,
        "custom_args": {"delivery_id": email.delivery_id},
        "tracking_settings": {"subscription_tracking": {"enable": False}},
    }
    if email.reply_to:
        found["reply_to"] = contact(email.reply_to)
    return found


def contact(mailbox: str) -> dict[str, str]:
    """`Name <address>` as SendGrid's `{"email", "name"}` (no name when there is none)."""
    name, email = parseaddr(mailbox)
    return {"email": email or mailbox, "name": name} if name else {"email": email or mailbox}
