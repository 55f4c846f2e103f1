"""The HTTP API: `create_app(engine)` gives a FastAPI app over an Engine. Run it with
`nudgeflow serve`, which also runs the engine's loops in the same process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from nudgeflow import telemetry
from nudgeflow.api import admin, agenda, facts, flags, inbox, ops, pages, problems, telegram
from nudgeflow.api.middleware import BodyLimit, Idempotency, RequestLog
from nudgeflow.api.queries import known_query, no_nul
from nudgeflow.api.state import Writes
from nudgeflow.engine import Engine
from nudgeflow.loops import Loops


def create_app(engine: Engine, *, run_loops: bool = False) -> FastAPI:
    """The API over `engine`; with `run_loops`, sweeps and deliveries run in the background
    for the app's lifetime and finish their batch in hand on shutdown."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not run_loops:
            yield
            return
        loops = Loops(engine)
        task = asyncio.create_task(loops.run())
        yield
        loops.stop()
        await task

    app = FastAPI(
        title="nudgeflow",
        summary="Decide when to reach out to each user, on which channel, and never spam them.",
        version="1",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.writes = Writes.for_engine(engine)
    app.state.backlog = telemetry.backlog_registry(engine.db, engine.clock)
    strict = [Depends(known_query), Depends(no_nul)]
    for module in (facts, inbox, agenda, admin, flags, ops):
        app.include_router(module.router, dependencies=strict)
    for module in (pages, telegram):  # links in mail may gain tracking parameters on the way
        app.include_router(module.router)
    problems.install(app)
    app.add_middleware(Idempotency, engine=engine)
    app.add_middleware(BodyLimit, limit=engine.settings.max_body_bytes)
    app.add_middleware(RequestLog)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, plus the Problem document the error responses refer to."""
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)
        defs = problems.Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(defs.pop("$defs", {}))
        schemas["Problem"] = defs
        _document_body_errors(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def _document_body_errors(schema: dict[str, Any]) -> None:
    """Every route that takes a body may answer 400 (not JSON at all) or 413 (too large)."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            if "requestBody" in operation:
                for status, entry in problems.documented(400, 413).items():
                    operation["responses"].setdefault(str(status), entry)
