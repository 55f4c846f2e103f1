"""What users write, turned into their schedule: `engine.agenda.receive(user, text)` stores
the message (an event `message`, idempotent by its id), reads the meetings in it in the
user's timezone, and writes the schedule's changes in the same transaction. The agenda
playbook then reminds, asks how it went, and follows up, like any other rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import structlog
from pydantic import BaseModel, ConfigDict, Field

from nudgeflow.agenda.schedule import KIND, Changes, Entry, Message, apply, upcoming
from nudgeflow.errors import NotFound
from nudgeflow.facts import ChannelName, EventIn, Identifier, Instant, RecordIn, parse
from nudgeflow.ids import new_id
from nudgeflow.localtime import zone
from nudgeflow.store import database, sweeps
from nudgeflow.store import facts as fact_store

if TYPE_CHECKING:
    from nudgeflow.engine import Engine

log = structlog.get_logger("nudgeflow.agenda")
MESSAGE_EVENT = "message"


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, Field(min_length=1, max_length=4000)]
    channel: ChannelName = Field(default="in_app", description="Where it was said.")
    id: Identifier | None = Field(default=None, description="Idempotency key; made if absent.")
    at: Instant | None = Field(default=None, description="When it was said; default now.")


class Agenda:
    def __init__(self, engine: Engine, now: Callable[[], datetime]) -> None:
        self._engine = engine
        self._now = now

    def receive(self, user_id: str, message: MessageIn | dict[str, Any]) -> dict[str, Any]:
        """Store the message and apply it to the user's schedule; what changed."""
        from nudgeflow.agenda.extract import extract  # the grammar loads on first use

        said = parse(MessageIn, message)
        at = said.at or self._now()
        message_id = said.id or new_id("m")
        with database.writer(self._engine.db).begin() as conn:
            row = sweeps.load_user(conn, user_id)
            if row is None:
                raise NotFound("user", user_id)
            event = EventIn(id=message_id, user_id=user_id, name=MESSAGE_EVENT, at=at,
                            props={"text": said.text, "channel": said.channel})  # fmt: skip
            if fact_store.insert_events(conn, [event], self._now()) == 0:
                return {"message_id": message_id, "duplicate": True, **_described(None)}
            entries = [Entry.from_props(k, p) for k, p in fact_store.records_of(conn, user_id, KIND).items()]  # fmt: skip
            text = Message(message_id, said.text, said.channel, at, zone(row.timezone))
            found = extract(said.text, now=at, timezone=row.timezone)
            changes = apply(entries, found, text, lambda: new_id("mt"))
            records = [RecordIn(user_id=user_id, kind=KIND, key=e.id, props=e.props()) for e in changes.written]  # fmt: skip
            fact_store.put_records(conn, records, self._now())
        for skipped in changes.ignored:
            log.info("meeting_ignored", user=user_id, message=message_id, title=skipped.title,
                     start=skipped.start.isoformat(), confidence=skipped.confidence)  # fmt: skip
        return {"message_id": message_id, "duplicate": False, **_described(changes)}

    def schedule(
        self, user_id: str, *, at: datetime | None = None, days: int | None = None
    ) -> list[dict[str, Any]]:
        """The user's upcoming meetings, soonest first (within `days` when given)."""
        now = at or self._now()
        with self._engine.db.connect() as conn:
            if sweeps.load_user(conn, user_id) is None:
                raise NotFound("user", user_id)
            stored = fact_store.records_of(conn, user_id, KIND)
        entries = [Entry.from_props(key, props) for key, props in stored.items()]
        horizon = None if days is None else timedelta(days=days)
        return [_shown(e) for e in upcoming(entries, now, horizon)]


def _shown(entry: Entry) -> dict[str, Any]:
    return {"id": entry.id, **entry.props()}


def _described(changes: Changes | None) -> dict[str, Any]:
    if changes is None:
        return {"added": [], "updated": [], "cancelled": [], "ignored": []}
    return {
        "added": [_shown(e) for e in changes.added],
        "updated": [_shown(e) for e in changes.updated],
        "cancelled": [_shown(e) for e in changes.cancelled],
        "ignored": [
            {"title": f.title, "start": f.start.isoformat(), "confidence": f.confidence}
            for f in changes.ignored
        ],
    }
