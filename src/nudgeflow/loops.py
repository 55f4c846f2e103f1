"""The engine's loops, run by `nudgeflow serve` beside the API and by `nudgeflow worker`
alone: sweep due users every `sweep_every_seconds`, write generated messages every
`generate_every_seconds`, deliver due nudges every `deliver_every_seconds`, and forget
idempotency answers older than a day.

Stopping is graceful: the sweep in hand finishes its batch (its users' leases are released as
it writes them) and claims no more; nothing is cut off half-written."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import structlog

from nudgeflow.channels import configured
from nudgeflow.channels.base import Channel
from nudgeflow.dispatch import Dispatcher
from nudgeflow.engine import Engine
from nudgeflow.generation import GenerationWorker
from nudgeflow.store import idempotency
from nudgeflow.store.database import writer

log = structlog.get_logger("nudgeflow.loops")


class Loops:
    def __init__(self, engine: Engine, channels: Sequence[Channel] | None = None) -> None:
        self.engine = engine
        self.stopping = asyncio.Event()
        chosen = configured(engine.settings) if channels is None else channels
        self.dispatcher = Dispatcher(engine, chosen) if chosen else None
        # The dispatcher's own event loop, run a round at a time off the main one: provider
        # sessions live across rounds, and its database calls never stall the API.
        self.dispatch_loop = asyncio.Runner()
        # The generation stage likewise, in a loop of its own: a slow model holds up nothing.
        generates = any(rule.generator for rule in engine.rules)
        self.writer = GenerationWorker(engine) if generates else None
        self.generate_loop = asyncio.Runner()

    async def run(self) -> None:
        """Until stop(): every loop on its own interval."""
        settings = self.engine.settings
        log.info("loops_started", sweep_every=settings.sweep_every_seconds,
                 deliver_every=settings.deliver_every_seconds)  # fmt: skip
        await asyncio.gather(
            self._every(settings.sweep_every_seconds, "sweep", self._sweep),
            self._every(settings.deliver_every_seconds, "deliver", self._deliver),
            self._every(3600, "forget_idempotency", self._forget),
            *(
                [self._every(settings.deliver_every_seconds, "dispatch", self._dispatch)]
                if self.dispatcher
                else []
            ),
            *(
                [self._every(settings.generate_every_seconds, "generate", self._generate)]
                if self.writer
                else []
            ),
        )
        if self.dispatcher:
            await asyncio.to_thread(self._close_dispatcher)
        if self.writer:
            await asyncio.to_thread(self._close_writer)
        log.info("loops_stopped")

    def stop(self) -> None:
        self.stopping.set()

    async def _every(self, seconds: float, name: str, work: Callable[[], Any]) -> None:
        while not self.stopping.is_set():
            try:
                result = await asyncio.to_thread(work)
                if result:
                    log.info(name, result=result)
            except Exception:  # one failed round must not end the loop; the next retries
                log.exception(f"{name}_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    def _sweep(self) -> None:
        self.engine.sweep(should_stop=self.stopping.is_set)  # the sweep logs its own report

    def _dispatch(self) -> dict[str, int] | None:
        assert self.dispatcher is not None
        # Back to back while work is due; the pause between calls is for when none is.
        tally = self.dispatch_loop.run(self.dispatcher.run_until_idle(self.stopping.is_set))
        return dict(tally) or None

    def _close_dispatcher(self) -> None:
        assert self.dispatcher is not None
        self.dispatch_loop.run(self.dispatcher.aclose())
        self.dispatch_loop.close()

    def _generate(self) -> dict[str, int] | None:
        assert self.writer is not None
        tally = self.generate_loop.run(self.writer.run_until_idle(self.stopping.is_set))
        return dict(tally) or None

    def _close_writer(self) -> None:
        assert self.writer is not None
        self.generate_loop.run(self.writer.aclose())
        self.generate_loop.close()

    def _deliver(self) -> dict[str, int] | None:
        counts = self.engine.deliver_due()
        return counts if any(counts.values()) else None

    def _forget(self) -> int:
        before = self.engine.clock.now() - timedelta(days=1)
        with writer(self.engine.db).begin() as conn:
            return idempotency.forget_before(conn, before)
