"""The engine a route works with, one per app, and the gate its writes go through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request

from nudgeflow.engine import Engine

T = TypeVar("T")


async def engine(request: Request) -> Engine:
    found: Engine = request.app.state.engine
    return found


EngineDep = Annotated[Engine, Depends(engine)]


class Writes:
    """Runs the API's writes in worker threads, at most `limit` at once. On SQLite one
    writer holds the lock anyway: writers queueing here, in order, answer sooner than
    writers spinning on the lock (bench/api.py, action posts at 50 clients: p99 1,015 → 141 ms)."""

    def __init__(self, limit: int) -> None:
        self._limiter = anyio.CapacityLimiter(limit)

    async def run(self, call: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    @classmethod
    def for_engine(cls, engine: Engine) -> Writes:
        return cls(1 if engine.db.dialect.name == "sqlite" else 16)


async def writes(request: Request) -> Writes:
    found: Writes = request.app.state.writes
    return found


WritesDep = Annotated[Writes, Depends(writes)]
