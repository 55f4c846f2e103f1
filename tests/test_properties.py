"""The policy's promises as properties: whatever the users, rules, histories and instants
(DST days included), no more nudges a local day than the plan allows, nothing delivered in
quiet hours, nothing twice, no rule inside its cooldown, and a repeated sweep changes nothing.

Two layers: the pure policy (`decide`), many examples; the whole engine on SQLite, a few."""

from __future__ import annotations

import itertools
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nudgeflow.cadence import parse_cadence
from nudgeflow.clock import FrozenClock
from nudgeflow.config import DEFAULT_PLANS, load_settings
from nudgeflow.engine import Engine
from nudgeflow.facts import Preferences, QuietHours, WindowName
from nudgeflow.localtime import Span, local_day, zone
from nudgeflow.policy import Decision, History, PastNudge, UserContext, decide
from nudgeflow.rules import Candidate, Facts, Rule, RuleOutput, User
from nudgeflow.store.schema import deliveries, nudges, users

TIMEZONES = (
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kathmandu",
    "Pacific/Auckland",
    "Australia/Lord_Howe",
    "UTC",
)
# Midnight UTC of 2026's DST days: US spring and fall, EU spring and fall, the southern
# autumn (Auckland, Lord Howe: 04-05), the southern spring (Auckland 09-27, Lord Howe 10-04).
DST_DAYS = tuple(
    datetime(2026, m, d, tzinfo=UTC)
    for m, d in ((3, 8), (3, 29), (10, 25), (11, 1), (4, 5), (9, 27), (10, 4))
)
# The instants (UTC) at which each zone's clocks change in 2026.
TRANSITIONS: dict[str, tuple[datetime, ...]] = {
    "Europe/Berlin": (datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)),
    "America/New_York": (datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)),
    "Pacific/Auckland": (
        datetime(2026, 4, 4, 14, tzinfo=UTC),
        datetime(2026, 9, 26, 14, tzinfo=UTC),
    ),
    "Australia/Lord_Howe": (
        datetime(2026, 4, 4, 15, tzinfo=UTC),
        datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
    ),
}
WINDOWS: tuple[WindowName, ...] = ("morning", "afternoon", "evening")
PLANS = ("free", "premium")
STATUSES = ("scheduled", "delivered", "accepted", "snoozed", "dismissed", "expired", "suppressed")
COOLDOWNS = tuple(
    timedelta(hours=h) for h in (0, 1, 12, 20, 24, 72, 168)
)  # 0: the rule may fire again at once
DEFAULT_QUIET = Span(time(22), time(7))


def _noop(facts: Facts, now: datetime) -> RuleOutput:
    return None


# ---- strategies -----------------------------------------------------------------------------


def instants(tz: str) -> st.SearchStrategy[datetime]:
    """Any instant of 2026, often one within two days of a DST day, and for zones with DST
    often one within three hours of the zone's own clock change."""
    near: list[st.SearchStrategy[datetime]] = [
        st.builds(_plus_minutes, st.sampled_from(DST_DAYS), st.integers(-48 * 60, 48 * 60)),
        st.datetimes(
            min_value=datetime(2026, 1, 1),
            max_value=datetime(2026, 12, 31),
            timezones=st.just(UTC),
        ),
    ]
    if TRANSITIONS.get(tz):
        near.append(
            st.builds(_plus_minutes, st.sampled_from(TRANSITIONS[tz]), st.integers(-180, 180))
        )
    return st.one_of(near)


def _plus_minutes(at: datetime, minutes: int) -> datetime:
    return at + timedelta(minutes=minutes)


# Hours 1–3 are where clocks change: weighted so quiet hours often end inside a changed hour.
wall_times = st.builds(
    time,
    st.one_of(st.integers(0, 23), st.integers(1, 3)),
    st.one_of(st.sampled_from((0, 15, 30, 45)), st.integers(0, 59)),
)
# start == end is an empty span (Span.contains says never); start > end crosses midnight.
quiet_spans = st.one_of(st.none(), st.builds(Span, wall_times, wall_times))


@st.composite
def rule_sets(draw: st.DrawFn) -> list[Rule]:
    count = draw(st.integers(1, 6))
    return [
        Rule(
            name=f"r{n}",
            playbook=draw(st.sampled_from(("career", "coach"))),
            function=_noop,
            cadence=parse_cadence("daily"),
            cooldown=draw(st.sampled_from(COOLDOWNS)),
            priority=draw(st.integers(0, 100)),
            counts_toward_cap=draw(st.booleans()),
            proactive=draw(st.booleans()),
        )
        for n in range(count)
    ]


@dataclass(frozen=True)
class Scenario:
    ctx: UserContext
    rules: list[Rule]
    proposals: list[tuple[Rule, Candidate]]
    now: datetime


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    tz_name = draw(st.sampled_from(TIMEZONES))
    tz = zone(tz_name)
    now = draw(instants(tz_name))
    plan = draw(st.sampled_from(PLANS))
    user = User("u1", plan, None, "user", tz, "en", {}, {})
    rules = draw(rule_sets())
    keys = st.sampled_from(("k0", "k1", "k2", "k3"))
    past: dict[tuple[str, str], PastNudge] = {}
    for n in range(draw(st.integers(0, 8))):
        rule = draw(st.sampled_from(rules))
        status = draw(st.sampled_from(STATUSES))
        # Often today, so that the day's cap is already partly used.
        ago = draw(st.integers(0, 24 * 60) | st.integers(0, 10 * 24 * 60))
        created = now - timedelta(minutes=ago)
        capped = rule.counts_toward_cap and status != "suppressed"
        key = draw(keys)
        past[(rule.name, key)] = PastNudge(
            f"n{n}", rule.name, key, status, created, local_day(created, tz) if capped else None
        )
    proposals = []
    for rule in rules:
        for _ in range(draw(st.integers(0, 3))):
            expires = draw(st.none() | st.integers(-60, 4 * 24 * 60))
            event = draw(st.none() | st.integers(0, 10 * 24 * 60))
            candidate = Candidate(
                dedupe_key=draw(keys),
                title="t",
                body="b",
                expires_at=None if expires is None else now + timedelta(minutes=expires),
                event_at=None if event is None else now + timedelta(minutes=event),
                boost=draw(st.floats(0, 10, allow_nan=False)),
            )
            proposals.append((rule, candidate))
    ctx = user_context(
        user,
        draw(quiet_spans),
        draw(st.none() | st.sampled_from(WINDOWS)),
        History.of(list(past.values())),
    )
    return Scenario(ctx, rules, proposals, now)


def user_context(
    user: User, quiet: Span | None, window: WindowName | None, history: History
) -> UserContext:
    return UserContext(
        user=user,
        preferences=Preferences(
            window=window,
            quiet_hours=QuietHours(start=quiet.start, end=quiet.end) if quiet else None,
        ),
        org_enabled=True,
        agent_flag=(True, "on"),
        proactive_flag=(True, "on"),
        paused_rules=frozenset(),
        history=history,
        daily_limit=DEFAULT_PLANS[user.plan],
        quiet_hours=quiet,
    )


def scenario(
    tz: str, now: datetime, quiet: Span | None, window: WindowName | None = None
) -> Scenario:
    """One free user, one rule with one candidate, no history."""
    user = User("u1", "free", None, "user", zone(tz), "en", {}, {})
    rule = Rule("r0", "career", _noop, parse_cadence("daily"), timedelta(0))
    ctx = user_context(user, quiet, window, History())
    return Scenario(ctx, [rule], [(rule, Candidate("k0", "t", "b"))], now)


# Derandomized, so a run is repeatable; the rare cases a random search once found (a quiet
# period ending in a repeated hour) have explicit tests below.
PURE = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _delivered(decisions: Sequence[Decision]) -> list[Decision]:
    return [d for d in decisions if d.outcome != "suppressed"]


def _in_quiet(at: datetime, user_tz: Any, quiet: Span | None) -> bool:
    return quiet is not None and quiet.contains(at.astimezone(user_tz).time().replace(tzinfo=None))


# ---- the pure policy ------------------------------------------------------------------------


@PURE
@given(scenarios())
def test_the_daily_cap_holds_per_local_day(s: Scenario) -> None:
    decisions = decide(s.ctx, s.proposals, s.now).decisions
    tz = s.ctx.user.timezone
    new = Counter(d.cap_day for d in _delivered(decisions) if d.cap_day is not None)
    for day, count in new.items():
        room = max(0, s.ctx.daily_limit - s.ctx.history.cap_used.get(day, 0))
        assert count <= room, f"{count} new on {day}, room for {room}"
    for d in _delivered(decisions):
        assert d.deliver_at is not None
        expected = local_day(d.deliver_at, tz) if d.rule.counts_toward_cap else None
        assert d.cap_day == expected
    # The highest scores win: whatever the cap turned away scores no higher than what it let
    # in for the same delivery time (a suppressed decision carries no cap day; rules alike in
    # being proactive or not share their delivery time, hence their day).
    for d in decisions:
        if d.suppressed_by == "daily cap":
            admitted = [
                x.score
                for x in _delivered(decisions)
                if x.cap_day is not None and x.rule.proactive == d.rule.proactive
            ]
            assert all(d.score <= score for score in admitted)


@PURE
@given(scenarios())
def test_quiet_hours_defer_and_never_drop(s: Scenario) -> None:
    decisions = decide(s.ctx, s.proposals, s.now).decisions
    tz = s.ctx.user.timezone
    for d in decisions:
        assert d.suppressed_by != "timing"
        if d.outcome == "suppressed":
            continue
        assert d.deliver_at is not None
        assert not _in_quiet(d.deliver_at, tz, s.ctx.quiet_hours), (
            f"{d.deliver_at.astimezone(tz)} inside quiet hours {s.ctx.quiet_hours}"
        )
        assert d.deliver_at >= s.now, f"deliver_at {d.deliver_at} before now {s.now}"
        if d.outcome == "scheduled":
            assert d.deliver_at == s.now
        if d.candidate.expires_at is not None:
            assert d.deliver_at < d.candidate.expires_at


@PURE
@given(scenarios())
def test_a_dedupe_key_makes_one_nudge(s: Scenario) -> None:
    decisions = decide(s.ctx, s.proposals, s.now).decisions
    made = Counter((d.rule.name, d.candidate.dedupe_key) for d in _delivered(decisions))
    for key, count in made.items():
        assert count == 1, key
        existing = s.ctx.history.existing.get(key)
        assert existing is None or existing.status == "suppressed", (key, existing)


@PURE
@given(scenarios())
def test_no_rule_fires_inside_its_cooldown(s: Scenario) -> None:
    decisions = decide(s.ctx, s.proposals, s.now).decisions
    for d in _delivered(decisions):
        last = s.ctx.history.last_fired.get(d.rule.name)
        assert last is None or last + d.rule.cooldown <= s.now, (d.rule.name, last, s.now)


def test_a_quiet_period_ending_in_the_repeated_hour_ends_after_now() -> None:
    s = scenario(
        "America/New_York",
        now=datetime(2026, 11, 1, 6, 0, tzinfo=UTC),  # 01:00 EST, after 01:00–01:59 EDT
        quiet=Span(time(0), time(1, 15)),
    )
    [d] = decide(s.ctx, s.proposals, s.now).decisions
    assert d.deliver_at is not None
    assert d.deliver_at >= s.now  # got 05:15 UTC, the first 01:15 (EDT), 45 minutes ago


# ---- the engine on SQLite -------------------------------------------------------------------

COMPLETE = {"headline": "h", "location": "l", "target_role": "data analyst", "skills": ["sql"]}
STEPS_MINUTES = (1, 15, 45, 60, 90, 180, 360, 720, 1440, 2880, 4320)


@dataclass(frozen=True)
class Person:
    user: dict[str, Any]
    records: list[dict[str, Any]]
    quiet: Span  # what the policy applies: the user's own quiet hours or the default


@dataclass(frozen=True)
class Step:
    minutes: int
    action: str | None  # a fact arriving just before the sweep


@dataclass(frozen=True)
class Story:
    start: datetime
    people: list[Person]
    steps: list[Step]


def _iso(at: datetime) -> str:
    return at.isoformat()


@st.composite
def people(draw: st.DrawFn, n: int, start: datetime) -> Person:
    uid = f"u{n}"
    quiet = draw(st.none() | st.builds(Span, wall_times, wall_times))
    preferences: dict[str, Any] = {"window": draw(st.none() | st.sampled_from(WINDOWS))}
    if quiet is not None:
        preferences["quiet_hours"] = {"start": f"{quiet.start:%H:%M}", "end": f"{quiet.end:%H:%M}"}
    user = {
        "id": uid,
        "plan": draw(st.sampled_from(PLANS)),
        "timezone": draw(st.sampled_from(TIMEZONES)),
        "traits": draw(st.sampled_from(({}, {"headline": "h"}, COMPLETE))),
        "preferences": preferences,
    }

    def days_ago(most: int) -> datetime:
        return start - timedelta(
            days=draw(st.integers(0, most)), minutes=draw(st.integers(0, 1439))
        )

    records: list[dict[str, Any]] = []
    if draw(st.booleans()):
        records.append(
            {"kind": "resume", "key": "main", "props": {"score": draw(st.integers(0, 100))}}
        )
    for a in range(draw(st.integers(0, 2))):
        status = draw(st.sampled_from(("applied", "interviewing", "rejected")))
        records.append(
            {"kind": "application", "key": f"a{a}", "props": {"company": "Acme", "status": status},
             "updated_at": _iso(days_ago(30))}
        )  # fmt: skip
    if draw(st.booleans()):
        at = start + timedelta(minutes=draw(st.integers(60, 5 * 24 * 60)))
        records.append(
            {"kind": "interview", "key": "i1", "props": {"at": _iso(at), "company": "Acme"}}
        )
    if draw(st.booleans()):
        records.append(
            {"kind": "goal", "key": "g1", "props": {"title": "Learn SQL", "progress": 0},
             "updated_at": _iso(days_ago(45))}
        )  # fmt: skip
    if draw(st.booleans()):
        records.append(
            {"kind": "contact", "key": "c1",
             "props": {"name": "Ann", "last_interaction_at": _iso(days_ago(90))}}
        )  # fmt: skip
    return Person(user, records, quiet or DEFAULT_QUIET)


FACTS = ("job_search", "resume", "login")
SNOOZES = ("snooze 1h", "snooze 4h", "snooze 24h", "snooze 1w")


@st.composite
def stories(draw: st.DrawFn, actions: tuple[str, ...] = FACTS) -> Story:
    anchor = draw(st.sampled_from([at for ats in TRANSITIONS.values() for at in ats]))
    start = anchor - timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
    cast = [draw(people(n, start)) for n in range(draw(st.integers(1, 3)))]
    steps = draw(
        st.lists(
            st.builds(
                Step,
                st.sampled_from(STEPS_MINUTES) | st.integers(1, 3 * 24 * 60),
                st.none() | st.sampled_from(actions),
            ),
            min_size=1,
            max_size=8,
        )
    )
    return Story(start, cast, steps)


def _snapshot(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.db.connect() as conn:
        made = conn.execute(sa.select(nudges).order_by(nudges.c.id)).all()
        outbox = conn.execute(sa.select(deliveries).order_by(deliveries.c.id)).all()
    return [tuple(row) for row in [*made, *outbox]]


def _act(engine: Engine, clock: FrozenClock, person: Person, action: str, n: int) -> None:
    uid = person.user["id"]
    if action.startswith("snooze"):
        shown = engine.nudges(user_id=uid, status="delivered", limit=1)
        if shown:
            with_clock = engine.snooze(shown[0]["id"], action.split()[1])
            assert with_clock["status"] == "snoozed"
    elif action == "resume":
        engine.put_record(
            {"user_id": uid, "kind": "resume", "key": "main", "props": {"score": 10 * (n % 10)}}
        )
    else:
        name = "job_search" if action == "job_search" else "login"
        engine.track({"id": f"e{n}", "user_id": uid, "name": name, "at": _iso(clock.now())})


def _sweep_twice_changes_nothing(engine: Engine, clock: FrozenClock) -> None:
    """A sweep repeated at the same instant writes nothing: neither as is (nobody is due) nor
    with every user the last sweep looked at made due again. (Users it did not look at may
    rightly decide differently now: a candidate the cap turned away yesterday can pass today.)"""
    before = _snapshot(engine)
    engine.sweep()
    with engine.db.begin() as conn:
        conn.execute(
            sa.update(users)
            .where(users.c.checked_at == clock.now())
            .values(next_check_at=clock.now())
        )
    engine.sweep()
    assert _snapshot(engine) == before


def run_story(
    story: Story, check_each_step: Callable[[Engine, FrozenClock], None], directory: str
) -> Engine:
    """Play the story on a fresh SQLite database in `directory`; the caller closes the engine.
    (Hypothesis runs many examples per test, so no function-scoped tmp_path here.)"""
    url = f"sqlite:///{Path(directory) / 'nudgeflow.db'}"
    clock = FrozenClock(story.start)
    engine = Engine(url, settings=load_settings(database_url=url), clock=clock)
    engine.upsert_users([p.user for p in story.people])
    engine.put_records(
        {"user_id": p.user["id"], **record} for p in story.people for record in p.records
    )
    engine.sweep()
    engine.deliver_due()
    for n, step in enumerate(story.steps):
        clock.advance(timedelta(minutes=step.minutes))
        if step.action is not None:
            _act(engine, clock, story.people[n % len(story.people)], step.action, n)
        engine.sweep()
        engine.deliver_due()
        check_each_step(engine, clock)
    return engine


ENGINE = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@ENGINE
@given(stories())
def test_the_engine_keeps_the_policys_promises(story: Story) -> None:
    with tempfile.TemporaryDirectory(prefix="nudgeflow-") as directory:
        engine = run_story(story, _sweep_twice_changes_nothing, directory)
        try:
            made = engine.nudges(limit=100_000)
            rules = {r.name: r for r in engine.rules}
        finally:
            engine.close()
    cast = {p.user["id"]: p for p in story.people}

    # Never the same (user, rule, dedupe key) twice.
    keys = Counter((n["user_id"], n["rule"], n["dedupe_key"]) for n in made)
    assert [k for k, count in keys.items() if count > 1] == []

    sent = [n for n in made if n["status"] != "suppressed"]
    per_day: Counter[tuple[str, date]] = Counter()
    fired: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for n in sent:
        person = cast[n["user_id"]]
        tz = zone(person.user["timezone"])
        rule = rules[n["rule"]]
        deliver_at: datetime = n["deliver_at"]
        # Nothing delivered in quiet hours, nothing deferred to before it was decided.
        assert not _in_quiet(deliver_at, tz, person.quiet), (n, deliver_at.astimezone(tz))
        assert deliver_at >= n["created_at"], n
        if rule.proactive and rule.counts_toward_cap:
            assert n["cap_day"] == local_day(deliver_at, tz).isoformat(), n
            per_day[(n["user_id"], local_day(deliver_at, tz))] += 1
        fired[(n["user_id"], n["rule"])].append(n["created_at"])

    # Never more nudges in a user's local day than the plan allows.
    for (uid, day), count in per_day.items():
        limit = DEFAULT_PLANS[cast[uid].user["plan"]]
        assert count <= limit, f"{uid} got {count} nudges on {day}; plan allows {limit}"

    # No rule fires again within its cooldown.
    for (uid, name), times in fired.items():
        times.sort()
        for earlier, later in itertools.pairwise(times):
            assert later - earlier >= rules[name].cooldown, (uid, name, earlier, later)


def _per_local_day(story: Story, made: list[dict[str, Any]], rules: dict[str, Rule]) -> None:
    """No user gets more capped nudges in a local day (of delivery) than the plan allows."""
    cast = {p.user["id"]: p for p in story.people}
    per_day: Counter[tuple[str, date]] = Counter()
    for n in made:
        rule = rules[n["rule"]]
        if n["status"] != "suppressed" and rule.proactive and rule.counts_toward_cap:
            tz = zone(cast[n["user_id"]].user["timezone"])
            per_day[(n["user_id"], local_day(n["deliver_at"], tz))] += 1
    for (uid, day), count in per_day.items():
        limit = DEFAULT_PLANS[cast[uid].user["plan"]]
        assert count <= limit, f"{uid} gets {count} nudges on {day}; plan allows {limit}"


def _play(story: Story) -> tuple[list[dict[str, Any]], dict[str, Rule]]:
    with tempfile.TemporaryDirectory(prefix="nudgeflow-") as directory:
        engine = run_story(story, lambda engine, clock: None, directory)
        try:
            return engine.nudges(limit=100_000), {r.name: r for r in engine.rules}
        finally:
            engine.close()


@ENGINE
@given(stories(FACTS + SNOOZES))
def test_a_snoozed_nudge_comes_back_outside_quiet_hours(story: Story) -> None:
    made, _ = _play(story)
    cast = {p.user["id"]: p for p in story.people}
    for n in made:
        if n["status"] == "suppressed":
            continue
        person = cast[n["user_id"]]
        tz = zone(person.user["timezone"])
        assert not _in_quiet(n["deliver_at"], tz, person.quiet), n
        assert n["deliver_at"] >= (n["acted_at"] or n["created_at"]), n


def test_a_snoozed_nudge_comes_back_within_the_daily_cap() -> None:
    # Berlin, free plan (2 a day). 21:59 on 03-28: profile_incomplete shown. 22:00: a weak
    # resume, deferred past quiet hours to 07:00 on 03-29. 11:00 on 03-29: the user snoozes
    # profile_incomplete for 1 h; daily_check fires at 11:00 (the 09:00 tick); at 12:00 the
    # snoozed nudge comes back as the third of the day.
    story = Story(
        datetime(2026, 3, 28, 20, 59, tzinfo=UTC),
        [
            Person(
                {"id": "u0", "plan": "free", "timezone": "Europe/Berlin", "traits": {}},
                [],
                DEFAULT_QUIET,
            )
        ],
        [Step(1, "resume"), Step(720, "snooze 1h")],
    )
    made, rules = _play(story)
    _per_local_day(story, made, rules)
