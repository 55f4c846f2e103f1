"""Prometheus metrics: what the engine decided and delivered, how long sweeps take, and how
much work is waiting. Served at GET /metrics by the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from nudgeflow.clock import Clock
from nudgeflow.store.schema import deliveries, users

if TYPE_CHECKING:
    from nudgeflow.sweep import SweepReport

DECISIONS = Counter(
    "nudgeflow_decisions", "Candidates decided by sweeps, by rule and outcome", ["rule", "outcome"]
)
DELIVERIES = Counter(
    "nudgeflow_deliveries", "Delivery attempts, by channel and result", ["channel", "result"]
)
AMBIGUOUS = Counter(
    "nudgeflow_ambiguous_deliveries",
    "Attempts a crash cut off after the request may have left (resent only where deduped)",
)
EXPIRED = Counter("nudgeflow_nudges_expired", "Nudges that expired before anyone acted")
SWEEP_SECONDS = Histogram(
    "nudgeflow_sweep_seconds",
    "Duration of sweeps that wrote their decisions",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900),
)
SWEPT_USERS = Counter("nudgeflow_swept_users", "Users looked at by sweeps")
GENERATIONS = Counter(
    "nudgeflow_generations",
    "Messages the generation stage wrote, by rule and outcome (written, skipped, withdrawn)",
    ["rule", "outcome"],
)
GENERATION_FALLBACKS = Counter(
    "nudgeflow_generation_fallbacks",
    "LLM generations templates took over, by why (budget, unavailable, timeout, malformed)",
    ["kind"],
)


def record_sweep(report: SweepReport) -> None:
    if report.dry_run:
        return
    SWEEP_SECONDS.observe(report.seconds)
    SWEPT_USERS.inc(report.users)
    for (rule, outcome), count in report.by_rule.items():
        DECISIONS.labels(rule, outcome).inc(count)


def record_delivery(counts: dict[str, int]) -> None:
    EXPIRED.inc(counts["expired"])
    DELIVERIES.labels("in_app", "sent").inc(counts["delivered_in_app"])


class Backlog(Collector):
    """Due work, counted on the indexes when scraped: users due a look, deliveries due out."""

    def __init__(self, db: sa.Engine, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.clock.now()
        with self.db.connect() as conn:
            due_users = conn.execute(
                sa.select(sa.func.count()).select_from(users).where(users.c.next_check_at <= now)
            ).scalar_one()
            due_out = conn.execute(
                sa.select(deliveries.c.channel, sa.func.count())
                .where(deliveries.c.next_attempt_at <= now)
                .group_by(deliveries.c.channel)
            ).all()
        yield GaugeMetricFamily("nudgeflow_due_users", "Users due a sweep now", value=due_users)
        family = GaugeMetricFamily(
            "nudgeflow_due_deliveries", "Deliveries due to go out now", labels=["channel"]
        )
        for channel, count in due_out:
            family.add_metric([channel], count)
        yield family


def backlog_registry(db: sa.Engine, clock: Clock) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Backlog(db, clock))
    return registry
