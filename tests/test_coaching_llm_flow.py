"""The LLM path through the engine: a coaching rule set to `llm` writes through a local server
that speaks the OpenAI wire format. What the quality gate and the provider doubles do alone is
test_coaching_llm.py's; here, what the engine keeps and does with it: the attempts, their cost,
the budget, a retry sooner after nothing was good enough, the host app's id of the message,
and sweeps that never wait on the model."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from prometheus_client import REGISTRY

from llm_servers import Scripted, closed_port, draft, is_rating_request, rating, serving
from nudgeflow.channels import configured
from nudgeflow.clock import FrozenClock
from nudgeflow.config import load_settings
from nudgeflow.dispatch import Dispatcher
from nudgeflow.engine import Engine
from nudgeflow.generation import GenerationWorker
from nudgeflow.playbooks.coaching import coaching
from nudgeflow.store import generation
from nudgeflow.store.schema import deliveries
from test_coaching_flow import coached, coaching_nudges, schedule_of

# 120 tokens in and 40 out per scripted call: $0.12 + $0.08 = $0.20 a call at these prices.
PRICES = {"coach-1": {"input_per_million": 1000, "output_per_million": 2000}}
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQ="


def llm_engine(database_url: str, clock: FrozenClock, url: str, **llm: Any) -> Engine:
    settings = load_settings(
        database_url=database_url,
        rules={"coaching_message": {"generator": "llm"}},
        llm={
            "model": "coach-1",
            "base_url": url,
            "api_key": "sk-test",
            "prices": PRICES,
            "timeout_seconds": 2,
            "max_retries": 0,
            **llm,
        },
        webhook={"secret": WEBHOOK_SECRET, "allow_private": True},
    )
    return Engine(database_url, settings=settings, clock=clock, playbooks=[coaching])


def due_now(engine: Engine, clock: FrozenClock, *user_ids: str, **prefs: Any) -> None:
    """Coaching on for each user, the clock at the latest first slot, and a sweep."""
    for user_id in user_ids:
        coached(engine, user_id, **prefs)
    slots = [schedule_of(engine, user_id).next_due for user_id in user_ids]  # type: ignore[union-attr]
    clock.set(max(slots) + timedelta(minutes=1))
    engine.sweep()


async def generate(engine: Engine) -> dict[str, int]:
    worker = GenerationWorker(engine)
    try:
        return dict(await worker.run_until_idle())
    finally:
        await worker.aclose()


def fallbacks(kind: str) -> float:
    """The metric operators alert on: LLM generations templates took over."""
    found = REGISTRY.get_sample_value("nudgeflow_generation_fallbacks_total", {"kind": kind})
    return found or 0.0


def attempts(engine: Engine, user_id: str = "ana") -> list[dict[str, Any]]:
    with engine.db.connect() as conn:
        return list(reversed(generation.attempts_of(conn, user_id)))


def test_a_draft_rated_7_is_the_message_with_its_tokens_and_cost(
    database_url: str, clock: FrozenClock
) -> None:
    async def scenario() -> None:
        async with serving(draft(content="Two runs done: how do your legs feel?",
                                 push_text="How are the legs?"), rating(7)) as server:  # fmt: skip
            engine = llm_engine(database_url, clock, server.openai_url)
            due_now(engine, clock, "ana")
            assert await generate(engine) == {"written": 1}
        [nudge] = coaching_nudges(engine)
        assert (nudge["title"], nudge["body"]) == (
            "How are the legs?",
            "Two runs done: how do your legs feel?",
        )
        assert (
            nudge["data"]["coaching"] | {"generator": "llm", "rating": 7}
            == nudge["data"]["coaching"]
        )
        [attempt] = attempts(engine)
        assert (attempt["generator"], attempt["provider"], attempt["model"]) == (
            "llm",
            "127.0.0.1",
            "coach-1",
        )
        assert (attempt["rating"], attempt["recommendation"], attempt["sent"]) == (7, "SEND", True)
        assert (attempt["tokens_in"], attempt["tokens_out"]) == (240, 80)
        assert attempt["cost"] == pytest.approx(0.40)
        assert attempt["context"]["preferences"] == {"goal": "run a 10k"}
        assert len(server.requests) == 2
        engine.close()

    asyncio.run(scenario())


def test_a_draft_rated_4_is_not_sent_and_the_next_try_comes_two_hours_later(
    database_url: str, clock: FrozenClock
) -> None:
    async def scenario() -> None:
        async with serving(draft(), rating(4, "SKIP", "too generic"), draft(), rating(8)) as server:
            engine = llm_engine(database_url, clock, server.openai_url)
            due_now(engine, clock, "ana")
            failed_at = clock.now()
            assert await generate(engine) == {"skipped": 1}
            [nudge] = coaching_nudges(engine)
            assert nudge["status"] == "suppressed"
            assert "4/10" in nudge["reason"] or "too generic" in nudge["reason"]
            with engine.db.connect() as conn:
                status = conn.execute(
                    sa.select(deliveries.c.status).where(deliveries.c.nudge_id == nudge["id"])
                ).scalar_one()
            assert status == "cancelled"
            [attempt] = attempts(engine)
            assert (attempt["rating"], attempt["sent"], attempt["final"]) == (4, False, True)

            retry = schedule_of(engine)
            assert retry is not None
            assert retry.next_due == failed_at + timedelta(hours=2)
            clock.set(retry.next_due)
            engine.sweep()
            assert await generate(engine) == {"written": 1}
        assert [n["status"] for n in coaching_nudges(engine)] == ["scheduled", "suppressed"]
        engine.close()

    asyncio.run(scenario())


def test_a_provider_that_is_down_hands_over_to_templates_and_is_counted(
    database_url: str, clock: FrozenClock
) -> None:
    async def scenario() -> None:
        engine = llm_engine(database_url, clock, f"http://127.0.0.1:{closed_port()}/v1")
        due_now(engine, clock, "ana")
        before = fallbacks("unavailable")
        assert await generate(engine) == {"written": 1, "fallback_unavailable": 1}
        assert fallbacks("unavailable") == before + 1
        failed, chosen = attempts(engine)
        assert (failed["generator"], failed["sent"]) == ("llm", False)
        assert (chosen["generator"], chosen["sent"]) == ("template", True)
        assert "templates took over" in chosen["failure_reason"]
        engine.close()

    asyncio.run(scenario())


def test_the_daily_budget_stops_spending_and_templates_take_over(
    database_url: str, clock: FrozenClock
) -> None:
    async def scenario() -> None:
        def answer(asked: dict[str, Any]) -> Scripted:
            return rating(8) if is_rating_request(asked) else draft()

        async with serving(responder=answer) as server:
            engine = llm_engine(database_url, clock, server.openai_url, daily_budget_usd=0.3,
                                concurrency=1)  # fmt: skip
            due_now(engine, clock, "ana", "ben")
            assert await generate(engine) == {"written": 2, "fallback_budget": 1}
            assert len(server.requests) == 2  # a draft and its rating: $0.40, over $0.30 after
        spent = [a["cost"] for user in ("ana", "ben") for a in attempts(engine, user)]
        assert sum(spent) == pytest.approx(0.40)
        engine.close()

    asyncio.run(scenario())


def test_the_stage_runs_at_most_its_concurrency_at_once(
    database_url: str, clock: FrozenClock
) -> None:
    async def scenario() -> None:
        def slow(asked: dict[str, Any]) -> Scripted:
            return rating(8, delay=0.1) if is_rating_request(asked) else draft(delay=0.1)

        async with serving(responder=slow) as server:
            engine = llm_engine(database_url, clock, server.openai_url, concurrency=3)
            due_now(engine, clock, *(f"u{n}" for n in range(9)))
            assert await generate(engine) == {"written": 9}
        assert server.most_in_flight == 3
        engine.close()

    asyncio.run(scenario())


@asynccontextmanager
async def host_app() -> AsyncIterator[str]:
    """The host app's webhook endpoint: it keeps each message as a journal entry and answers
    with the entry's id."""

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ref": "journal-entry-7"})

    app = web.Application()
    app.router.add_post("/journal", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/journal"
    finally:
        await runner.cleanup()


def test_a_message_delivered_by_webhook_keeps_the_id_of_the_host_apps_entry(
    database_url: str, clock: FrozenClock
) -> None:
    async def scenario() -> None:
        async with serving(draft(), rating(9)) as server, host_app() as journal:
            engine = llm_engine(database_url, clock, server.openai_url)
            due_now(engine, clock, "ana", addresses={"webhook": journal}, channels=["webhook"])
            await generate(engine)
            dispatcher = Dispatcher(engine, configured(engine.settings))
            try:
                assert dict(await dispatcher.run_once()) == {"sent": 1}
            finally:
                await dispatcher.aclose()
        [attempt] = attempts(engine)
        assert attempt["host_ref"] == "journal-entry-7"
        engine.close()

    asyncio.run(scenario())


def test_sweeps_decide_without_waiting_for_a_model_that_takes_2_seconds(
    database_url: str, clock: FrozenClock
) -> None:
    """10,000 coaching users due: the sweep's decisions take no longer with the LLM set than
    with templates, and not one request reaches the model while it runs."""

    async def scenario() -> None:
        async with serving(responder=lambda _: draft(delay=2.0)) as server:
            engine = llm_engine(database_url, clock, server.openai_url)
            templates = Engine(database_url, settings=load_settings(database_url=database_url),
                               clock=clock, playbooks=[coaching], migrate=False)  # fmt: skip
            prefs = {"frequency": "daily", "window": "morning", "channels": ["in_app"]}
            for start in range(0, 10_000, 2_000):
                engine.upsert_users({"id": f"u{n:05d}", "preferences": prefs}
                                    for n in range(start, start + 2_000))  # fmt: skip
            clock.advance(timedelta(days=1, hours=1))

            timed = {}
            for name, deciding in (("templates", templates), ("llm", engine)):
                started = time.process_time()
                report = await asyncio.to_thread(deciding.sweep, dry_run=True)
                timed[name] = time.process_time() - started
                assert report.candidates == 10_000
            report = await asyncio.to_thread(engine.sweep)
            assert report.scheduled + report.deferred == 10_000
            assert server.requests == []
        assert timed["llm"] < 1.5 * timed["templates"] + 0.5, timed
        with engine.db.connect() as conn:
            held = conn.execute(
                sa.select(sa.func.count()).where(deliveries.c.status == "held")
            ).scalar_one()
        assert held == 10_000
        templates.close()
        engine.close()

    asyncio.run(scenario())


def test_a_rule_set_to_llm_with_the_llm_configured_starts(
    database_url: str, clock: FrozenClock
) -> None:
    engine = llm_engine(database_url, clock, "http://127.0.0.1:9/v1")
    assert [r.generator for r in engine.rules] == ["llm"]
    engine.close()
