"""The generation stage: a batch of contexts in, one `Generation` each out, in order.

It sits between decision and delivery, so a slow model delays only the messages it writes.
At most `limit` generations run at once (an asyncio semaphore), each within `timeout`; one
that runs over, or fails in a way its generator did not foresee, gets a template message with
the reason, so every context comes back with something to record."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from nudgeflow.coaching.base import Context, Fallback, Generation, Generator
from nudgeflow.coaching.templates import TemplateGenerator

log = structlog.get_logger("nudgeflow.coaching")


class GenerationStage:
    def __init__(
        self,
        generator: Generator,
        *,
        limit: int = 8,
        timeout: float | None = None,
        templates: TemplateGenerator | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self.generator = generator
        self.timeout = timeout
        self.templates = templates or TemplateGenerator()
        self._slots = asyncio.Semaphore(limit)

    async def run(self, contexts: Sequence[Context]) -> list[Generation]:
        return list(await asyncio.gather(*(self.one(context) for context in contexts)))

    async def one(self, context: Context) -> Generation:
        async with self._slots:
            try:
                async with asyncio.timeout(self.timeout):
                    return await self.generator.generate(context)
            except TimeoutError:
                reason = f"generation timed out after {self.timeout:g} s"
                return self._templated(context, Fallback.TIMEOUT, reason)
            except Exception as exc:  # a bug in one generator must not lose the batch
                log.exception("coaching.generator_failed", user_id=context.user_id)
                reason = f"generator {self.generator.name} failed: {exc!r}"
                return self._templated(context, Fallback.UNAVAILABLE, reason)

    def _templated(self, context: Context, kind: Fallback, reason: str) -> Generation:
        attempt = self.templates.attempt(context, failure_reason=f"templates took over: {reason}")
        return Generation(context.user_id, (attempt,), fallback=kind)
