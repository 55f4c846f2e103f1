"""Facts in, from the host app: users, events, records; and user tokens out, for the browser
and for linking the user's Telegram chat."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response
from pydantic import BaseModel, Discriminator, Field, StrictInt, Tag

from nudgeflow.api.auth import Host
from nudgeflow.api.problems import documented
from nudgeflow.api.state import EngineDep
from nudgeflow.engine import Engine
from nudgeflow.errors import ConfigError, InvalidInput
from nudgeflow.facts import EventIn, Identifier, UserIn

router = APIRouter(prefix="/v1", tags=["facts"], responses=documented(401, 403, 413, 422))

UserId = Annotated[str, Path(max_length=128)]
LINK_HOURS, MAX_LINK_HOURS = 24, 24 * 7  # whoever holds the link can take the account's chat
Ident = Annotated[str, Path(max_length=128)]


class Stored(BaseModel):
    stored: int = Field(description="How many events were new; a repeated event id is stored once.")
    received: int


class UserToken(BaseModel):
    token: str
    expires_at: datetime


class TokenRequest(BaseModel):
    hours: StrictInt | None = Field(default=None, ge=1, le=24 * 366)


class TelegramLink(BaseModel):
    token: str = Field(description="The `start` parameter: at most 64 of A-Z a-z 0-9 _ -.")
    url: str = Field(description="https://t.me/<bot>?start=<token>: opens the chat with the bot, "
                     "which links it to the user when they press Start.")  # fmt: skip
    expires_at: datetime


class TelegramLinkRequest(BaseModel):
    hours: StrictInt | None = Field(default=None, ge=1, le=MAX_LINK_HOURS)


class UserBody(UserIn):
    id: Identifier | None = None  # type: ignore[assignment]  # the path says it


@router.put("/users/{user_id}", status_code=204)
def put_user(user_id: UserId, user: UserBody, engine: EngineDep, _: Host) -> Response:
    """Create or replace the user (plan, org, timezone, addresses, traits, preferences).
    Left out, the timezone, the linked Telegram chat and the preferences keep what is stored;
    `addresses.telegram: null` unlinks the chat."""
    if user.id not in (None, user_id):
        raise InvalidInput("id", f"the body's id {user.id!r} is not the path's {user_id!r}")
    # Only what the body holds: a field left out is not the same as one sent as its default.
    engine.upsert_user({**user.model_dump(exclude={"id"}, exclude_unset=True), "id": user_id})
    return Response(status_code=204)


@router.delete("/users/{user_id}", status_code=204, responses=documented(404))
def delete_user(user_id: UserId, engine: EngineDep, _: Host) -> Response:
    """Forget the user and everything about them: facts, preferences, nudges."""
    engine.delete_user(user_id)
    return Response(status_code=204)


def _one_or_many(value: Any) -> str:
    return "events" if isinstance(value, list) else "event"


# One event or a list; errors name the field as event.at or events.3.at.
Events = Annotated[
    Annotated[EventIn, Tag("event")] | Annotated[list[EventIn], Tag("events")],
    Discriminator(_one_or_many),
]


@router.post("/events", response_model=Stored)
def post_events(events: Annotated[Events, Body()], engine: EngineDep, _: Host) -> Stored:
    """One event or a batch (at most 10,000). Idempotent by event id."""
    batch = events if isinstance(events, list) else [events]
    if len(batch) > 10_000:
        raise InvalidInput("(body)", f"at most 10,000 events a request, not {len(batch):,}")
    return Stored(stored=engine.track(batch), received=len(batch))


@router.put("/users/{user_id}/records/{kind}/{key}", status_code=204)
def put_record(
    user_id: UserId, kind: Ident, key: Ident, props: dict[str, Any], engine: EngineDep, _: Host
) -> Response:
    """Create or replace one record (an application, an interview, a goal…); the body is its
    props."""
    engine.put_record({"user_id": user_id, "kind": kind, "key": key, "props": props})
    return Response(status_code=204)


@router.delete("/users/{user_id}/records/{kind}/{key}", status_code=204, responses=documented(404))
def delete_record(user_id: UserId, kind: Ident, key: Ident, engine: EngineDep, _: Host) -> Response:
    engine.delete_record(user_id, kind, key)
    return Response(status_code=204)


@router.post("/users/{user_id}/tokens", response_model=UserToken, responses=documented(404))
def issue_token(
    user_id: UserId, engine: EngineDep, _: Host, request: TokenRequest | None = None
) -> UserToken:
    """A signed token that lets the user's browser (or a link in an email) reach that user's
    inbox, actions and preferences, and nothing else, until it expires."""
    engine.preferences(user_id)  # NotFound for an unknown user
    token, expires = engine.credentials.issue_token(user_id, request.hours if request else None)
    return UserToken(token=token, expires_at=expires)


@router.post(
    "/users/{user_id}/telegram-link", response_model=TelegramLink, responses=documented(404, 409)
)
def telegram_link(
    user_id: UserId, engine: EngineDep, _: Host, request: TelegramLinkRequest | None = None
) -> TelegramLink:
    """A deep link to the bot that links the Telegram chat it opens to this user: show it to
    that user only, as a button or a QR code. It works until it expires (24 hours, or `hours`
    up to a week). 409 when `telegram.bot_username` is not set; 422 for an id longer than the
    34 bytes a deep link carries."""
    bot = _bot_username(engine)
    engine.preferences(user_id)  # NotFound for an unknown user
    hours = request.hours if request and request.hours else LINK_HOURS
    token, expires = engine.credentials.issue_start_token(user_id, hours=hours)
    return TelegramLink(token=token, url=f"https://t.me/{bot}?start={token}", expires_at=expires)


def _bot_username(engine: Engine) -> str:
    telegram = engine.settings.telegram
    if telegram is None or telegram.bot_username is None:
        raise ConfigError(
            "telegram.bot_username", "set it (NUDGEFLOW_TELEGRAM__BOT_USERNAME) to hand out links"
        )
    return telegram.bot_username
