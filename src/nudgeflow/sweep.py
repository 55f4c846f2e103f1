"""A sweep: claim due users in batches, load their facts in a few set queries, run the rules,
decide, write nudges and outbox rows in bulk, and set each user's next check.

Cost follows the users that are due, never the population: every step is per batch.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from nudgeflow.config import Settings
from nudgeflow.evaluation import (
    RuleRun,
    Ticks,
    build_user,
    context,
    decide_user,
    parse_preferences,
    run_rules,
)
from nudgeflow.flag_snapshot import FlagSnapshot
from nudgeflow.flags import FlagGate
from nudgeflow.policy import Decision, History
from nudgeflow.rules import Facts, Rule
from nudgeflow.store import admin, sweeps
from nudgeflow.store.database import writer
from nudgeflow.store.sweeps import UserRow

log = structlog.get_logger("nudgeflow.sweep")


@dataclass
class SweepReport:
    at: datetime
    dry_run: bool
    users: int = 0
    candidates: int = 0
    scheduled: int = 0
    deferred: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, outcome)
    rule_errors: int = 0
    batches: int = 0
    seconds: float = 0.0
    decisions: list[tuple[str, Decision]] = field(default_factory=list)

    def count(self, decided: Sequence[tuple[str, Decision]], runs: int, errors: int) -> None:
        self.users += runs
        self.rule_errors += errors
        self.candidates += len(decided)
        self.by_rule.update((d.rule.name, d.outcome) for _, d in decided)
        for _, decision in decided:
            if decision.outcome == "suppressed":
                self.suppressed[decision.suppressed_by or "?"] += 1
            elif decision.outcome == "deferred":
                self.deferred += 1
            else:
                self.scheduled += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "dry_run": self.dry_run,
            "users_evaluated": self.users,
            "candidates": self.candidates,
            "scheduled": self.scheduled,
            "deferred": self.deferred,
            "suppressed": dict(sorted(self.suppressed.items())),
            "rule_errors": self.rule_errors,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "users_per_second": round(self.users / self.seconds) if self.seconds else None,
        }


class Sweeper:
    def __init__(
        self,
        db: sa.Engine,
        rules: Sequence[Rule],
        settings: Settings,
        flags: FlagSnapshot,
        *,
        keep_decisions: bool = False,
    ) -> None:
        self.db = db
        self.flags = flags
        self.rules = list(rules)
        self.settings = settings
        self.keep_decisions = keep_decisions

    def run(
        self,
        now: datetime,
        *,
        dry_run: bool = False,
        max_batches: int | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> SweepReport:
        """Claim, decide and write batch after batch until no user is due. `should_stop` is
        asked between batches: a stopping worker finishes the batch in hand and claims no more."""
        report = SweepReport(now, dry_run)
        started = time.perf_counter()
        with self.db.connect() as conn:
            paused = admin.paused_rules(conn)
        flags = self.flags.current().gate
        ticks = Ticks(now, self.rules)

        def more() -> bool:
            return (max_batches is None or report.batches < max_batches) and not should_stop()

        def decide(batch: list[UserRow]) -> Decided:
            return self._decide(batch, ticks, paused, flags)

        if dry_run:
            self._look(decide, now, report, more)
        else:
            self._sweep(decide, now, report, more)
        report.seconds = time.perf_counter() - started
        if report.users:
            log.info("sweep", **{k: v for k, v in report.as_dict().items() if k != "suppressed"})
        return report

    def run_users(self, now: datetime, user_ids: Sequence[str]) -> SweepReport:
        """Decide for these users now, due or not, and write it: for operator tools."""
        report = SweepReport(now, False)
        with self.db.connect() as conn:
            paused = admin.paused_rules(conn)
            batch = sweeps.load_users(conn, user_ids)
        gate = self.flags.current().gate
        with _collector_paused():
            decided = self._decide(batch, Ticks(now, self.rules), paused, gate)
            self._write(decided, now)
        self._count(decided, report)
        return report

    def _sweep(
        self,
        decide: Callable[[list[UserRow]], Decided],
        now: datetime,
        report: SweepReport,
        more: Callable[[], bool],
    ) -> None:
        """Batch after batch. On PostgreSQL in a pipeline: batch N is written on a second
        connection, in a thread, while batch N+1 is claimed, read and decided; the server
        does the writing in its own process and the driver waits outside the interpreter's
        lock, so the two overlap instead of taking turns (a third more users/s, measured).
        One write at a time. SQLite writes in line: there its reader and writer share one
        file, and the overlap cost more than it saved (measured)."""
        pipelined = self.db.dialect.name == "postgresql"
        writing: Future[None] | None = None

        def step(batch: list[UserRow]) -> None:
            """Decide `batch` and write it, or start to."""
            nonlocal writing
            decided = decide(batch)
            if writing is not None:
                writing.result()  # the batch before is written: its errors surface here
            if pipelined:
                writing = writes.submit(self._write, decided, now)
            else:
                self._write(decided, now)
            report.batches += 1
            self._count(decided, report)

        with ThreadPoolExecutor(1, thread_name_prefix="sweep-write") as writes:
            while more() and (batch := self._claim(now)):
                with _collector_paused():
                    step(batch)
            if writing is not None:
                writing.result()

    def _look(
        self,
        decide: Callable[[list[UserRow]], Decided],
        now: datetime,
        report: SweepReport,
        more: Callable[[], bool],
    ) -> None:
        """A dry run: due users in order, decided, nothing claimed or written."""
        after: tuple[datetime, str] | None = None
        while more() and (batch := self._peek(now, after)):
            after = (batch[-1].next_check_at, batch[-1].id)
            with _collector_paused():
                self._count(decide(batch), report)
            report.batches += 1

    def _claim(self, now: datetime) -> list[UserRow]:
        lease = timedelta(seconds=self.settings.lease_seconds)
        with writer(self.db).begin() as conn:
            return sweeps.claim_due(conn, now, self.settings.sweep_batch_size, lease)

    def _peek(self, now: datetime, after: tuple[datetime, str] | None) -> list[UserRow]:
        with self.db.connect() as conn:
            return sweeps.peek_due(conn, now, self.settings.sweep_batch_size, after)

    def _decide(
        self, batch: list[UserRow], ticks: Ticks, paused: frozenset[str], flags: FlagGate
    ) -> Decided:
        """Load the batch's facts and history, run the rules and the policy: no writes."""
        now = ticks.now
        with self.db.connect() as conn:
            facts = sweeps.load_facts(conn, batch, now)
            users = [build_user(row) for row in batch]
            runs = [
                run_rules(
                    self.rules,
                    Facts(user, facts.records.get(user.id, {}), facts.events.get(user.id, {})),
                    row.checked_at,
                    ticks,
                )
                for user, row in zip(users, batch, strict=True)
            ]
            keys = {c.dedupe_key for user_runs in runs for run in user_runs for c in run.candidates}
            history = sweeps.load_history(conn, [u.id for u in users], keys, now)
        decided = Decided()
        for user, row, user_runs in zip(users, batch, runs, strict=True):
            ctx = context(
                user,
                parse_preferences(facts.preferences.get(user.id)),
                settings=self.settings,
                org_enabled=facts.org_enabled.get(user.org, True) if user.org else True,
                flags=flags,
                paused=paused,
                history=History.of(history.get(user.id, ())),
            )
            decisions, next_check = decide_user(ctx, user_runs, ticks)
            decided.decisions.extend((user.id, d) for d in decisions)
            decided.finished.append((row, next_check))
            decided.errors.extend(_errors(user.id, user_runs))
        return decided

    def _write(self, decided: Decided, now: datetime) -> None:
        with writer(self.db).begin() as conn:
            sweeps.write_decisions(conn, decided.decisions, now)
            sweeps.record_rule_errors(conn, decided.errors, now)
            sweeps.finish_users(conn, decided.finished, now)

    def _count(self, decided: Decided, report: SweepReport) -> None:
        for user_id, rule, error in decided.errors:
            log.warning("rule_error", user_id=user_id, rule=rule, error=error)
        report.count(decided.decisions, len(decided.finished), len(decided.errors))
        if self.keep_decisions:
            report.decisions.extend(decided.decisions)


@dataclass
class Decided:
    """One batch's outcome, before it is written."""

    decisions: list[tuple[str, Decision]] = field(default_factory=list)
    finished: list[tuple[UserRow, datetime]] = field(default_factory=list)  # next checks
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # user, rule, error


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector out of a batch. A batch holds a few hundred
    thousand young objects alive at once, so the collector would otherwise walk them again and
    again (a third of a sweep's time, measured); what the batch leaves behind is freed by
    reference counting, and any cycles are collected once the batch is over."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _errors(user_id: str, runs: Sequence[RuleRun]) -> list[tuple[str, str, str]]:
    return [(user_id, run.rule.name, run.error) for run in runs if run.error]
