"""The generation stage, between decision and delivery: it writes the text of nudges whose rule
has a generator (coaching messages), so that neither a sweep nor a delivery ever waits on a
model.

A sweep decides such a nudge like any other but holds its delivery (`held`). A round here
claims the held deliveries that are due, builds each user's context (recent journal entries and
insights, preferences, local time, the types of their last messages), runs the rule's generator
(templates, or the LLM behind its quality gate and budget, at most `llm.concurrency` at once),
keeps every attempt, and then lets the delivery go with the chosen text, or suppresses the
nudge with the reason when nothing was good enough. A coaching schedule moves on to its next
slot after a message, or retries sooner after a failure.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from nudgeflow import telemetry
from nudgeflow.coaching import schedule as coaching_schedule
from nudgeflow.coaching.base import Context, Entry, Generation, LLMClient
from nudgeflow.coaching.budget import Ledger
from nudgeflow.coaching.settings import generator_for, stage_for
from nudgeflow.coaching.stage import GenerationStage
from nudgeflow.coaching.templates import TemplateGenerator
from nudgeflow.engine import Engine
from nudgeflow.ids import new_id
from nudgeflow.localtime import zone
from nudgeflow.store import coaching as coaching_store
from nudgeflow.store import generation
from nudgeflow.store.database import writer

log = structlog.get_logger("nudgeflow.generation")

JOURNAL_KINDS = ("journal", "insight")  # records a generator reads, with their text in props
CONTEXT_DAYS = 14  # how far back journal entries and insights are read
RECENT_TYPES_DAYS = 30
MAX_ENTRIES, MAX_INSIGHTS, MAX_RECENT_TYPES = 5, 3, 5
NOTHING_GOOD = "nothing good enough to send"


class GenerationWorker:
    def __init__(self, engine: Engine, *, llm_client: LLMClient | None = None) -> None:
        self.engine = engine
        settings = engine.settings
        self.generators = {rule.name: rule.generator for rule in engine.rules if rule.generator}
        self.templates = TemplateGenerator()
        self.ledger = Ledger()
        self.stages: dict[str, GenerationStage] = {"template": GenerationStage(self.templates)}
        self._llm = None
        self.lease = timedelta(seconds=settings.lease_seconds)
        if settings.llm is not None and "llm" in self.generators.values():
            self._llm = generator_for(
                settings.llm, templates=self.templates, ledger=self.ledger, client=llm_client
            )
            self.stages["llm"] = stage_for(settings.llm, self._llm)
            self.lease = max(
                self.lease, timedelta(seconds=2 * settings.llm.generation_timeout_seconds)
            )

    async def run_once(self, *, user_id: str | None = None) -> Counter[str]:
        """One round: claim what is due (of `user_id`, if given), write it, settle it."""
        now = self.engine.clock.now()
        batch = self.engine.settings.generate_batch
        with writer(self.engine.db).begin() as conn:
            held = generation.claim(conn, now, batch, self.lease, user_id=user_id)
        if not held:
            return Counter()
        user_ids = sorted({item.nudge["user_id"] for item in held})
        with self.engine.db.connect() as conn:
            contexts = self._contexts(conn, held, user_ids, now)
            self.ledger.load(*generation.spent(conn, _start_of_day(now), user_ids))
        written = await asyncio.gather(
            *(self._stage(item).one(context) for item, context in zip(held, contexts, strict=True))
        )
        with writer(self.engine.db).begin() as conn:  # stamped when written, not when claimed
            return self._settle(conn, held, written, self.engine.clock.now())

    async def run_until_idle(self, should_stop: Callable[[], bool] = lambda: False) -> Counter[str]:
        """Rounds until nothing held is due (or `should_stop()`)."""
        tally: Counter[str] = Counter()
        while not should_stop() and (round_tally := await self.run_once()):
            tally += round_tally
        return tally

    async def aclose(self) -> None:
        if self._llm is not None:
            await self._llm.client.aclose()

    def _stage(self, item: generation.Held) -> GenerationStage:
        return self.stages[self.generators.get(item.nudge["rule"]) or "template"]

    # ---- context ------------------------------------------------------------------------------

    def _contexts(
        self,
        conn: sa.Connection,
        held: Sequence[generation.Held],
        user_ids: list[str],
        now: datetime,
    ) -> list[Context]:
        since = now - timedelta(days=CONTEXT_DAYS)
        found = generation.records_for_context(conn, user_ids, JOURNAL_KINDS, since)
        happened = generation.recent_events(conn, user_ids, since)
        types = generation.recent_types(conn, user_ids, now - timedelta(days=RECENT_TYPES_DAYS))
        return [
            _context(item, found.get(uid, []), happened.get(uid, []), types.get(uid, []), now)
            for item in held
            for uid in [item.nudge["user_id"]]
        ]

    # ---- results ------------------------------------------------------------------------------

    def _settle(
        self,
        conn: sa.Connection,
        held: Sequence[generation.Held],
        written: Sequence[Generation],
        now: datetime,
    ) -> Counter[str]:
        tally: Counter[str] = Counter()
        schedules = coaching_store.schedules(conn, [item.nudge["user_id"] for item in held])
        moved: list[tuple[str, coaching_schedule.Schedule]] = []
        rows = []
        for item, result in zip(held, written, strict=True):
            nudge = item.nudge
            rows += [
                {"id": new_id("ga"), "nudge_id": nudge["id"], "user_id": nudge["user_id"], "at": now,
                 **attempt.as_row()}
                for attempt in result.attempts
            ]  # fmt: skip
            outcome = self._apply(conn, item, result, now)
            tally[outcome] += 1
            if result.fallback is not None:
                tally[f"fallback_{result.fallback}"] += 1
                telemetry.GENERATION_FALLBACKS.labels(str(result.fallback)).inc()
            telemetry.GENERATIONS.labels(nudge["rule"], outcome).inc()
            schedule = schedules.get(nudge["user_id"])
            slot = nudge["data"].get("coaching", {}).get("due")
            if schedule is not None and slot is not None:
                moved.append((nudge["user_id"], _next(schedule, outcome, slot, item.user, now)))
        generation.record(conn, rows)
        coaching_store.put(conn, moved, now)
        return tally

    def _apply(self, conn: Any, item: generation.Held, result: Generation, now: datetime) -> str:
        chosen = result.chosen
        if chosen is None:
            reason = f"generation: {result.reason or NOTHING_GOOD}"
            generation.skip(conn, item, reason, now)
            log.info("generation.skipped", nudge=item.nudge["id"], reason=reason)
            return "skipped"
        made = {"message_type": chosen.message_type, "generator": chosen.generator,
                "rating": chosen.rating}  # fmt: skip
        data = dict(item.nudge["data"])
        data["coaching"] = {**data.get("coaching", {}), **made}
        title = chosen.push_text or item.nudge["title"]
        if generation.release(conn, item, title=title, body=chosen.content, data=data, now=now):
            return "written"
        return "withdrawn"  # acted on or expired while it was being written


def _next(
    schedule: coaching_schedule.Schedule,
    outcome: str,
    slot: str,
    user: dict[str, Any],
    now: datetime,
) -> coaching_schedule.Schedule:
    if outcome == "skipped":
        return coaching_schedule.after_failure(schedule, user["timezone"], now)
    due = datetime.fromisoformat(slot)
    return coaching_schedule.after_message(schedule, due, user["timezone"], now)


def _context(
    item: generation.Held,
    found: list[tuple[str, dict[str, Any], datetime]],
    happened: list[tuple[str, dict[str, Any], datetime]],
    recent_types: list[str],
    now: datetime,
) -> Context:
    """What the generator knows: journal entries first, then the latest events."""
    user, coaching = item.user, item.nudge["data"].get("coaching", {})
    traits = user["traits"] or {}
    entries = [
        Entry(at, str(p["text"])) for kind, p, at in found if kind == "journal" and p.get("text")
    ]
    entries += [_event_entry(name, p, at) for name, p, at in happened[:MAX_ENTRIES]]
    insights = [str(p["text"]) for kind, p, _ in found if kind == "insight" and p.get("text")]
    name = traits.get("name") or traits.get("first_name")
    return Context(
        user_id=user["id"],
        locale=user["locale"],
        local_time=now.astimezone(zone(user["timezone"])),
        frequency=str(coaching.get("frequency", "daily")),
        entries=tuple(entries[:MAX_ENTRIES]),
        insights=tuple(insights[:MAX_INSIGHTS]),
        preferences={key: str(traits[key]) for key in ("goal", "focus") if traits.get(key)},
        name=str(name) if name else None,
        recent_types=tuple(recent_types[:MAX_RECENT_TYPES]),
        message_type=coaching.get("message_type"),
    )


def _event_entry(name: str, props: dict[str, Any], at: datetime) -> Entry:
    """An event as the generator reads it: its own text or title if it has one, else its name."""
    text = props.get("text") or props.get("title") or name.replace("_", " ")
    return Entry(at, str(text), kind="event")


def _start_of_day(now: datetime) -> datetime:
    """Budgets are per UTC day."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)
