"""Deliveries per second through the whole outbox, against Apprise on the same notifications.

    python -m bench.delivery [--count 20000] [--database-url postgresql+psycopg://…]
                             [--apprise-count N] [--apprise-slow-count 1000] [--batch 500]
                             [--only fast|slow] [--uvloop] [--profile]

--count webhook deliveries are queued straight into a fresh outbox (a nudge and a pending
delivery each, due now, for --count users whose webhook address is the sink), on SQLite in a
temporary directory and, given --database-url, also in a throwaway database created in that
PostgreSQL cluster and dropped afterwards. Then nudgeflow's Dispatcher (webhook channel
configured by settings, as `nudgeflow worker` builds it) runs rounds as the worker does until
every delivery is sent (timed): claim with a lease, sign per Standard Webhooks, POST through
WebhookChannel, record the results.

The receiver is an aiohttp sink on 127.0.0.1 in its own process, so it does not compete for
the sender's interpreter. It checks every signature and counts every webhook-id; the run
fails loudly unless the sink got each delivery exactly once, every signature verified, and
the outbox shows every delivery sent (none retried, parked, dead or ambiguous).

In the same run Apprise sends the same number of JSON notifications (`json://` URLs) to the
same sink, each carrying its own number so the sink checks it got each exactly once, in the
two concurrent ways Apprise offers: an `await Apprise.async_notify(...)` per notification,
all at once, on one target; and one `async_notify` fanned out to one target per
notification. Both run on Apprise's shared thread pool; the faster one is the baseline.
Plain aiohttp POSTs with as many in flight as WebhookChannel allows, no outbox, show what
the HTTP client and the sink can do on this machine at the moment: the ceiling.

Then all of it again with the sink answering after 100 ms, as real providers do; Apprise
sends --apprise-slow-count there (it is slow, and a rate is a rate).

CPU seconds are printed with every figure (the sender's process; the sink's): on a machine
that other work keeps busy, µs of CPU a delivery is the figure that does not move.

Goals (issue 4): ≥ 3,000 deliveries/s on SQLite and ≥ 5× Apprise; ≥ 1,000/s with the slow sink.
--profile runs the first nudgeflow run under cProfile and prints where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import hashlib
import hmac
import importlib
import multiprocessing as mp
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import ClientSession, web

from nudgeflow.channels import configured
from nudgeflow.channels.webhook import WebhookChannel
from nudgeflow.config import load_settings
from nudgeflow.dispatch import Dispatcher
from nudgeflow.engine import Engine
from nudgeflow.ids import new_id
from nudgeflow.store import bulk, outbox
from nudgeflow.store.database import writer
from nudgeflow.store.schema import deliveries, nudges

SECRET = "whsec_" + base64.b64encode(b"bench-secret-0123456789abcdefgh").decode()
GOAL_FAST = 3_000.0
GOAL_SLOW = 1_000.0
GOAL_RATIO = 5.0
SLOW_MS = 100
TITLE, BODY = "Your weekly review", "Ten minutes to look back"


class BenchFailed(SystemExit):
    """A correctness check failed: the figures of this run mean nothing."""

    def __init__(self, what: str) -> None:
        super().__init__(f"FAILED: {what}")


def check(ok: bool, what: str) -> None:
    if not ok:
        raise BenchFailed(what)


@dataclass(frozen=True)
class Measure:
    label: str
    count: int
    seconds: float
    cpu: float  # seconds of CPU the sending process used
    sink_cpu: float  # seconds of CPU the sink used

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def line(self, unit: str, note: str = "") -> str:
        per = self.cpu / self.count * 1e6
        return (f"  {self.label:<44} {self.rate:>7,.0f} {unit}/s  {self.count:>6,} in {self.seconds:5.2f} s,"
                f" CPU {self.cpu:5.2f} s ({per:4.0f} µs each), sink CPU {self.sink_cpu:5.2f} s{note}")  # fmt: skip


# ---- the sink, in its own process -------------------------------------------------------------


class Receiver:
    """POST /{ms}/hook: a signed webhook of ours (the signature checked); /{ms}/apprise[/{n}]:
    Apprise's JSON (its number in the path, else at the end of the message); /{ms}/raw: the
    plain aiohttp ceiling. Each answers 204 after `ms` milliseconds."""

    def __init__(self) -> None:
        self.key = base64.b64decode(SECRET.removeprefix("whsec_"))
        self.ours: Counter[str] = Counter()
        self.theirs: Counter[str] = Counter()
        self.raw: Counter[str] = Counter()
        self.bad: list[str] = []
        self.cpu_at_reset = time.process_time()

    def verified(self, headers: Any, body: bytes) -> bool:
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
        expected = base64.b64encode(hmac.digest(self.key, signed, hashlib.sha256)).decode()
        return any(
            hmac.compare_digest(s.removeprefix("v1,"), expected)
            for s in headers["webhook-signature"].split()
        )

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        webhook_id = request.headers.get("webhook-id", "")
        self.ours[webhook_id] += 1
        if not webhook_id or not self.verified(request.headers, body):
            self.bad.append(webhook_id)
        return await self.answer(request)

    async def apprise(self, request: web.Request) -> web.Response:
        number = request.match_info.get("n")
        if number is None:
            number = str((await request.json())["message"]).rsplit("#", 1)[-1]
        else:
            await request.read()
        self.theirs[number] += 1
        return await self.answer(request)

    async def plain(self, request: web.Request) -> web.Response:
        await request.read()
        self.raw[request.headers.get("x-n", "")] += 1
        return await self.answer(request)

    @staticmethod
    async def answer(request: web.Request) -> web.Response:
        delay = int(request.match_info["ms"])
        if delay:
            await asyncio.sleep(delay / 1000)
        return web.Response(status=204)

    async def stats(self, _: web.Request) -> web.Response:
        def twice(seen: Counter[str]) -> int:
            return sum(1 for n in seen.values() if n > 1)

        return web.json_response({
            "ours": len(self.ours), "ours_requests": self.ours.total(),
            "ours_twice": twice(self.ours), "bad_signatures": len(self.bad),
            "apprise": len(self.theirs), "apprise_requests": self.theirs.total(),
            "raw": len(self.raw), "raw_requests": self.raw.total(),
            "cpu_ms": round((time.process_time() - self.cpu_at_reset) * 1000),
        })  # fmt: skip

    async def reset(self, _: web.Request) -> web.Response:
        for seen in (self.ours, self.theirs, self.raw):
            seen.clear()
        self.bad.clear()
        self.cpu_at_reset = time.process_time()
        return web.Response(status=204)

    async def serve(self, port_out: Connection) -> None:
        app = web.Application()
        app.router.add_post("/{ms:\\d+}/hook", self.hook)
        app.router.add_post("/{ms:\\d+}/apprise", self.apprise)
        app.router.add_post("/{ms:\\d+}/apprise/{n}", self.apprise)
        app.router.add_post("/{ms:\\d+}/raw", self.plain)
        app.router.add_get("/stats", self.stats)
        app.router.add_post("/reset", self.reset)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port_out.send(runner.addresses[0][1])
        await asyncio.Event().wait()


def _sink(port_out: Connection) -> None:
    try:  # the sink is not what is measured: let it be as quick as it can
        uvloop = importlib.import_module("uvloop")
        uvloop.run(Receiver().serve(port_out))
    except ImportError:
        asyncio.run(Receiver().serve(port_out))


@dataclass
class Sink:
    process: mp.process.BaseProcess
    port: int

    def url(self, delay_ms: int, path: str = "hook") -> str:
        return f"http://127.0.0.1:{self.port}/{delay_ms}/{path}"

    def stats(self) -> dict[str, int]:
        return asyncio.run(self._call("GET", "/stats"))

    def reset(self) -> None:
        asyncio.run(self._call("POST", "/reset"))

    async def _call(self, method: str, path: str) -> dict[str, int]:
        async with (
            ClientSession() as http,
            http.request(method, f"http://127.0.0.1:{self.port}{path}") as answer,
        ):
            answer.raise_for_status()
            found: dict[str, int] = await answer.json() if answer.status == 200 else {}
            return found

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(5)


def start_sink() -> Sink:
    """The sink's process, forked: start it before this process has threads."""
    context = mp.get_context("fork")
    ours, theirs = context.Pipe()
    process = context.Process(target=_sink, args=(theirs,), daemon=True)
    process.start()
    check(ours.poll(30), "the sink did not start")
    port: int = ours.recv()
    return Sink(process, port)


# ---- the databases ------------------------------------------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="nudgeflow-bench-") as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


@contextmanager
def postgres_database(cluster_url: str) -> Iterator[str]:
    """A throwaway database in the cluster, dropped afterwards."""
    name = f"nudgeflow_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(cluster_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield sa.make_url(cluster_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def emptied(label: str, url: str) -> None:
    """The database as if new: every run starts from an empty outbox."""
    if label == "SQLite":
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        return
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


# ---- nudgeflow ---------------------------------------------------------------------------------


def queued(database_url: str, count: int, webhook_url: str) -> Engine:
    """An engine whose outbox holds `count` webhook deliveries due now, one per user, and whose
    settings configure the webhook channel (secret, loopback allowed)."""
    settings = load_settings(
        database_url=database_url, webhook={"secret": SECRET, "allow_private": True}
    )
    engine = Engine(database_url, settings=settings, playbooks=[])
    users = [f"u{n:06d}" for n in range(count)]
    for start in range(0, count, 5_000):
        chunk = users[start : start + 5_000]
        engine.upsert_users({"id": uid, "addresses": {"webhook": webhook_url}} for uid in chunk)
    now = engine.clock.now() - timedelta(seconds=1)
    nudge_rows: list[tuple[Any, ...]] = []
    delivery_rows: list[tuple[Any, ...]] = []
    for n, uid in enumerate(users):
        nid = new_id("n")
        nudge_rows.append((nid, uid, "bench", "bench", f"bench:{n}", "scheduled", "bench", 1.0,
                           TITLE, f"{BODY} #{n}", "Open", "/review", "webhook", now, None, None,
                           now, now, None, {}, None, None))  # fmt: skip
        delivery_rows.append((new_id("d"), nid, "webhook", "pending", now, 0, None, now, now,
                              None, None, None, False))  # fmt: skip
    with writer(engine.db).begin() as conn:
        bulk.insert_rows(conn, nudges, nudge_rows)
        bulk.insert_rows(conn, deliveries, delivery_rows)
    return engine


async def drain(engine: Engine, count: int, batch: int) -> Counter[str]:
    """Dispatcher rounds as `nudgeflow worker` runs them (back to back, overlapping, while
    work is due) until `count` are settled or nothing more is due."""
    dispatcher = Dispatcher(engine, configured(engine.settings), batch=batch)
    total: Counter[str] = Counter()
    try:
        while total["sent"] + total["dead"] < count:
            tally = await dispatcher.run_until_idle()
            if not tally:
                break
            total += tally
    finally:
        await dispatcher.aclose()
    return total


def loop_runner(use_uvloop: bool) -> asyncio.Runner:
    """Where the rounds run, as in `nudgeflow worker` (one Runner for all of them): stock
    asyncio, or uvloop with --uvloop."""
    if use_uvloop:
        uvloop = importlib.import_module("uvloop")
        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    return asyncio.Runner()


def run_nudgeflow(
    sink: Sink, label: str, database_url: str, delay_ms: int, args: argparse.Namespace
) -> Measure:
    count = args.count
    engine = queued(database_url, count, sink.url(delay_ms))
    runner = loop_runner(args.uvloop)
    profiler = cProfile.Profile() if args.profile_now else None
    sink.reset()
    try:
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        tally = runner.run(drain(engine, count, args.batch))
        if profiler:
            profiler.disable()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        with engine.db.connect() as conn:
            counts = outbox.counts(conn)
    finally:
        runner.close()
        engine.close()
    got = sink.stats()
    check(dict(tally) == {"sent": count}, f"the dispatcher's tally is {dict(tally)}")
    check(counts == {"sent": count, "ambiguous": 0}, f"the outbox shows {counts}")
    check(got["bad_signatures"] == 0, f"{got['bad_signatures']} webhook signatures did not verify")
    check(
        (got["ours"], got["ours_requests"]) == (count, count),
        f"the sink got {got['ours_requests']} requests for {got['ours']} of {count} deliveries",
    )
    measure = Measure(f"nudgeflow Dispatcher → webhook, {label}", count, seconds, cpu,
                      got["cpu_ms"] / 1000)  # fmt: skip
    if profiler:
        args.profile_now = False
        report_profile(profiler, measure)
    return measure


def report_profile(profiler: cProfile.Profile, measure: Measure) -> None:
    print(f"\n  cProfile of this run ({measure.count:,} deliveries in {measure.seconds:.2f} s, "
          "slowed by the profiler):")  # fmt: skip
    for order in ("tottime", "cumulative"):
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.strip_dirs().sort_stats(order).print_stats(25)


def run_aiohttp(sink: Sink, count: int, delay_ms: int, use_uvloop: bool) -> Measure:
    """The HTTP client alone: POSTs of a webhook's size, as many in flight as WebhookChannel
    allows, one keep-alive session, no outbox, no signing."""
    in_flight = WebhookChannel.limits.concurrency
    body = b"{" + b"x" * 1_150 + b"}"

    async def send_all() -> None:
        slots = asyncio.Semaphore(in_flight)
        connector = aiohttp.TCPConnector(limit=in_flight)
        async with ClientSession(connector=connector) as http:

            async def one(n: int) -> None:
                async with slots, http.post(sink.url(delay_ms, "raw"), data=body,
                                            headers={"x-n": str(n)}) as answer:  # fmt: skip
                    await answer.read()
                    check(answer.status == 204, f"the sink answered {answer.status}")

            await asyncio.gather(*(one(n) for n in range(count)))

    runner = loop_runner(use_uvloop)
    sink.reset()
    try:
        started, cpu = time.perf_counter(), time.process_time()
        runner.run(send_all())
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        runner.close()
    got = sink.stats()
    check((got["raw"], got["raw_requests"]) == (count, count), f"aiohttp alone: the sink got {got}")
    label = f"aiohttp alone, {in_flight} in flight (the ceiling)"
    return Measure(label, count, seconds, cpu, got["cpu_ms"] / 1000)


# ---- Apprise -------------------------------------------------------------------------------------


def apprise_module() -> Any:
    """Apprise, or None when it is not installed (a dev dependency)."""
    try:
        return importlib.import_module("apprise")
    except ImportError:
        return None


def apprise_json(url: str) -> str:
    return url.replace("http://", "json://", 1)


async def apprise_each(apprise: Any, sink: Sink, count: int, delay_ms: int) -> list[bool]:
    """One target; an `async_notify` per notification, all awaited at once."""
    target = apprise.Apprise()
    check(target.add(apprise_json(sink.url(delay_ms, "apprise"))), "Apprise refused the URL")
    answers = await asyncio.gather(
        *(target.async_notify(title=TITLE, body=f"{BODY} #{n}") for n in range(count))
    )
    return [bool(answer) for answer in answers]


async def apprise_fan_out(apprise: Any, sink: Sink, count: int, delay_ms: int) -> list[bool]:
    """One target per notification (its number in the path), one `async_notify` for all."""
    target = apprise.Apprise()
    base = apprise_json(sink.url(delay_ms, "apprise"))
    check(target.add([f"{base}/{n}" for n in range(count)]), "Apprise refused the URLs")
    check(len(target) == count, f"Apprise loaded {len(target)} of {count} targets")
    return [bool(await target.async_notify(title=TITLE, body=BODY))]


ApprisePath = Callable[[Any, Sink, int, int], Coroutine[Any, Any, list[bool]]]
APPRISE_PATHS: dict[str, ApprisePath] = {
    "Apprise: async_notify × N, one target": apprise_each,
    "Apprise: one async_notify, N targets": apprise_fan_out,
}


def run_apprise(apprise: Any, label: str, sink: Sink, count: int, *, delay_ms: int) -> Measure:
    path = APPRISE_PATHS[label]
    sink.reset()
    started, cpu = time.perf_counter(), time.process_time()
    results = asyncio.run(path(apprise, sink, count, delay_ms))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    got = sink.stats()
    check(all(results), f"{label}: Apprise reported {results.count(False)} failed notify calls")
    check(
        (got["apprise"], got["apprise_requests"]) == (count, count),
        f"{label}: the sink got {got['apprise_requests']} requests for {got['apprise']} of {count}",
    )
    return Measure(label, count, seconds, cpu, got["cpu_ms"] / 1000)


# ---- the run ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    delay_ms: int
    goal: float
    apprise_count: int


def run_scenario(
    sink: Sink, scenario: Scenario, databases: dict[str, str], args: argparse.Namespace
) -> list[str]:
    """Print the scenario's figures; return the goals it missed."""
    print(f"\n{scenario.name}  (load average {_load()})", flush=True)
    ours: dict[str, Measure] = {}
    for label, url in databases.items():
        emptied(label, url)
        ours[label] = run_nudgeflow(sink, label, url, scenario.delay_ms, args)
        print(ours[label].line("deliveries"), flush=True)
    ceiling = run_aiohttp(sink, args.count, scenario.delay_ms, args.uvloop)
    print(ceiling.line("requests"), flush=True)
    apprise = apprise_module()
    theirs: list[Measure] = []
    if apprise is None:
        print("  (Apprise is not installed: pip install apprise for the baseline)")
    elif scenario.apprise_count:
        n = scenario.apprise_count
        note = "" if n == args.count else f"  (only {n:,}: Apprise is slow here)"
        for label in APPRISE_PATHS:
            theirs.append(run_apprise(apprise, label, sink, n, delay_ms=scenario.delay_ms))
            print(theirs[-1].line("notifications", note), flush=True)
    peer = max((m.rate for m in theirs), default=0.0)
    missed = []
    for label, measure in ours.items():
        versus = f"{measure.rate / peer:.1f}× Apprise's best" if peer else "no Apprise figure"
        if scenario.delay_ms == 0 and label != "SQLite":  # the issue sets that goal on SQLite
            print(f"  {label}: {versus}, {measure.rate / ceiling.rate:.0%} of the ceiling")
            continue
        goals = [measure.rate >= scenario.goal]
        wanted = f"≥ {scenario.goal:,.0f}/s"
        if scenario.delay_ms == 0 and peer:
            goals.append(measure.rate >= GOAL_RATIO * peer)
            wanted += f" and ≥ {GOAL_RATIO:g}× Apprise"
        verdict = "met" if all(goals) else "MISSED"
        print(f"  {label}: {versus}, {measure.rate / ceiling.rate:.0%} of the ceiling; "
              f"goal {wanted}: {verdict}")  # fmt: skip
        if not all(goals):
            missed.append(f"{scenario.name}, {label}")
    return missed


def _load() -> str:
    return " ".join(f"{n:.1f}" for n in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="deliveries a run")
    parser.add_argument("--database-url", help="also on a throwaway database in this PostgreSQL cluster")  # fmt: skip
    parser.add_argument("--apprise-count", type=int, help="Apprise's share with the quick sink (default --count; 0: none)")  # fmt: skip
    parser.add_argument("--apprise-slow-count", type=int, default=1_000, help="Apprise's share with the slow sink (0: none)")  # fmt: skip
    parser.add_argument("--batch", type=int, default=500, help="the Dispatcher's batch (its default: 500)")  # fmt: skip
    parser.add_argument("--only", choices=("fast", "slow"), help="one of the two scenarios")
    parser.add_argument("--uvloop", action="store_true", help="run the Dispatcher on uvloop")
    parser.add_argument("--profile", action="store_true", help="cProfile the first nudgeflow run")
    args = parser.parse_args()
    args.profile_now = args.profile
    sink = start_sink()  # first, while this process has no threads
    try:
        apprise = apprise_module()
        print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
              f"{'uvloop' if args.uvloop else 'asyncio'} loop, batch {args.batch}, "
              f"apprise {getattr(apprise, '__version__', 'not installed')}, "
              f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")  # fmt: skip
        quick = args.count if args.apprise_count is None else args.apprise_count
        scenarios = {
            "fast": Scenario("sink answers at once", 0, GOAL_FAST, quick),
            "slow": Scenario(
                f"sink answers after {SLOW_MS} ms", SLOW_MS, GOAL_SLOW, args.apprise_slow_count
            ),
        }
        chosen = [scenarios[args.only]] if args.only else list(scenarios.values())
        missed: list[str] = []
        with sqlite_database() as sqlite_url, _maybe_postgres(args.database_url) as pg_url:
            databases = {"SQLite": sqlite_url} | ({"PostgreSQL": pg_url} if pg_url else {})
            for scenario in chosen:
                missed += run_scenario(sink, scenario, databases, args)
    finally:
        sink.stop()
    print(f"\ngoals: ≥ {GOAL_FAST:,.0f} deliveries/s on SQLite and ≥ {GOAL_RATIO:g}× Apprise; "
          f"≥ {GOAL_SLOW:,.0f}/s with the sink answering after {SLOW_MS} ms")  # fmt: skip
    print("all goals met" if not missed else "missed: " + "; ".join(missed))


@contextmanager
def _maybe_postgres(cluster_url: str | None) -> Iterator[str | None]:
    if cluster_url is None:
        yield None
        return
    with postgres_database(cluster_url) as url:
        yield url


if __name__ == "__main__":
    main()
