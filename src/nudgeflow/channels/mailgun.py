"""Mailgun: email through its HTTP API (https://documentation.mailgun.com).

One `POST {base_url}/v3/{domain}/messages` per email, HTTP basic auth `api:<key>`, the parts
as multipart/form-data fields (`from`, `to`, `subject`, `text`, `html`); our own headers go
as `h:` fields and the delivery id as the `v:delivery_id` variable, which Mailgun hands back
in its event webhooks. A 200 answers `{"id": "<…>", "message": "Queued. Thank you."}`; the id
is the provider id. Errors answer `{"message": "…"}`.

Statuses as in email.HttpEmailChannel: 429 is Retry after Mailgun's Retry-After; 5xx and
network errors Retry; 401/403 Retry (the key, not the email); other 4xx Failed.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

import aiohttp

from nudgeflow import providers
from nudgeflow.channels.base import Sent
from nudgeflow.channels.email import HttpEmailChannel, Rendered, Request, json_field


class MailgunChannel(HttpEmailChannel):
    provider = "mailgun"

    def __init__(self, settings: providers.Email) -> None:
        super().__init__(settings)
        if settings.mailgun is None:
            raise ValueError("the mailgun email provider needs its [email.mailgun] settings")
        mailgun = settings.mailgun
        self.url = f"{mailgun.base_url.rstrip('/')}/v3/{mailgun.domain}/messages"
        key = f"api:{mailgun.api_key.get_secret_value()}".encode()
        self._auth = f"Basic {base64.b64encode(key).decode()}"  # HTTP basic auth, user "api"

    def request(self, email: Rendered) -> Request:
        return Request(self.url, {"Authorization": self._auth}, form(email))

    def sent(self, headers: Mapping[str, str], body: bytes) -> Sent:
        found = json_field(body, "id")
        return Sent(found if isinstance(found, str) else None)

    def problem(self, body: bytes) -> str:
        said = json_field(body, "message")
        return said if isinstance(said, str) else ""


def form(email: Rendered) -> aiohttp.FormData:
    """The fields of one email, as Mailgun's messages endpoint takes them."""
    fields = [
        ("from", email.sender),
        ("to", email.to),
        ("subject", email.subject),
        ("text", email.text),
        ("html", email.html),
        *((f"h:{name}", value) for name, value in email.headers.items()),
        ("v:delivery_id", email.delivery_id),
    ]
    if email.reply_to:
        fields.append(("h:Reply-To", email.reply_to))
    return aiohttp.FormData(fields, default_to_multipart=True)
