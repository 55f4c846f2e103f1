"""Running nudgeflow as a service: `nudgeflow serve` (the API with the engine's loops) and
`nudgeflow worker` (the loops alone, for deployments with several processes), with
structured JSON logs."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import timedelta

import structlog
import uvicorn

from nudgeflow.clock import FrozenClock
from nudgeflow.engine import Engine
from nudgeflow.loops import Loops

QUICK_START_KEY = "quick start"


def configure_logging(json_logs: bool) -> None:
    """One JSON object per line on stderr (or readable lines), each with the request id."""
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def load_demo_once(
    engine: Engine, users: int, seed: int, say: structlog.typing.FilteringBoundLogger
) -> None:
    """The demo population with a day of hourly sweeps behind it, unless it is there already."""
    from nudgeflow.demo_run import run_demo

    if engine.nudges(limit=1):
        return
    end = engine.clock.now().replace(minute=0, second=0, microsecond=0)
    clock = FrozenClock(end - timedelta(hours=24))
    replay = Engine(settings=engine.settings, clock=clock, migrate=False)
    say.info("loading_demo", users=users, seed=seed)
    quiet = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        run_demo(replay, clock, users=users, seed=seed, until=end, echo=None)
    finally:
        structlog.configure(wrapper_class=quiet)
        replay.close()


def quick_start_key(engine: Engine) -> str:
    """A fresh admin key for trying the API; the last run's one is revoked."""
    for key in engine.credentials.list_keys():
        if key["name"] == QUICK_START_KEY and key["revoked_at"] is None:
            engine.credentials.revoke_key(key["id"], actor="serve --demo")
    return engine.credentials.create_key(QUICK_START_KEY, admin_key=True, actor="serve --demo").key


def serve(engine: Engine, host: str, port: int, *, loops: bool = True) -> None:
    from nudgeflow.api import create_app

    app = create_app(engine, run_loops=loops)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=30)  # fmt: skip
    uvicorn.Server(config).run()


def work(engine: Engine) -> None:
    """The loops until SIGTERM or SIGINT; then the batch in hand finishes and we exit."""

    async def main() -> None:
        loops = Loops(engine)
        running = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(sig, loops.stop)
        await loops.run()

    asyncio.run(main())
