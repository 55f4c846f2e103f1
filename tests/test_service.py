"""The engine as a service: its loops, graceful stops, `nudgeflow serve` and `worker` as real
processes, and the CLI for keys and tokens."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from nudgeflow.channels.base import Sink
from nudgeflow.cli import main
from nudgeflow.clock import FrozenClock, SystemClock
from nudgeflow.config import load_settings
from nudgeflow.engine import Engine
from nudgeflow.loops import Loops
from nudgeflow.store.schema import users

WEAK_RESUME = {"kind": "resume", "key": "main", "props": {"score": 30}}


def _people(engine: Engine, count: int) -> None:
    engine.upsert_users({"id": f"u{i}", "timezone": "UTC"} for i in range(count))
    engine.put_records({**WEAK_RESUME, "user_id": f"u{i}"} for i in range(count))


def _reached(engine: Engine) -> set[str]:
    """The users with a nudge delivered."""
    return {n["user_id"] for n in engine.nudges(status="delivered")}


def _due_and_leased(engine: Engine) -> tuple[int, int]:
    now = engine.clock.now()
    with engine.db.connect() as conn:
        due = conn.execute(
            sa.select(sa.func.count()).select_from(users).where(users.c.next_check_at <= now)
        ).scalar_one()
        leased = conn.execute(
            sa.select(sa.func.count()).select_from(users).where(users.c.lease_until.is_not(None))
        ).scalar_one()
    return int(due), int(leased)


def test_a_stopping_sweep_finishes_its_batch_and_holds_no_lease(database_url: str) -> None:
    settings = load_settings(database_url=database_url, sweep_batch_size=2)
    clock = FrozenClock(datetime(2026, 11, 23, 12, tzinfo=UTC))
    engine = Engine(database_url, settings=settings, clock=clock)
    _people(engine, 5)
    asked: list[int] = []

    def stop_after_one_batch() -> bool:
        asked.append(1)
        return len(asked) > 1

    report = engine.sweep(should_stop=stop_after_one_batch)
    assert (report.batches, report.users) == (1, 2)
    assert _due_and_leased(engine) == (3, 0)
    assert engine.sweep().users == 3
    engine.close()


def test_the_loops_sweep_and_deliver_until_stopped(database_url: str) -> None:
    settings = load_settings(
        database_url=database_url, sweep_every_seconds=0.05, deliver_every_seconds=0.05,
        quiet_hours={"start": "00:00", "end": "00:00"},
    )  # fmt: skip
    engine = Engine(database_url, settings=settings, clock=SystemClock())
    _people(engine, 3)

    async def scenario() -> float:
        loops = Loops(engine)
        task = asyncio.create_task(loops.run())
        for _ in range(100):
            await asyncio.sleep(0.05)
            if len(_reached(engine)) == 3:
                break
        started = time.perf_counter()
        loops.stop()
        await asyncio.wait_for(task, timeout=5)
        return time.perf_counter() - started

    stopped_in = asyncio.run(scenario())
    assert _reached(engine) == {"u0", "u1", "u2"}
    assert stopped_in < 2
    engine.close()


# ---- real processes ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def service_env(database_url: str) -> dict[str, str]:
    env = {**os.environ, "NUDGEFLOW_DATABASE_URL": database_url,
           "NUDGEFLOW_SWEEP_EVERY_SECONDS": "0.2", "NUDGEFLOW_DELIVER_EVERY_SECONDS": "0.2",
           "NUDGEFLOW_QUIET_HOURS": '{"start": "00:00", "end": "00:00"}'}  # fmt: skip
    env.pop("NUDGEFLOW_CONFIG", None)
    return env


def _start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    nudgeflow = str(Path(sys.executable).with_name("nudgeflow"))
    return subprocess.Popen([nudgeflow, *args], env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    return process.returncode, err


def test_a_worker_sweeps_and_delivers_and_stops_cleanly_on_sigterm(
    database_url: str, service_env: dict[str, str], tmp_path: Path
) -> None:
    engine = Engine(database_url, settings=load_settings(database_url=database_url))
    _people(engine, 4)
    worker = _start(["worker"], service_env, tmp_path)
    try:
        deadline = time.monotonic() + 20
        while len(_reached(engine)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        code, err = _stop(worker)
    assert code == 0, err
    assert _reached(engine) == {"u0", "u1", "u2", "u3"}
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert logged[-1]["event"] == "loops_stopped"
    assert any(e["event"] == "sweep" and e["users_evaluated"] == 4 for e in logged)
    assert _due_and_leased(engine)[1] == 0
    engine.close()


def test_serve_answers_over_http_and_stops_cleanly_on_sigterm(
    database_url: str, service_env: dict[str, str], tmp_path: Path
) -> None:
    engine = Engine(database_url, settings=load_settings(database_url=database_url))
    key = engine.credentials.create_key("app").key
    port = _free_port()
    server = _start(["serve", "--port", str(port)], service_env, tmp_path)
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        user = httpx.put(f"{base}/v1/users/ana", json={"timezone": "Europe/Berlin"}, headers=auth)
        assert user.status_code == 204
        record = {"props": WEAK_RESUME["props"]}["props"]
        httpx.put(f"{base}/v1/users/ana/records/resume/main", json=record, headers=auth)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "resume_weak" not in {
            n["rule"] for n in engine.nudges(user_id="ana", status="delivered")
        }:
            time.sleep(0.1)
        inbox = httpx.get(f"{base}/v1/users/ana/nudges", headers={**auth, "X-Request-ID": "r-42"})
        assert inbox.headers["x-request-id"] == "r-42"
        assert "resume_weak" in [n["rule"] for n in inbox.json()["items"]]
    finally:
        code, err = _stop(server)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status says why.
    assert code == -signal.SIGTERM, err
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert logged[-1]["event"] == "loops_stopped"
    assert {
        "event": "request",
        "path": "/v1/users/ana/nudges",
        "request_id": "r-42",
    }.items() <= next(e for e in logged if e.get("request_id") == "r-42").items()
    engine.close()


# ---- the CLI for keys and tokens ----------------------------------------------------------------


def test_keys_are_made_listed_and_revoked_and_tokens_issued(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cli = CliRunner(env={"NUDGEFLOW_DATABASE_URL": database_url})

    def run(*args: str, code: int = 0) -> str:
        result = cli.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.stdout

    made = json.loads(run("keys", "create", "--name", "ops", "--admin", "--json"))
    assert made["key"].startswith(f"nfk_{made['id']}.")
    listed = json.loads(run("keys", "list", "--json"))
    assert [(k["id"], k["admin"], k["revoked_at"]) for k in listed] == [(made["id"], True, None)]
    assert made["key"].split(".")[1] not in json.dumps(listed)
    engine = Engine(database_url, settings=load_settings(database_url=database_url))
    assert engine.credentials.identify(made["key"]).kind == "admin"

    assert "revoked" in run("keys", "revoke", made["id"])
    assert "no active key" in cli.invoke(main, ["keys", "revoke", made["id"]]).output
    assert engine.audit_log(2)[0]["action"] == "key.revoke"

    engine.upsert_user({"id": "ana"})
    token = json.loads(run("token", "ana", "--hours", "2", "--json"))
    assert engine.credentials.identify(token["token"]).user_id == "ana"
    expires = datetime.fromisoformat(token["expires_at"])
    assert timedelta(hours=1, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=2)
    assert "no user 'bob'" in cli.invoke(main, ["token", "bob"]).output
    engine.close()


def test_the_loops_dispatch_to_channels_until_stopped(database_url: str) -> None:
    settings = load_settings(database_url=database_url, sweep_every_seconds=0.05,
                             deliver_every_seconds=0.05, quiet_hours={"start": "00:00", "end": "00:00"})  # fmt: skip
    engine = Engine(database_url, settings=settings, clock=SystemClock())
    engine.upsert_users({"id": f"u{i}", "addresses": {"email": f"u{i}@example.org"},
                         "preferences": {"channels": ["email"]}} for i in range(3))  # fmt: skip
    sink = Sink(name="email")

    async def scenario() -> None:
        loops = Loops(engine, channels=[sink])
        task = asyncio.create_task(loops.run())
        for _ in range(100):
            await asyncio.sleep(0.05)
            if len(_reached(engine)) == 3:
                break
        loops.stop()
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(scenario())
    assert _reached(engine) == {"u0", "u1", "u2"}
    assert {m.user["id"] for m in sink.sent} == {"u0", "u1", "u2"}
    engine.close()
