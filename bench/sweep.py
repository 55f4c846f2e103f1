"""How fast a sweep is, and that its cost follows the work due, not the user base.

    python -m bench.sweep [--users 1000000] [--postgres URL] [--only sqlite|postgresql]

For each database, on the demo career population (bench/population.py):
  (a) a full sweep of N users, everyone due, in one process: users/s and peak memory
      (measured in a fresh child process, so loading the population does not count);
  (b) 10,000 due users among populations of 10,000, 100,000 and N: seconds each, and the
      ratio largest / smallest (flat is ≤ 1.5);
  (c) the naive baseline (bench/naive.py: every user loaded, queries per user and rule,
      a commit per user) against nudgeflow's sweep on the 10,000-user population;
  and, for scale, the ten career rules alone over facts in memory: the ceiling for (a).
Populations are built once and kept (a SQLite file under bench/.cache, a PostgreSQL
template database); every measurement runs on a fresh copy of one.
PostgreSQL comes from --postgres or NUDGEFLOW_BENCH_POSTGRES_URL (for example the cluster
`scripts/pg-temp start` makes); without one, only SQLite runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog

from bench.naive import naive_sweep
from bench.population import load
from nudgeflow.clock import FrozenClock
from nudgeflow.config import load_settings
from nudgeflow.engine import Engine
from nudgeflow.evaluation import Ticks, build_user, run_rules
from nudgeflow.rules import Facts
from nudgeflow.store import database, sweeps
from nudgeflow.store.schema import users

SEED = 7
LOADED = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)  # facts are as of this instant
SWEEP_AT = LOADED + timedelta(days=1)
DUE = 10_000
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"


class Store:
    """Populations of one database: built once, handed out as fresh copies."""

    def __init__(self, kind: str, admin_url: str | None = None) -> None:
        self.kind = kind
        self.admin_url = admin_url

    def fresh(self, size: int) -> str:
        """The URL of a new, settled copy of the population of `size` users."""
        url = self._copy(size)
        settle(url)
        return url

    def _copy(self, size: int) -> str:
        if self.kind == "sqlite":
            base = CACHE / f"population-{size}-seed{SEED}.db"
            if not base.exists():
                self._build(f"sqlite:///{base}", size)
            work = CACHE / "work.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{work}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(base, work)
            return f"sqlite:///{work}"
        assert self.admin_url
        template = f"nf_bench_{size}_seed{SEED}"
        with self._admin() as conn:
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %s", (template,)
            ).scalar()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{template}"')
        if not exists:
            self._build(self._url(template), size)
        with self._admin() as conn:
            conn.exec_driver_sql('DROP DATABASE IF EXISTS "nf_bench_work" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "nf_bench_work" TEMPLATE "{template}"')
        return self._url("nf_bench_work")

    def _admin(self) -> sa.Connection:
        engine = sa.create_engine(self._url("postgres"), isolation_level="AUTOCOMMIT")
        return engine.connect()

    def _url(self, name: str) -> str:
        assert self.admin_url
        url = sa.engine.make_url(self.admin_url).set(drivername="postgresql+psycopg")
        return url.set(database=name).render_as_string(hide_password=False)

    def _build(self, url: str, size: int) -> None:
        started = time.perf_counter()
        engine = database.connect(url)
        load(engine, size, seed=SEED, now=LOADED)
        engine.dispose()
        print(
            f"  built population of {size:,} in {time.perf_counter() - started:.0f} s", flush=True
        )


def engine_at(url: str) -> Engine:
    return Engine(url, settings=load_settings(database_url=url), clock=FrozenClock(SWEEP_AT))


def settle(url: str) -> None:
    """What a database does on its own between bulk changes, done now: fresh planner
    statistics and, on PostgreSQL, dead row versions vacuumed (autovacuum would, in time)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE")
    engine.dispose()


def only_some_due(url: str, size: int) -> None:
    """Every (size / DUE)-th user due now, the rest tomorrow."""
    engine = database.connect(url)
    step = size // DUE
    later = SWEEP_AT + timedelta(days=1)
    with engine.begin() as conn:
        conn.execute(sa.update(users).values(next_check_at=later))
        ids = [f"demo-{i:04d}" for i in range(0, size, step)][:DUE]
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            conn.execute(
                sa.update(users).where(users.c.id.in_(chunk)).values(next_check_at=SWEEP_AT)
            )
    engine.dispose()
    settle(url)


def timed_sweep(url: str) -> dict[str, Any]:
    engine = engine_at(url)
    started, cpu = time.perf_counter(), time.process_time()
    report = engine.sweep()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.close()
    return {
        "users": report.users,
        "candidates": report.candidates,
        "nudges": report.scheduled + report.deferred,
        "seconds": round(seconds, 3),
        "users_per_second": round(report.users / seconds),
        # This process's own CPU: on a busy machine the wall clock also counts waiting for a
        # CPU; on PostgreSQL the server's work is in its own processes, not here.
        "cpu_seconds": round(cpu, 3),
        "peak_rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> int:
    """This process's peak resident memory. VmHWM, not ru_maxrss: the latter carries the
    parent's peak over a fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def child_sweep(url: str) -> dict[str, Any]:
    """A sweep in a fresh interpreter, so its peak memory is the sweep's own."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.sweep", "--child", url],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def naive(url: str) -> dict[str, Any]:
    engine = engine_at(url)
    started = time.perf_counter()
    written = naive_sweep(engine.db, engine.rules, engine.settings, SWEEP_AT)
    seconds = time.perf_counter() - started
    with engine.db.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
    engine.close()
    return {"users": count, "nudges": written, "seconds": round(seconds, 3),
            "users_per_second": round(count / seconds)}  # fmt: skip


def rules_alone(url: str) -> float:
    """Users/s of the rules by themselves over facts already in memory: no database, no
    policy, no writes. The ceiling a sweep with these rules cannot pass."""
    engine = engine_at(url)
    with engine.db.connect() as conn:
        rows = sweeps.peek_due(conn, SWEEP_AT, DUE, None)
        facts = sweeps.load_facts(conn, rows, SWEEP_AT)
    everyone = [
        (Facts(build_user(r), facts.records.get(r.id, {}), facts.events.get(r.id, {})), r)
        for r in rows
    ]
    ticks = Ticks(SWEEP_AT, engine.rules)
    started = time.perf_counter()
    for user_facts, row in everyone:
        run_rules(engine.rules, user_facts, row.checked_at, ticks)
    seconds = time.perf_counter() - started
    engine.close()
    return len(everyone) / seconds


def bench(store: Store, size: int, *, full_only: bool = False) -> None:
    print(f"\n== {store.kind} ==", flush=True)
    if not full_only:
        flat_and_naive(store, size)
    full = child_sweep(store.fresh(size))
    print(f"(a) full sweep of {full['users']:,} users: {full['seconds']:.1f} s, "
          f"{full['users_per_second']:,} users/s (goal ≥ 20,000), {full['candidates']:,} candidates, "
          f"{full['nudges']:,} nudges, peak memory {full['peak_rss_mb']} MB (goal < 500); "
          f"sweep process CPU {full['cpu_seconds']:.1f} s", flush=True)  # fmt: skip


def flat_and_naive(store: Store, size: int) -> None:
    """(b), (c) and the rules alone."""
    sizes = sorted({DUE, min(10 * DUE, size), size})
    flat: dict[int, float] = {}
    for population in sizes:
        url = store.fresh(population)
        only_some_due(url, population)
        result = timed_sweep(url)
        flat[population] = result["seconds"]
        print(f"(b) {DUE:,} due among {population:>9,}: {result['seconds']:.2f} s "
              f"({result['users']:,} users, {result['nudges']:,} nudges)", flush=True)  # fmt: skip
    ratio = max(flat.values()) / min(flat.values())
    print(f"(b) largest / smallest: {ratio:.2f} (goal ≤ 1.5)", flush=True)

    ours = timed_sweep(store.fresh(DUE))
    theirs = naive(store.fresh(DUE))
    print(f"(c) population {DUE:,}, everyone due: nudgeflow {ours['seconds']:.2f} s "
          f"({ours['nudges']:,} nudges), naive {theirs['seconds']:.2f} s ({theirs['nudges']:,} nudges): "
          f"{theirs['seconds'] / ours['seconds']:.1f}× faster (goal ≥ 10× on PostgreSQL)", flush=True)  # fmt: skip

    print(f"    the rules alone, in memory: {rules_alone(store.fresh(DUE)):,.0f} users/s", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=os.environ.get("NUDGEFLOW_BENCH_POSTGRES_URL"))
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--full-only", action="store_true", help="measure only (a), the full sweep")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.child:
        print(json.dumps(timed_sweep(args.child)))
        return
    CACHE.mkdir(exist_ok=True)
    print(f"demo career population, seed {SEED}, sweep at {SWEEP_AT:%Y-%m-%d %H:%M} UTC; "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")  # fmt: skip
    if args.only != "postgresql":
        bench(Store("sqlite"), args.users, full_only=args.full_only)
    if args.only != "sqlite":
        if args.postgres:
            bench(Store("postgresql", args.postgres), args.users, full_only=args.full_only)
        else:
            print("\n(PostgreSQL skipped: pass --postgres URL or set NUDGEFLOW_BENCH_POSTGRES_URL)")


if __name__ == "__main__":
    main()
