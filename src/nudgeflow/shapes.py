"""The shapes nudgeflow answers with, shared by the CLI and the HTTP API (facts.py has the
shapes it takes in)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

Status = Literal[
    "scheduled", "delivered", "accepted", "snoozed", "dismissed", "expired", "suppressed"
]


class NudgeOut(BaseModel):
    id: str
    user_id: str
    rule: str
    status: Status
    reason: str
    deliver_at: datetime | None
    expires_at: datetime | None
    created_at: datetime
    acted_at: datetime | None
    seen_at: datetime | None
    delivered_at: datetime | None
    dedupe_key: str
    score: float
    title: str
    body: str
    action_label: str
    action_url: str
    channels: list[str]

    @classmethod
    def of(cls, row: dict[str, Any]) -> NudgeOut:
        """From a `nudges` row: its one chosen channel becomes the list `channels`."""
        fields = {name: row[name] for name in cls.model_fields if name != "channels"}
        return cls(**fields, channels=[row["channel"]] if row["channel"] else [])
