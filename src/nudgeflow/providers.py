"""Provider settings: which email service, the Telegram bot, webhook signing. Secrets are
SecretStr: they never appear in logs, reprs or error messages.

    # nudgeflow.toml
    [email]
    provider = "smtp"                      # or "mailgun", "sendgrid"
    sender = "Career Coach <coach@example.org>"
    postal_address = "Example Ltd, 1 Main St, Springfield"
    smtp = { host = "127.0.0.1", port = 1025 }

    [telegram]
    bot_token = "123:abc"
    bot_username = "coach_bot"              # for the /start deep links the API hands out

    [webhook]
    secret = "whsec_…"                      # Standard Webhooks signing secret

or, as environment variables, NUDGEFLOW_EMAIL__PROVIDER, NUDGEFLOW_EMAIL__SMTP__HOST,
NUDGEFLOW_TELEGRAM__BOT_TOKEN, NUDGEFLOW_WEBHOOK__SECRET, …
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Smtp(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False  # upgrade a plain connection with STARTTLS
    tls: bool = False  # TLS from the start (port 465)
    timeout_seconds: float = Field(default=30, gt=0)


class Mailgun(_Section):
    domain: str
    api_key: SecretStr
    base_url: str = "https://api.mailgun.net"  # https://api.eu.mailgun.net in the EU


class SendGrid(_Section):
    api_key: SecretStr
    base_url: str = "https://api.sendgrid.com"


class Email(_Section):
    provider: Literal["smtp", "mailgun", "sendgrid"] = "smtp"
    sender: str = Field(min_length=3, description="The From header: 'Name <address>'")
    postal_address: str = Field(min_length=1, description="Shown in every email's footer")
    reply_to: str | None = None
    smtp: Smtp = Smtp()
    mailgun: Mailgun | None = None
    sendgrid: SendGrid | None = None

    @model_validator(mode="after")
    def _provider_configured(self) -> Email:
        if self.provider != "smtp" and getattr(self, self.provider) is None:
            raise ValueError(
                f"provider {self.provider!r} needs its [email.{self.provider}] settings"
            )
        return self


class Telegram(_Section):
    bot_token: SecretStr
    base_url: str = "https://api.telegram.org"
    webhook_secret: SecretStr | None = None  # X-Telegram-Bot-Api-Secret-Token of our updates
    # The bot's @username (without the @): deep links t.me/<bot_username>?start=… point at it.
    bot_username: str | None = Field(
        default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]{1,28}[Bb][Oo][Tt]$"
    )


class Webhook(_Section):
    secret: SecretStr = Field(description="whsec_… (base64), per Standard Webhooks")
    allow_private: bool = False  # allow targets on private, loopback or link-local addresses
    timeout_seconds: float = Field(default=10, gt=0)
