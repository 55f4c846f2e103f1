"""How fast the HTTP API answers over loopback: inbox reads and actions on nudges.

    python -m bench.api [--clients 50] [--seconds 10] [--users 2000] [--procs 1] [--client raw|httpx]

A SQLite database in a temporary directory gets the demo career population (seed 7), swept
and delivered once a day for three days up to now, an API key for a host app and a token for
every user. Then `nudgeflow serve --no-loops --log-format json` runs as a real subprocess on
127.0.0.1 (its JSON log, a line a request, goes to a file: logging is part of the real cost)
and --clients keep-alive connections drive it, each phase for --seconds:

  (0) GET /healthz: the baseline, what the server stack (uvicorn, FastAPI, the middleware
      and its request log) costs with no work behind it (an async route, no thread hop);
  (1) GET /v1/users/{id}/nudges?limit=20 for random users (most of whom have no nudge in
      their inbox), half with the user's token and half with the host key: the goal on
      SQLite is ≥ 1,500 requests/s with p99 < 50 ms;
  (2) POST /v1/nudges/{id}/accept | dismiss | snooze, each on a distinct delivered nudge
      (so no 409s), until the time is up or the nudges run out.

The load comes from --procs separate processes (asyncio on uvloop, plain HTTP/1.1 with
keep-alive; --client httpx uses httpx2's AsyncClient instead), so it does not share the
server's interpreter; the CPU both sides used is printed with every phase, so a load
generator that is itself the bottleneck shows. The server is stopped with SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import IO, Any

import structlog

SEED = 7
DAYS = 3  # daily sweeps and deliveries the database has behind it
GOAL_RPS = 1_500
GOAL_P99_MS = 50.0
ACTIONS = ("accept", "dismiss", "snooze")
ROOT = Path(__file__).resolve().parent.parent


# ---- the database ---------------------------------------------------------------------------


@dataclass
class Population:
    url: str
    key: str  # a host app's API key
    tokens: dict[str, str]  # user id -> user token
    delivered: list[tuple[str, str]]  # (nudge id, user id), each shown in an inbox


def build(directory: Path, users: int) -> Population:
    """The demo population as of DAYS - 1 days ago, swept and delivered once a day up to
    now (so there are nudges enough for the actions), with its credentials."""
    from nudgeflow.clock import FrozenClock, SystemClock
    from nudgeflow.config import load_settings
    from nudgeflow.demo_run import load
    from nudgeflow.engine import Engine

    url = f"sqlite:///{directory / 'bench.db'}"
    clock = FrozenClock(SystemClock().now() - timedelta(days=DAYS - 1))
    engine = Engine(url, settings=load_settings(database_url=url), clock=clock)
    try:
        load(engine, users=users, seed=SEED)
        for day in range(DAYS):
            if day:
                clock.advance(timedelta(days=1))
            engine.sweep()
            engine.deliver_due()
        delivered = [
            (n["id"], n["user_id"]) for n in engine.nudges(status="delivered", limit=10 * users)
        ]
        key = engine.credentials.create_key("bench", admin_key=False, actor="bench").key
        ids = [f"demo-{i:04d}" for i in range(users)]
        tokens = {u: engine.credentials.issue_token(u)[0] for u in ids}
        with engine.db.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    finally:
        engine.close()
    return Population(url, key, tokens, delivered)


def count_statuses(url: str) -> Counter[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT status, count(*) FROM nudges GROUP BY status").all()
    engine.dispose()
    return Counter({str(status): int(n) for status, n in rows})


# ---- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all CPUs."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


class Server:
    """`nudgeflow serve` in a subprocess, its JSON log to a file."""

    def __init__(self, directory: Path, url: str) -> None:
        self.port = free_port()
        self.log_path = directory / "serve.log"
        script = Path(sys.executable).with_name("nudgeflow")
        command = (
            [str(script)]
            if script.exists()
            else [sys.executable, "-c", "from nudgeflow.cli import main; main()"]
        )
        command += ["serve", "--no-loops", "--host", "127.0.0.1", "--port", str(self.port),
                    "--log-format", "json"]  # fmt: skip
        env = {**os.environ, "NUDGEFLOW_DATABASE_URL": url,
               "NUDGEFLOW_CONFIG": str(directory / "absent.toml")}  # fmt: skip
        self._log: IO[bytes] = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=self._log
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited early:\n{self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(
                        b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
                    )
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit("the server did not answer /healthz in time")

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


# ---- the load: requests each connection sends -----------------------------------------------


Request = tuple[str, str, str, bytes]  # method, path, Authorization, body


def inbox_requests(population: Population, rng: random.Random, count: int) -> list[Request]:
    """Inbox reads of random users, half with their own token, half with the host key."""
    users = list(population.tokens)
    out: list[Request] = []
    for i in range(count):
        user = rng.choice(users)
        auth = population.tokens[user] if i % 2 == 0 else population.key
        out.append(("GET", f"/v1/users/{user}/nudges?limit=20", auth, b""))
    return out


def action_requests(population: Population, rng: random.Random) -> list[Request]:
    """One action on each delivered nudge, in random order: accept, dismiss or snooze in turn,
    half with the owner's token, half with the host key."""
    delivered = list(population.delivered)
    rng.shuffle(delivered)
    out: list[Request] = []
    for i, (nudge_id, user_id) in enumerate(delivered):
        action = ACTIONS[i % len(ACTIONS)]
        auth = population.tokens[user_id] if i % 2 == 0 else population.key
        body = b'{"for": "1h"}' if action == "snooze" else b""
        out.append(("POST", f"/v1/nudges/{nudge_id}/{action}", auth, body))
    return out


@dataclass
class Phase:
    name: str
    seconds: float
    requests: list[Request]  # shared out among the processes; each taken once
    repeat: bool  # cycle through the requests until the time is up (reads), or not (writes)


@dataclass
class Result:
    name: str
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0  # connection-level: refused, reset, unparseable
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    machine_busy: float = 0.0  # CPU-seconds of the whole machine in the phase
    left_over: int = 0  # write requests never sent: the time ran out first

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def errors(self) -> int:
        return self.failures + sum(n for status, n in self.statuses.items() if status >= 400)

    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        """Nearest rank, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def run_phase(server: Server, phase: Phase, *, clients: int, procs: int, client: str) -> Result:
    """`clients` connections spread over `procs` load processes; every process connects
    first, then all start together on one signal."""
    procs = max(1, min(procs, clients))
    children = []
    for p in range(procs):
        spec = {
            "port": server.port,
            "connections": clients // procs + (1 if p < clients % procs else 0),
            "seconds": phase.seconds,
            "repeat": phase.repeat,
            "client": client,
            "requests": [[m, path, auth, body.decode()] for m, path, auth, body in phase.requests[p::procs]],
        }  # fmt: skip
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.api", "--load"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin
        assert child.stdout
        child.stdin.write(json.dumps(spec) + "\n")
        child.stdin.flush()
        children.append(child)
    for child in children:
        assert child.stdout
        if child.stdout.readline().strip() != "ready":
            raise SystemExit(f"a load process failed to connect ({phase.name})")
    server_before, (busy_before, _) = server.cpu(), machine_busy()
    for child in children:
        assert child.stdin
        child.stdin.write("go\n")
        child.stdin.flush()
    result = Result(phase.name)
    for child in children:
        out, _ = child.communicate()
        part = json.loads(out.strip().splitlines()[-1])
        result.elapsed = max(result.elapsed, part["elapsed"])
        result.latencies += part["latencies"]
        result.statuses.update({int(k): v for k, v in part["statuses"].items()})
        result.failures += part["failures"]
        result.client_cpu += part["cpu"]
        result.left_over += part["left_over"]
    result.server_cpu = server.cpu() - server_before
    result.machine_busy = machine_busy()[0] - busy_before
    return result


# ---- the load process -----------------------------------------------------------------------


def raw_request(port: int, method: str, path: str, auth: str, body: bytes) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {auth}\r\n"
    if method != "GET":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, whether the server keeps the connection), the body read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked, keep = 0, False, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
        elif name == b"connection":
            keep = value != b"close"
    if not chunked:
        await reader.readexactly(length)
        return status, keep
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return status, keep


class Load:
    """The connections of one load process and what they measured."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.port: int = spec["port"]
        self.connections: int = spec["connections"]
        self.seconds: float = spec["seconds"]
        self.repeat: bool = spec["repeat"]
        self.requests: list[Request] = [(m, p, a, b.encode()) for m, p, a, b in spec["requests"]]
        self.next = 0
        self.deadline = 0.0
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.failures = 0

    def take(self) -> Request | None:
        if time.perf_counter() >= self.deadline or not self.requests:
            return None
        if self.next >= len(self.requests):
            if not self.repeat:
                return None
            self.next = 0
        request = self.requests[self.next]
        self.next += 1
        return request

    def left_over(self) -> int:
        return 0 if self.repeat else len(self.requests) - self.next

    async def raw(self, go: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        await go.wait()
        try:
            while (request := self.take()) is not None:
                payload = raw_request(self.port, *request)
                started = time.perf_counter()
                try:
                    writer.write(payload)
                    status, keep = await read_response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    self.failures += 1
                    keep = False
                else:
                    self.latencies.append(time.perf_counter() - started)
                    self.statuses[status] += 1
                if not keep:
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        finally:
            writer.close()

    async def httpx(self, go: asyncio.Event, client: Any) -> None:
        import httpx2

        await client.get("/healthz")  # open this task's connection before the start
        await go.wait()
        while (request := self.take()) is not None:
            method, path, auth, body = request
            started = time.perf_counter()
            try:
                response = await client.request(
                    method, path, content=body or None,
                    headers={"Authorization": f"Bearer {auth}", "Content-Type": "application/json"},
                )  # fmt: skip
            except httpx2.HTTPError:
                self.failures += 1
            else:
                self.latencies.append(time.perf_counter() - started)
                self.statuses[response.status_code] += 1

    async def run(self, client: str) -> dict[str, Any]:
        go = asyncio.Event()
        if client == "httpx":
            import httpx2

            limits = httpx2.Limits(max_connections=self.connections,
                                   max_keepalive_connections=self.connections)  # fmt: skip
            async with httpx2.AsyncClient(
                base_url=f"http://127.0.0.1:{self.port}", limits=limits, timeout=60
            ) as session:
                tasks = [asyncio.create_task(self.httpx(go, session)) for _ in range(self.connections)]  # fmt: skip
                return await self._measure(go, tasks)
        tasks = [asyncio.create_task(self.raw(go)) for _ in range(self.connections)]
        return await self._measure(go, tasks)

    async def _measure(self, go: asyncio.Event, tasks: list[asyncio.Task[None]]) -> dict[str, Any]:
        await asyncio.sleep(0.2)  # let every connection open
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        cpu_before = _own_cpu()
        started = time.perf_counter()
        self.deadline = started + self.seconds
        go.set()
        await asyncio.gather(*tasks)
        return {
            "elapsed": time.perf_counter() - started,
            "latencies": self.latencies,
            "statuses": dict(self.statuses),
            "failures": self.failures,
            "cpu": _own_cpu() - cpu_before,
            "left_over": self.left_over(),
        }


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_process() -> None:
    """A load process: a spec on stdin, "ready" once connected, "go" on stdin to start, the
    measurements as one JSON line on stdout."""
    spec = json.loads(sys.stdin.readline())
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    print(json.dumps(runner(Load(spec).run(spec["client"]))), flush=True)


# ---- the report -----------------------------------------------------------------------------


def show(result: Result, what: str) -> None:
    codes = ", ".join(f"{status}: {n:,}" for status, n in sorted(result.statuses.items()))
    print(f"{what:<34} {result.rate():>7,.0f} req/s  p50 {result.percentile(50):6.1f} ms  "
          f"p99 {result.percentile(99):6.1f} ms  errors {result.errors:,}  "
          f"({result.done:,} in {result.elapsed:.1f} s; {codes})", flush=True)  # fmt: skip
    per = 1000 * result.server_cpu / result.done if result.done else float("nan")
    others = (result.machine_busy - result.server_cpu - result.client_cpu) / result.elapsed
    print(f"{'':<34} CPU: server {result.server_cpu / result.elapsed:4.0%} of a core "
          f"({per:.2f} ms a request), load {result.client_cpu / result.elapsed:4.0%}, "
          f"other processes {max(others, 0):4.0%}"
          f"{'  (busy machine: figures are low)' if others > 0.25 else ''}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="for each phase")
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--procs", type=int, default=1, help="load-generating processes")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load_process()
        return
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    directory = Path(tempfile.mkdtemp(prefix="nudgeflow-bench-api-"))
    rng = random.Random(SEED)
    try:
        started = time.perf_counter()
        population = build(directory, args.users)
        print(f"demo career population of {args.users:,} users (seed {SEED}) on SQLite, swept "
              f"and delivered daily for {DAYS} days: {len(population.delivered):,} nudges in "
              f"inboxes; built in "
              f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        server = Server(directory, population.url)
        try:
            server.wait_ready()
            print(f"nudgeflow serve --no-loops --log-format json on 127.0.0.1:{server.port}; "
                  f"{args.clients} connections from {args.procs} {args.client} load process(es), "
                  f"{args.seconds:g} s a phase; {os.cpu_count()} CPUs, Python "
                  f"{sys.version.split()[0]}\n", flush=True)  # fmt: skip
            run = partial(run_phase, server, clients=args.clients, procs=args.procs,
                          client=args.client)  # fmt: skip
            reads = inbox_requests(population, rng, 20_000)
            run(Phase("warm-up", 1.0, reads, repeat=True))
            healthz = [("GET", "/healthz", population.key, b"")]
            base = run(Phase("healthz", args.seconds, healthz, repeat=True))
            show(base, "(0) GET /healthz (the stack)")
            inbox = run(Phase("inbox", args.seconds, reads, repeat=True))
            show(inbox, "(1) GET …/nudges?limit=20 (inbox)")
            acts = run(
                Phase("actions", args.seconds, action_requests(population, rng), repeat=False)
            )
            show(acts, "(2) POST accept|dismiss|snooze")
        finally:
            code = server.stop()
        report(population, server, [base, inbox, acts], code)
    finally:
        if args.keep:
            print(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


def report(population: Population, server: Server, results: list[Result], code: int) -> None:
    base, inbox, acts = results
    if acts.left_over == 0 and acts.done == len(population.delivered):
        print(f"    every one of the {acts.done:,} delivered nudges was acted on before the "
              f"time was up: the rate is over {acts.elapsed:.1f} s", flush=True)  # fmt: skip
    statuses = count_statuses(population.url)
    acted = sum(statuses[s] for s in ("accepted", "dismissed", "snoozed"))
    ok = sum(n for status, n in acts.statuses.items() if status < 300)
    print(f"    in the database afterwards: {acted:,} nudges acted on "
          f"({'matches' if acted == ok else 'DOES NOT MATCH'} the {ok:,} 2xx answers)")  # fmt: skip
    lines = server.log_path.read_text().count("\n")
    size = server.log_path.stat().st_size / max(lines, 1)
    print(f"    server log: {lines:,} JSON lines of {size:.0f} bytes (the measured phases answered "
          f"{sum(r.done for r in results):,}, the warm-up the rest)")  # fmt: skip
    graceful = code in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM once it has shut down
    print(f"    stopped with SIGTERM: exit {code} ({'graceful' if graceful else 'NOT graceful'})")
    ceiling = base.rate()
    verdict = (
        "PASS" if inbox.rate() >= GOAL_RPS and inbox.percentile(99) < GOAL_P99_MS and not inbox.errors else "MISS"
    )  # fmt: skip
    print(f"\ninbox reads: {inbox.rate():,.0f} req/s, p99 {inbox.percentile(99):.1f} ms, "
          f"{inbox.errors} errors (goal on SQLite ≥ {GOAL_RPS:,} req/s, p99 < {GOAL_P99_MS:.0f} ms): "
          f"{verdict}; {inbox.rate() / ceiling:.0%} of the /healthz baseline "
          f"({ceiling:,.0f} req/s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
