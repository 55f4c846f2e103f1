"""A custom playbook for a journaling app, run end to end on a throwaway SQLite file.

    python examples/journaling_playbook.py

Three rules:

- streak_at_risk      daily at 19:00 local: the user wrote yesterday but not yet today.
- weekly_reflection   Sundays at 18:00 local: look back on the week's entries.
- gratitude_prompt    whenever facts arrive: the user logged a rough day (mood 1 or 2).

The script loads three users on Sunday 2026-11-22 at 16:00 UTC, sweeps hour by hour until
Monday 06:00 UTC the way `nudgeflow serve` would, prints every decision as it is made, then the
nudges each user ended up with and why alice gets nothing more on Monday morning.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import structlog

from nudgeflow import Candidate, Engine, Facts, FrozenClock, Playbook, Recheck, RuleOutput

journaling = Playbook("journaling", "Keep a journaling habit alive, gently.")

EVENING = time(19)
ROUGH_DAY = 2  # mood scores run 1 (awful) to 5 (great)


@journaling.rule(cadence="daily@19:00", cooldown="20h", priority=60, on_facts=False)
def streak_at_risk(facts: Facts, now: datetime) -> RuleOutput:
    """The user wrote yesterday but not yet today: keep the streak."""
    local_now = facts.local(now)
    if local_now.time() < EVENING:
        return None  # the sweep only runs this rule at 19:00; explain runs it any time
    last = facts.last_event("journal_entry")
    if last is None:
        return None
    today = local_now.date()
    if facts.local(last).date() != today - timedelta(days=1):
        return None  # wrote today already, or there is no streak left to save
    streak = facts.record("streak", "main")
    days = streak.props.get("days") if streak else None
    midnight = datetime.combine(today + timedelta(days=1), time(0), tzinfo=facts.user.timezone)
    return Candidate(
        dedupe_key=f"streak_at_risk:{today}",
        title=f"Keep your {days}-day streak going" if days else "Keep your streak going",
        body="Two sentences about today is enough to keep it alive.",
        action_label="Write now",
        action_url="/journal/new",
        expires_at=midnight,  # a streak reminder is worthless tomorrow
    )


@journaling.rule(
    cadence="weekly@sunday@18:00",
    cooldown="6d",
    priority=30,
    category="review",
    on_facts=False,
)
def weekly_reflection(facts: Facts, now: datetime) -> RuleOutput:
    """Sunday evening: look back on the week."""
    entries = facts.events.get("journal_entry")
    if entries is None:
        return None  # never wrote anything: nothing to reflect on
    week = facts.local(now).date().isocalendar()
    count = entries.last_7_days
    return Candidate(
        dedupe_key=f"weekly_reflection:{week.year}-W{week.week:02d}",
        title="Your week in words",
        body=f"You wrote {count} time{'s' * (count != 1)} this week. What stood out?",
        action_label="Reflect",
        action_url="/journal/reflect/weekly",
        expires_at=now + timedelta(days=2),
    )


@journaling.rule(cooldown="2d", priority=70, category="wellbeing")
def gratitude_prompt(facts: Facts, now: datetime) -> Iterator[Candidate | Recheck]:
    """A rough day logged in the last 24 hours: suggest one good thing."""
    recent = [
        mood
        for mood in facts.records_of("mood")
        if now - mood.updated_at < timedelta(hours=24)
        and isinstance(mood.props.get("score"), int)
        and mood.props["score"] <= ROUGH_DAY
    ]
    if not recent:
        return
    mood = max(recent, key=lambda m: m.updated_at)
    yield Candidate(
        dedupe_key=f"gratitude_prompt:{mood.key}",
        title="One good thing?",
        body="Rough days count too. Name one small thing that went right.",
        action_label="Write it down",
        action_url=f"/journal/new?prompt=gratitude&mood={mood.key}",
        expires_at=mood.updated_at + timedelta(hours=24),
    )
    # Look again once the prompt has expired, in case another rough day follows.
    yield Recheck(mood.updated_at + timedelta(hours=24))


START = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)  # a Sunday: 17:00 Berlin, 11:00 New York
END = START + timedelta(hours=14)


def load(engine: Engine) -> None:
    """What a journaling app would have told nudgeflow by Sunday afternoon."""
    engine.upsert_users(
        [
            {"id": "alice", "timezone": "Europe/Berlin", "addresses": {"email": "a@example.org"}},
            {"id": "bob", "timezone": "America/New_York"},
            {"id": "carol", "timezone": "Europe/London", "preferences": {"proactive": False}},
        ]
    )
    saturday = START - timedelta(days=1)
    engine.track(
        [
            {"id": "j1", "user_id": "alice", "name": "journal_entry", "at": saturday.isoformat()},
            {"id": "j2", "user_id": "carol", "name": "journal_entry", "at": saturday.isoformat()},
            {
                "id": "j3",
                "user_id": "bob",
                "name": "journal_entry",
                "at": "2026-11-22T14:30:00Z",
                "props": {"words": 140},
            },
        ]
    )
    engine.put_records(
        [
            {"user_id": "alice", "kind": "streak", "key": "main", "props": {"days": 12}},
            {
                "user_id": "bob",
                "kind": "mood",
                "key": "2026-11-22",
                "props": {"score": 1},
                "updated_at": "2026-11-22T14:35:00Z",
            },
        ]
    )


def run(database_url: str, echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Load, sweep hour by hour, let alice act on her reminder; returns every nudge made."""
    clock = FrozenClock(START)
    engine = Engine(database_url, clock=clock, playbooks=[journaling])
    try:
        load(engine)
        while clock.now() <= END:
            report = engine.sweep(keep_decisions=True)
            engine.deliver_due()
            for user_id, decision in report.decisions:
                if decision.suppressed_by == "dedupe":
                    continue  # the same candidate seen again: nothing new to say
                echo(
                    f"{clock.now():%a %H:%M} UTC  {user_id:<6} {decision.rule.name:<18} "
                    f"{decision.outcome:<10} {decision.reason}"
                )
            if clock.now() == START + timedelta(hours=3):  # 20:00 in Berlin
                # alice opens the app from the reminder and writes: the app tells nudgeflow.
                inbox = engine.nudges(user_id="alice", status="delivered")
                reminder = next(n for n in inbox if n["rule"] == "streak_at_risk")
                engine.accept(reminder["id"], user_id="alice")
                engine.track(
                    {"id": "j4", "user_id": "alice", "name": "journal_entry", "at": clock.now()}
                )
                echo(f"{clock.now():%a %H:%M} UTC  alice  accepted {reminder['rule']} and wrote")
            clock.advance(timedelta(hours=1))
        made = sorted(engine.nudges(limit=100), key=lambda n: (n["user_id"], n["created_at"]))
        echo("\nnudges:")
        for n in made:
            echo(f"  {n['user_id']:<6} {n['rule']:<18} {n['status']:<10} {n['title']}")
        echo("\n" + engine.explain("alice").render())
        return made
    finally:
        engine.close()


def main() -> None:
    # The sweep logs a structured line per run; keep this demo's output to the decisions.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{Path(tmp) / 'journaling.db'}")


if __name__ == "__main__":
    main()
