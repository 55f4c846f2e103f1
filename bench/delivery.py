"""Deliveries per second through the whole outbox, against Apprise on the same notifications.

    .venv/bin/python -m bench.delivery [--count 20000] [--slow-count 5000] [--apprise-count N]

A playbook with one rule decides a webhook nudge for each of --count users (a sweep, not
timed); then nudgeflow's Dispatcher claims, signs, sends and records them until none is left
(timed). The receiver is an aiohttp sink on 127.0.0.1 in its own process, so it does not
compete with the sender for the interpreter; it counts every webhook-id it gets, and the run
fails if any delivery is missing, doubled or not recorded as sent. In the same run Apprise
sends the same number of JSON notifications to the same sink with its own concurrency (its
async_notify, many at once, on its thread pool). Then both again with the sink answering
after 100 ms, as real providers do.

Goals (issue 4): ≥ 3,000 deliveries/s on SQLite and ≥ 5× Apprise; ≥ 1,000/s with the slow sink.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

import apprise
import sqlalchemy as sa
from aiohttp import ClientSession, web

from nudgeflow.channels import configured
from nudgeflow.clock import FrozenClock
from nudgeflow.config import load_settings
from nudgeflow.dispatch import Dispatcher
from nudgeflow.engine import Engine
from nudgeflow.rules import Candidate, Facts, Playbook
from nudgeflow.store.schema import deliveries

SECRET = "whsec_" + base64.b64encode(b"bench-secret-0123456789abcdefgh").decode()
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

bench = Playbook("bench")


@bench.rule(cadence="on_facts", cooldown="0m", channels=["webhook"], proactive=False,
            counts_toward_cap=False)  # fmt: skip
def ping(facts: Facts, now: datetime) -> Candidate:
    return Candidate(f"ping:{facts.user.id}", "Your weekly review", "Ten minutes to look back.")


# ---- the sink, in its own process -------------------------------------------------------------


def _sink(port_out: Connection, delay: float) -> None:
    seen: Counter[str] = Counter()

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        seen[request.headers.get("webhook-id", "apprise")] += 1
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=204)

    async def stats(_: web.Request) -> web.Response:
        twice = sum(1 for key, n in seen.items() if n > 1 and key != "apprise")
        return web.json_response({"ours": len(seen) - ("apprise" in seen), "twice": twice,
                                  "apprise": seen["apprise"]})  # fmt: skip

    async def reset(_: web.Request) -> web.Response:
        seen.clear()
        return web.Response(status=204)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hook", hook)
        app.router.add_get("/stats", stats)
        app.router.add_post("/reset", reset)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
        await site.start()
        port_out.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


@dataclass
class Sink:
    process: mp.Process
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def get(self, path: str, method: str = "GET") -> dict[str, int]:
        async def call() -> dict[str, int]:
            async with (
                ClientSession() as http,
                http.request(method, f"http://127.0.0.1:{self.port}{path}") as answer,
            ):
                return await answer.json() if answer.status == 200 else {}

        return asyncio.run(call())


def start_sink(delay: float) -> Sink:
    ours, theirs = mp.Pipe()
    process = mp.Process(target=_sink, args=(theirs, delay), daemon=True)
    process.start()
    return Sink(process, ours.recv())


# ---- nudgeflow ---------------------------------------------------------------------------------


def queued_engine(folder: Path, count: int, url: str) -> Engine:
    """`count` users each with one webhook nudge decided and due now."""
    database = f"sqlite:///{folder / 'bench.db'}"
    settings = load_settings(database_url=database, quiet_hours=None,
                             webhook={"secret": SECRET, "allow_private": True})  # fmt: skip
    engine = Engine(database, settings=settings, clock=FrozenClock(NOW), playbooks=[bench])
    prefs = {"channels": ["webhook"]}
    engine.upsert_users(
        {"id": f"u{n:06d}", "addresses": {"webhook": url}, "preferences": prefs}
        for n in range(count)
    )
    report = engine.sweep()
    assert report.scheduled == count, report.as_dict()
    return engine


async def drain(engine: Engine) -> int:
    """Dispatch rounds until the outbox is empty; how many were sent."""
    dispatcher = Dispatcher(engine, configured(engine.settings), batch=1000)
    sent = 0
    try:
        while tally := await dispatcher.run_once():
            sent += tally["sent"]
    finally:
        await dispatcher.aclose()
    return sent


def run_nudgeflow(sink: Sink, count: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        engine = queued_engine(Path(folder), count, sink.url)
        started = time.perf_counter()
        sent = asyncio.run(drain(engine))
        seconds = time.perf_counter() - started
        with engine.db.connect() as conn:
            statuses = dict(conn.execute(sa.select(deliveries.c.status, sa.func.count())
                                         .group_by(deliveries.c.status)).tuples().all())  # fmt: skip
        engine.close()
    got = sink.get("/stats")
    assert sent == count, sent
    assert statuses == {"sent": count}, statuses
    assert (got["ours"], got["twice"]) == (count, 0), got
    return count / seconds


# ---- Apprise -------------------------------------------------------------------------------------


def run_apprise(sink: Sink, count: int, at_once: int = 200) -> float:
    target = apprise.Apprise()
    target.add(f"json://127.0.0.1:{sink.port}/hook")

    async def send_all() -> list[bool]:
        results: list[bool] = []
        for start in range(0, count, at_once):
            wave = range(start, min(start + at_once, count))
            answers = await asyncio.gather(*(target.async_notify(
                title="Your weekly review", body=f"Ten minutes to look back ({n}).") for n in wave))  # fmt: skip
            results += [bool(answer) for answer in answers]
        return results

    started = time.perf_counter()
    results = asyncio.run(send_all())
    seconds = time.perf_counter() - started
    got = sink.get("/stats")
    assert all(results), sum(results)
    assert got["apprise"] == count, got
    return count / seconds


# ---- the run ---------------------------------------------------------------------------------------


def scenario(name: str, delay: float, ours: int, theirs: int, goal: float) -> None:
    sink = start_sink(delay)
    try:
        rate = run_nudgeflow(sink, ours)
        sink.get("/reset", "POST")
        peer = run_apprise(sink, theirs)
    finally:
        sink.process.terminate()
    verdict = "PASS" if rate >= goal and rate >= 5 * peer else "FAIL"
    print(f"\n{name}")
    print(
        f"  nudgeflow Dispatcher → webhook  {rate:>9,.0f} deliveries/s  ({ours:,} sent, signed, recorded)"
    )
    print(f"  Apprise async_notify → json://  {peer:>9,.0f} notifications/s  ({theirs:,} sent)")
    print(f"  ratio {rate / peer:.1f}×; goal ≥ {goal:,.0f}/s and ≥ 5× Apprise: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--slow-count", type=int, default=5_000)
    parser.add_argument("--apprise-count", type=int, default=5_000,
                        help="Apprise's share (it is slow; rates are per second either way)")  # fmt: skip
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, SQLite, apprise {apprise.__version__}"
    )
    scenario("sink answers at once", 0.0, args.count, args.apprise_count, 3_000)
    scenario(
        "sink answers after 100 ms", 0.1, args.slow_count, min(args.apprise_count, 1_000), 1_000
    )


if __name__ == "__main__":
    main()
