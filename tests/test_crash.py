"""A worker killed with SIGKILL in the middle of 5,000 webhook deliveries, then restarted:
every delivery ends sent or dead, none is lost, and any message the receiver got twice is
one the outbox flagged ambiguous."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web

from nudgeflow.config import load_settings
from nudgeflow.engine import Engine
from nudgeflow.store.schema import deliveries
from outbox_support import queue

COUNT = 5_000
SECRET = "whsec_" + base64.b64encode(b"crash-test-secret-0123456789abcd").decode()


class Receiver:
    """A webhook endpoint on 127.0.0.1 that counts each webhook-id it receives."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.port = 0
        self.ready = threading.Event()
        self.loop_runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.seen[request.headers["webhook-id"]] += 1
        return web.Response(status=204)

    def serve(self) -> None:
        import asyncio

        async def main() -> None:
            app = web.Application()
            app.router.add_post("/hook", self.handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = runner.addresses[0][1]
            self.ready.set()
            while True:
                await asyncio.sleep(3600)

        asyncio.run(main())


@pytest.fixture
def receiver() -> Receiver:
    found = Receiver()
    threading.Thread(target=found.serve, daemon=True).start()  # dies with the test process
    assert found.ready.wait(10)
    return found


def _worker(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    nudgeflow = str(Path(sys.executable).with_name("nudgeflow"))
    return subprocess.Popen([nudgeflow, "worker"], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


WEBHOOK = deliveries.c.channel == "webhook"  # the worker's own sweep adds in-app ones


def _statuses(engine: Engine) -> Counter[str]:
    with engine.db.connect() as conn:
        rows = conn.execute(
            sa.select(deliveries.c.status, sa.func.count())
            .where(WEBHOOK)
            .group_by(deliveries.c.status)
        )
        return Counter({str(s): int(n) for s, n in rows})


@pytest.mark.slow
def test_a_killed_worker_loses_nothing_and_flags_what_it_may_have_sent_twice(
    database_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    engine = Engine(database_url, settings=load_settings(database_url=database_url))
    users = [f"u{i:05d}" for i in range(COUNT)]
    url = f"http://127.0.0.1:{receiver.port}/hook"
    engine.upsert_users({"id": uid, "addresses": {"webhook": url}} for uid in users)
    queue(engine, users, "webhook")
    env = {**os.environ, "NUDGEFLOW_DATABASE_URL": database_url,
           "NUDGEFLOW_WEBHOOK__SECRET": SECRET, "NUDGEFLOW_WEBHOOK__ALLOW_PRIVATE": "true",
           "NUDGEFLOW_DELIVER_EVERY_SECONDS": "0.05", "NUDGEFLOW_SWEEP_EVERY_SECONDS": "3600",
           "NUDGEFLOW_LEASE_SECONDS": "10"}  # fmt: skip
    env.pop("NUDGEFLOW_CONFIG", None)

    first = _worker(env, tmp_path)
    deadline = time.monotonic() + 60
    while sum(receiver.seen.values()) < COUNT // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    killed_at = _statuses(engine)
    assert 0 < killed_at["sent"] < COUNT, killed_at

    second = _worker(env, tmp_path)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            now = _statuses(engine)
            if now["sent"] + now["dead"] == COUNT:
                break
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)

    final = _statuses(engine)
    assert final["sent"] + final["dead"] == COUNT, final
    with engine.db.connect() as conn:
        rows = conn.execute(
            sa.select(deliveries.c.id, deliveries.c.status, deliveries.c.ambiguous).where(WEBHOOK)
        ).all()
    ambiguous = {d for d, _, flagged in rows if flagged}
    assert all(receiver.seen[d] >= 1 for d, status, _ in rows if status == "sent")  # none lost
    twice = {d for d, n in receiver.seen.items() if n > 1}
    assert twice <= ambiguous
    assert set(receiver.seen) <= {d for d, _, _ in rows}
    engine.close()
