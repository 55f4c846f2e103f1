"""The facts an app tells nudgeflow, validated at the edge.

The same JSON shapes serve the Python API, the JSONL import and the HTTP API. Validation
errors name the field (`timezone`, `addresses.email`, `at`), so a bad line can be fixed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)

from nudgeflow.errors import InvalidInput
from nudgeflow.localtime import parse_wall_time, zone

Role = Literal["user", "admin", "super_admin"]
ChannelName = Literal["in_app", "email", "telegram", "webhook"]
WindowName = Literal["morning", "afternoon", "evening"]
Frequency = Literal["daily", "several_per_week", "weekly"]

_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}$")


def _identifier(value: str) -> str:
    if not _IDENT.match(value):
        raise ValueError(
            "must be 1–128 letters, digits or _ . : @ + -, starting with a letter or digit"
        )
    return value


def _timezone(value: str) -> str:
    zone(value)
    return value


def _not_a_number(value: Any) -> Any:
    # pydantic would read 1700000000 as a Unix time; an instant here is ISO 8601 text (or a
    # datetime from Python), so a number is a mistake worth naming.
    if isinstance(value, int | float):
        raise ValueError("must be an ISO 8601 instant such as 2026-11-22T09:00:00Z, not a number")
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a timezone offset, e.g. 2026-11-22T09:00:00Z")
    return value.astimezone(UTC)


Identifier = Annotated[str, AfterValidator(_identifier)]
TimezoneName = Annotated[str, AfterValidator(_timezone)]
Instant = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(_aware)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuietHours(_Strict):
    start: time
    end: time

    @field_validator("start", "end", mode="before")
    @classmethod
    def _wall(cls, value: Any) -> Any:
        return parse_wall_time(value) if isinstance(value, str) else value

    @field_serializer("start", "end")
    def _as_text(self, value: time) -> str:
        return f"{value:%H:%M}"


class Preferences(_Strict):
    """What the user chose. `quiet_hours` None means the configured default applies."""

    agent: bool = True
    proactive: bool = True
    quiet_hours: QuietHours | None = None
    channels: tuple[ChannelName, ...] = ("in_app", "email")
    playbooks_off: tuple[str, ...] = ()
    window: WindowName | None = None
    frequency: Frequency | None = None


class Addresses(_Strict):
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)
    telegram: str | None = Field(default=None, pattern=r"^-?[0-9]{1,20}$")
    webhook: str | None = Field(default=None, pattern=r"^https?://\S+$", max_length=2048)


class UserIn(_Strict):
    id: Identifier
    plan: str = "free"
    org: Identifier | None = None
    role: Role = "user"
    timezone: TimezoneName = "UTC"
    locale: str = Field(default="en", max_length=35, pattern=r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    traits: dict[str, Any] = Field(default_factory=dict)
    addresses: Addresses = Addresses()
    preferences: Preferences | None = None


class EventIn(_Strict):
    id: Identifier
    user_id: Identifier
    name: Identifier
    at: Instant
    props: dict[str, Any] = Field(default_factory=dict)


class RecordIn(_Strict):
    user_id: Identifier
    kind: Identifier
    key: Identifier
    props: dict[str, Any] = Field(default_factory=dict)
    updated_at: Instant | None = None


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any) -> M:
    """Validate `data` as `model`, raising InvalidInput that names the first bad field."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(*describe(exc)) from None


def describe(exc: ValidationError) -> tuple[str, str]:
    """(field path, problem) of a validation error's first complaint."""
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or "(document)"
    message = first["msg"].removeprefix("Value error, ")
    return field, message
