"""Deliveries queued straight into the outbox, for tests that need many or odd ones fast."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nudgeflow.engine import Engine
from nudgeflow.ids import new_id
from nudgeflow.store import bulk
from nudgeflow.store.database import writer
from nudgeflow.store.schema import deliveries, nudges


def queue(engine: Engine, users: list[str], channel: str, rule: str = "test") -> None:
    """One nudge per user, its delivery on `channel` due now (wall-clock: for worker processes)."""
    now = datetime.now(UTC)
    nudge_rows: list[tuple[Any, ...]] = []
    delivery_rows: list[tuple[Any, ...]] = []
    for n, user_id in enumerate(users):
        nid = new_id("n")
        nudge_rows.append((nid, user_id, rule, "test", f"{channel}:{n}", "scheduled", "test", 1.0,
                           "Title", "Body", "Open", "/x", channel, now, None, None, now, now,
                           None, {}, None, None))  # fmt: skip
        delivery_rows.append((new_id("d"), nid, channel, "pending", now, 0, None, now, now,
                              None, None, None, False))  # fmt: skip
    with writer(engine.db).begin() as conn:
        bulk.insert_rows(conn, nudges, nudge_rows)
        bulk.insert_rows(conn, deliveries, delivery_rows)
