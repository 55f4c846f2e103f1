"""`nudgeflow demo`: load the career demo population and sweep through the last day, hour by
hour, so the decisions a live deployment would have made are there to look at."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from nudgeflow.clock import FrozenClock
from nudgeflow.demo import PREFIX, population
from nudgeflow.engine import Engine
from nudgeflow.store import facts as fact_store
from nudgeflow.store.database import writer

Echo = Callable[[str], None] | None


def load(engine: Engine, *, users: int, seed: int) -> None:
    """Replace any earlier demo population with a fresh one, as of the engine's clock."""
    with writer(engine.db).begin() as conn:
        fact_store.delete_users_by_prefix(conn, PREFIX)
    people = list(population(users, seed=seed, now=engine.clock.now()))
    engine.upsert_users(p.user for p in people)
    engine.put_records(r for p in people for r in p.records)
    engine.track([e for p in people for e in p.events])
    engine.set_org("uni-south", agent_enabled=False, actor="demo")


def run_demo(
    engine: Engine, clock: FrozenClock, *, users: int, seed: int, until: datetime, echo: Echo
) -> dict[str, Any]:
    say = echo or (lambda _text: None)
    say(
        f"loading {users} demo users (seed {seed}) into {engine.db.url.render_as_string(hide_password=True)}"
    )
    load(engine, users=users, seed=seed)
    say("organisation uni-south has its kill switch on: its users get nothing\n")
    say(
        f"{'hour (UTC)':<17} {'looked at':>9} {'scheduled':>9} {'deferred':>8} {'suppressed':>10} {'in inbox':>8}"
    )
    totals: Counter[str] = Counter()
    hours = []
    while clock.now() <= until:
        report = engine.sweep()
        shown = engine.deliver_due()["delivered_in_app"]
        row = {
            "at": clock.now(),
            "users": report.users,
            "scheduled": report.scheduled,
            "deferred": report.deferred,
            "suppressed": sum(report.suppressed.values()),
            "delivered": shown,
        }
        totals.update(report.suppressed)
        hours.append(row)
        if report.users or shown:
            say(
                f"{clock.now():%Y-%m-%d %H:%M} {row['users']:>9} {row['scheduled']:>9} {row['deferred']:>8} {row['suppressed']:>10} {shown:>8}"
            )
        clock.advance(timedelta(hours=1))
    statuses = Counter(n["status"] for n in engine.nudges(limit=1_000_000))
    say(
        "\nsuppressed, by the step that stopped them: "
        + ", ".join(f"{k} {v}" for k, v in totals.most_common())
    )
    say("nudges by status: " + ", ".join(f"{k} {v}" for k, v in statuses.most_common()))
    sample = engine.nudges(status="delivered", limit=5)
    if sample:
        say("\nsome nudges in users' inboxes now:")
        for n in sample:
            say(f"  {n['id']}  {n['user_id']}  {n['rule']:<18} {n['title']}")
        first = sample[0]
        say("\nnext, try:")
        say(f"  .venv/bin/nudgeflow explain {first['user_id']}")
        say("  .venv/bin/nudgeflow nudges list --status delivered")
        say(f"  .venv/bin/nudgeflow nudges accept {first['id']}")
    return {"hours": hours, "suppressed": dict(totals), "statuses": dict(statuses)}
