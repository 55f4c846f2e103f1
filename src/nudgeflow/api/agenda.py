"""Messages in, the schedule out: what a user writes in the app becomes meetings that are
reminded before, asked about after, and listed here. A user token reaches its own only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from nudgeflow.agenda.conversation import MessageIn
from nudgeflow.api.auth import ForUser
from nudgeflow.api.problems import documented
from nudgeflow.api.state import EngineDep

router = APIRouter(prefix="/v1", tags=["agenda"], responses=documented(401, 403, 404, 422))

UserId = Annotated[str, Path(max_length=128)]


class Meeting(BaseModel):
    id: str
    title: str
    start: str = Field(description="ISO 8601, UTC.")
    end: str | None
    channel: str = Field(description="Where it was mentioned; its reminders go there.")
    confidence: float
    source: str = Field(description="The message it came from or was last changed by.")
    status: str


class Ignored(BaseModel):
    title: str
    start: str
    confidence: float


class Received(BaseModel):
    message_id: str
    duplicate: bool = Field(description="This message id was received before: nothing changed.")
    added: list[Meeting]
    updated: list[Meeting]
    cancelled: list[Meeting]
    ignored: list[Ignored] = Field(description="Matches under 0.5 confidence: logged only.")


@router.post("/users/{user_id}/messages", response_model=Received)
def receive(user_id: UserId, message: MessageIn, engine: EngineDep, _: ForUser) -> dict[str, Any]:
    """Store what the user wrote and update their schedule from it ("Team meeting 3-4 PM
    Friday", "my 3pm is moved to 4", "cancel the dentist")."""
    return engine.agenda.receive(user_id, message)


@router.get("/users/{user_id}/schedule", response_model=list[Meeting])
def schedule(
    user_id: UserId,
    engine: EngineDep,
    _: ForUser,
    days: Annotated[int | None, Query(ge=1, le=366, description="Only the next N days.")] = None,
) -> list[dict[str, Any]]:
    """Upcoming meetings (and one under way), soonest first."""
    return engine.agenda.schedule(user_id, days=days)
