"""The Engine: nudgeflow from Python. Facts in, sweeps, explain, nudges and their actions.

engine = Engine("sqlite:///nudgeflow.db")
engine.upsert_user({"id": "u1", "plan": "free", "timezone": "Europe/Berlin"})
engine.track([{"id": "e1", "user_id": "u1", "name": "login", "at": "2026-11-22T09:00:00Z"}])
report = engine.sweep()
engine.explain("u1").render()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from nudgeflow import lifecycle, report, telemetry
from nudgeflow.clock import Clock, SystemClock, ensure_utc
from nudgeflow.config import Settings, load_settings
from nudgeflow.credentials import Credentials
from nudgeflow.errors import (
    ConfigError,
    Forbidden,
    InvalidInput,
    NotFound,
    NudgeflowError,
    UnknownPlan,
)
from nudgeflow.evaluation import (
    Ticks,
    build_user,
    context,
    decide_user,
    parse_preferences,
    run_rules,
)
from nudgeflow.explain import Explanation
from nudgeflow.facts import EventIn, Preferences, RecordIn, UserIn, parse
from nudgeflow.fallback import fall_back_due
from nudgeflow.flag_admin import FlagAdmin
from nudgeflow.flag_snapshot import FlagSnapshot
from nudgeflow.flags import Evaluation
from nudgeflow.localtime import Span, at_local, local_day
from nudgeflow.playbooks import load_playbooks
from nudgeflow.policy import History
from nudgeflow.rules import Facts, Playbook, Rule, User, describe_duration
from nudgeflow.store import admin, database, nudges, reports, sweeps
from nudgeflow.store import coaching as coaching_store
from nudgeflow.store import facts as fact_store
from nudgeflow.sweep import Sweeper, SweepReport

if TYPE_CHECKING:
    from nudgeflow.agenda.conversation import Agenda

# A snoozed nudge looks this many days ahead for room under the cap, then comes back anyway.
MAX_SNOOZE_DAYS = 7


class Engine:
    def __init__(
        self,
        database_url: str | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        playbooks: Sequence[Playbook] | None = None,
        migrate: bool = True,
    ) -> None:
        self.settings = settings or load_settings(
            **({"database_url": database_url} if database_url else {})
        )
        self.clock = clock or SystemClock()
        self.db = database.connect(database_url or self.settings.database_url)
        self.rules = self._build_rules(
            playbooks if playbooks is not None else load_playbooks(self.settings.playbooks)
        )
        if migrate:
            database.upgrade(self.db)
        self.flag_snapshot = FlagSnapshot(self.db, max_age=self.settings.flag_refresh_seconds)

    def _build_rules(self, playbooks: Sequence[Playbook]) -> list[Rule]:
        overrides = self.settings.rules
        rules = [
            rule
            for playbook in playbooks
            for rule in playbook.rules(
                self.settings.schedule, {k: v.as_overrides() for k, v in overrides.items()}
            )
            if rule.name not in overrides or overrides[rule.name].enabled
        ]
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            twice = ", ".join(sorted({n for n in names if names.count(n) > 1}))
            raise ConfigError("playbooks", f"two rules share a name: {twice}")
        as_written = {r.name: r for p in playbooks for r in p.rules()}  # before overrides
        unknown = set(overrides) - set(as_written)
        if unknown:
            raise ConfigError(
                "rules", f"overrides name unknown rules: {', '.join(sorted(unknown))}"
            )
        self._check_generators(as_written, rules)
        return rules

    def _check_generators(self, as_written: dict[str, Rule], rules: Sequence[Rule]) -> None:
        """Only rules that generate their text take a generator, and "llm" needs an LLM."""
        writes_own = {name for name, rule in as_written.items() if rule.generator is None}
        for rule in rules:
            field = f"rules.{rule.name}.generator"
            if rule.generator is not None and rule.name in writes_own:
                raise ConfigError(field, "this rule writes its own copy; it takes no generator")
            if rule.generator == "llm" and self.settings.llm is None:
                raise ConfigError(field, "llm needs an [llm] section or NUDGEFLOW_LLM_MODEL")

    @cached_property
    def flags(self) -> FlagAdmin:
        """Create, roll out and disable flags; every change audited."""
        return FlagAdmin(
            self.db, plans=self.settings.plans, snapshot=self.flag_snapshot, now=self.clock.now
        )

    @cached_property
    def agenda(self) -> Agenda:
        """Messages in, meetings out: `engine.agenda.receive(user_id, {"text": ...})`."""
        from nudgeflow.agenda.conversation import Agenda

        return Agenda(self, self.clock.now)

    @cached_property
    def credentials(self) -> Credentials:
        """API keys and user tokens, for the HTTP API."""
        return Credentials(self.db, self.settings, self.clock)

    def close(self) -> None:
        self.db.dispose()

    def _now(self, at: datetime | None = None) -> datetime:
        return ensure_utc(at) if at is not None else self.clock.now()

    # ---- facts in -------------------------------------------------------------------------

    def upsert_user(self, user: UserIn | dict[str, Any]) -> None:
        """Create or replace the user. Left out, `timezone`, `preferences` and the linked
        Telegram chat keep their stored values; `addresses.telegram: None` unlinks the chat."""
        self.upsert_users([user])

    def upsert_users(self, batch: Iterable[UserIn | dict[str, Any]]) -> None:
        parsed = [parse(UserIn, u) for u in batch]
        for user in parsed:
            self._check_plan(user.plan)
        now = self._now()
        with database.writer(self.db).begin() as conn:
            fact_store.upsert_users(conn, parsed, now)
            coaching_store.follow_users(conn, parsed, now)

    def _check_plan(self, plan: str) -> None:
        if plan not in self.settings.plans:
            raise UnknownPlan(plan, sorted(self.settings.plans))

    def delete_user(self, user_id: str) -> None:
        with database.writer(self.db).begin() as conn:
            if not fact_store.delete_user(conn, user_id):
                raise NotFound("user", user_id)

    def set_preferences(
        self, user_id: str, preferences: Preferences | dict[str, Any]
    ) -> Preferences:
        prefs = parse(Preferences, preferences)
        now = self._now()
        with database.writer(self.db).begin() as conn:
            self._require_users(conn, [user_id], NotFound("user", user_id))
            fact_store.put_preferences(conn, [(user_id, prefs.model_dump(mode="json"))], now)
            zone = coaching_store.timezones(conn, [user_id])[user_id]
            coaching_store.follow(conn, [(user_id, zone, prefs)], now)
        return prefs

    def preferences(self, user_id: str) -> Preferences:
        with self.db.connect() as conn:
            self._require_users(conn, [user_id], NotFound("user", user_id))
            return parse_preferences(sweeps.load_preferences(conn, [user_id]).get(user_id))

    def user(self, user_id: str) -> User:
        """The user as rules see them: plan, org, timezone, locale, traits, addresses."""
        with self.db.connect() as conn:
            row = sweeps.load_user(conn, user_id)
        if row is None:
            raise NotFound("user", user_id)
        return build_user(row)

    def track(self, events: EventIn | dict[str, Any] | Iterable[EventIn | dict[str, Any]]) -> int:
        """Store events; returns how many were new (an event sent twice is stored once)."""
        batch = [
            parse(EventIn, e) for e in ([events] if isinstance(events, EventIn | dict) else events)
        ]
        with database.writer(self.db).begin() as conn:
            self._require_users(conn, [e.user_id for e in batch])
            return fact_store.insert_events(conn, batch, self._now())

    def put_record(self, record: RecordIn | dict[str, Any]) -> None:
        self.put_records([record])

    def put_records(self, batch: Iterable[RecordIn | dict[str, Any]]) -> None:
        parsed = [parse(RecordIn, r) for r in batch]
        with database.writer(self.db).begin() as conn:
            self._require_users(conn, [r.user_id for r in parsed])
            fact_store.put_records(conn, parsed, self._now())

    def delete_record(self, user_id: str, kind: str, key: str) -> None:
        with database.writer(self.db).begin() as conn:
            if not fact_store.delete_record(conn, user_id, kind, key, self._now()):
                raise NotFound("record", f"{user_id}/{kind}/{key}")

    @staticmethod
    def _require_users(
        conn: sa.Connection, user_ids: Iterable[str], error: NudgeflowError | None = None
    ) -> None:
        missing = fact_store.missing_users(conn, user_ids)
        if missing:
            raise error or InvalidInput(
                "user_id", f"no user {sorted(missing)[0]!r}; upsert the user first"
            )

    # ---- operators ------------------------------------------------------------------------

    def set_org(self, org: str, *, agent_enabled: bool, actor: str = "cli") -> None:
        """The organisation kill switch: agent_enabled=False silences every user of `org`."""
        with database.writer(self.db).begin() as conn:
            admin.set_org(conn, org, agent_enabled, actor=actor, now=self._now())
        self.flag_snapshot.invalidate()

    def pause_rule(self, name: str, *, actor: str = "cli") -> None:
        self._set_paused(name, True, actor)

    def resume_rule(self, name: str, *, actor: str = "cli") -> None:
        self._set_paused(name, False, actor)

    def _set_paused(self, name: str, paused: bool, actor: str) -> None:
        if name not in {r.name for r in self.rules}:
            raise NotFound("rule", name)
        with database.writer(self.db).begin() as conn:
            admin.set_rule_paused(conn, name, paused, actor=actor, now=self._now())

    def rule_list(self) -> list[dict[str, Any]]:
        """Every rule with its cadence, cooldown, priority and whether an admin paused it."""
        with self.db.connect() as conn:
            paused = admin.paused_rules(conn)
        return [
            {
                "rule": r.name, "playbook": r.playbook, "cadence": str(r.cadence),
                "cooldown": describe_duration(r.cooldown), "priority": r.priority,
                "category": r.category, "channels": list(r.channels),
                "counts_toward_cap": r.counts_toward_cap, "paused": r.name in paused,
                "description": r.description,
            }
            for r in self.rules
        ]  # fmt: skip

    def evaluate_flag(self, key: str, user_id: str) -> Evaluation:
        """Flag `key` for the stored user, from the in-memory snapshot, with its reason."""
        with self.db.connect() as conn:
            row = sweeps.load_user(conn, user_id)
        if row is None:
            raise NotFound("user", user_id)
        return self.flag_snapshot.current().evaluation(key, build_user(row))

    def organisation(self, org: str) -> dict[str, Any]:
        """The organisation's kill switch; an organisation never switched is on."""
        with self.db.connect() as conn:
            enabled = admin.org_enabled(conn, org)
        return {"id": org, "agent_enabled": enabled}

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            return admin.audit_entries(conn, limit)

    # ---- the work -------------------------------------------------------------------------

    def sweep(
        self,
        at: datetime | None = None,
        *,
        dry_run: bool = False,
        keep_decisions: bool = False,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> SweepReport:
        """Look at every due user once; `at` runs at a virtual time. `should_stop` is asked
        between batches (a worker shutting down finishes the batch in hand)."""
        sweeper = Sweeper(
            self.db, self.rules, self.settings, self.flag_snapshot, keep_decisions=keep_decisions
        )
        report = sweeper.run(self._now(at), dry_run=dry_run, should_stop=should_stop)
        telemetry.record_sweep(report)
        return report

    def sweep_users(self, user_ids: Sequence[str], at: datetime | None = None) -> SweepReport:
        """Look at these users now, due or not, keeping the decisions in the report."""
        sweeper = Sweeper(
            self.db, self.rules, self.settings, self.flag_snapshot, keep_decisions=True
        )
        return sweeper.run_users(self._now(at), user_ids)

    def report(self, period_name: str = "24h", at: datetime | None = None) -> dict[str, Any]:
        """What the nudges made in the last `period_name` (24h, 7d, 30d) led to."""
        since = self._now(at) - report.period(period_name)
        with self.db.connect() as conn:
            rows = reports.nudge_outcomes(conn, since)
            off, everyone = reports.nudges_off(conn)
        return {"period": period_name, "since": since, **report.summarize(rows, off, everyone)}

    def deliver_due(self, at: datetime | None = None, *, batch: int = 1000) -> dict[str, int]:
        """Expire what is past its expiry, show due in-app nudges in the inbox, and queue the
        fallbacks of in-app nudges left unseen (other channels go out through dispatch)."""
        now = self._now(at)
        counts = {"expired": 0, "delivered_in_app": 0}
        for key, step in (
            ("expired", nudges.expire_due),
            ("delivered_in_app", nudges.deliver_in_app),
        ):
            while True:
                with database.writer(self.db).begin() as conn:
                    done = step(conn, now, batch)
                counts[key] += done
                if done < batch:
                    break
        if any(rule.fallback for rule in self.rules):
            with database.writer(self.db).begin() as conn:
                counts["fallbacks"] = fall_back_due(
                    conn,
                    self.rules,
                    self.settings,
                    now,
                    batch,
                    flags=self.flag_snapshot.current().gate,
                )
        telemetry.record_delivery(counts)
        return counts

    def explain(self, user_id: str, at: datetime | None = None) -> Explanation:
        """Every rule's candidates and every decision with its trace, as a sweep now would
        make them. Changes nothing."""
        now = self._now(at)
        ticks = Ticks(now, self.rules)
        with self.db.connect() as conn:
            row = sweeps.load_user(conn, user_id)
            if row is None:
                raise NotFound("user", user_id)
            user = build_user(row)
            facts = sweeps.load_facts(conn, [row], now)
            paused = admin.paused_rules(conn)
            flags = self.flag_snapshot.current().gate
            runs = run_rules(
                self.rules,
                Facts(user, facts.records.get(user_id, {}), facts.events.get(user_id, {})),
                row.checked_at,
                ticks,
                every=True,
            )
            keys = {c.dedupe_key for run in runs for c in run.candidates}
            history = sweeps.load_history(conn, [user_id], keys, now).get(user_id, [])
            recent = nudges.list_nudges(conn, user_id=user_id, limit=10)
        ctx = context(
            user,
            parse_preferences(facts.preferences.get(user_id)),
            settings=self.settings,
            org_enabled=facts.org_enabled.get(user.org, True) if user.org else True,
            flags=flags,
            paused=paused,
            history=History.of(history),
        )
        # Explain shows every rule; only due ones would be decided by a sweep.
        shown = [run if run.due else replace(run, due=True) for run in runs]
        decisions, next_check = decide_user(ctx, shown, ticks)
        return Explanation(now, ctx, runs, decisions, next_check, recent)

    # ---- nudges -----------------------------------------------------------------------------

    def nudges(
        self, *, user_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            return nudges.list_nudges(conn, user_id=user_id, status=status, limit=limit)

    def inbox(
        self,
        user_id: str,
        *,
        status: str | None = None,
        limit: int = 50,
        after: tuple[datetime, str] | None = None,
    ) -> list[dict[str, Any]]:
        """A page of what the user has been shown, newest first; `after` is the (created_at,
        id) of the last nudge of the page before."""
        with self.db.connect() as conn:
            page = nudges.inbox(conn, user_id, status, limit, after)
            if not page and not nudges.has_user(conn, user_id):
                raise NotFound("user", user_id)
        return page

    def mark_seen(self, user_id: str, nudge_ids: Sequence[str]) -> int:
        """Mark the user's nudges seen (the inbox opened them); returns how many were new."""
        with database.writer(self.db).begin() as conn:
            self._require_users(conn, [user_id], NotFound("user", user_id))
            return nudges.mark_seen(conn, user_id, nudge_ids, self._now())

    def nudge(self, nudge_id: str) -> dict[str, Any]:
        with self.db.connect() as conn:
            found = nudges.get_nudge(conn, nudge_id)
        if found is None:
            raise NotFound("nudge", nudge_id)
        return found

    def accept(self, nudge_id: str, *, user_id: str | None = None) -> dict[str, Any]:
        return self._act(nudge_id, "accept", user_id)

    def dismiss(self, nudge_id: str, *, user_id: str | None = None) -> dict[str, Any]:
        return self._act(nudge_id, "dismiss", user_id)

    def snooze(self, nudge_id: str, duration: str, *, user_id: str | None = None) -> dict[str, Any]:
        """Snooze for 1h, 4h, 24h or 1w; it comes back then, after quiet hours if they cover it
        and on a later day if that day's cap is used up."""
        return self._act(nudge_id, "snooze", user_id, lifecycle.snooze_duration(duration))

    def _act(
        self,
        nudge_id: str,
        action: lifecycle.Action,
        user_id: str | None,
        snooze: timedelta | None = None,
    ) -> dict[str, Any]:
        now = self._now()
        with database.writer(self.db).begin() as conn:
            if snooze is None:  # the common case in one statement; a miss is told apart below
                moved = self._move(conn, nudge_id, action, user_id, now)
                if moved is not None:
                    return moved
            nudge = nudges.get_nudge(conn, nudge_id)
            if nudge is None or (user_id is not None and nudge["user_id"] != user_id):
                # Another user's nudge looks like no nudge at all: nothing leaks.
                raise (
                    NotFound("nudge", nudge_id)
                    if nudge is None
                    else Forbidden(f"nudge {nudge_id} is not {user_id}'s")
                )
            if not lifecycle.check(nudge_id, nudge["status"], action):
                return nudge
            if snooze is None:
                updated = nudges.set_status(
                    conn, nudge_id, lifecycle.RESULT[action], now, acted_at=now
                )
                nudges.cancel_deliveries(conn, [nudge_id], now)
            else:
                back, day = self._snooze_return(conn, nudge, now + snooze)
                updated = nudges.set_status(
                    conn, nudge_id, "snoozed", now, acted_at=now, deliver_at=back, cap_day=day
                )
                nudges.reschedule_delivery(conn, nudge_id, back, now)
        return updated

    @staticmethod
    def _move(
        conn: sa.Connection,
        nudge_id: str,
        action: lifecycle.Action,
        user_id: str | None,
        now: datetime,
    ) -> dict[str, Any] | None:
        """Accept or dismiss a nudge the action applies to; None if it does not (no such
        nudge, another user's, a repeat or an illegal move: _act says which)."""
        result, allowed = lifecycle.RESULT[action], lifecycle.ALLOWED_FROM[action]
        moved = nudges.move(conn, nudge_id, result, allowed, now=now, owner=user_id)
        if moved is not None:
            nudges.cancel_deliveries(conn, [nudge_id], now)
        return moved

    def _snooze_return(
        self, conn: sa.Connection, nudge: dict[str, Any], at: datetime
    ) -> tuple[datetime, str | None]:
        """When a snoozed nudge comes back, and the local day it then counts on: outside quiet
        hours, and on a day with room under the daily cap (a later day if it is full)."""
        row = sweeps.load_user(conn, nudge["user_id"])
        assert row is not None
        user = build_user(row)
        prefs = parse_preferences(sweeps.load_preferences(conn, [user.id]).get(user.id))
        quiet = prefs.quiet_hours or self.settings.quiet_hours
        span = Span(quiet.start, quiet.end) if quiet else None

        def allowed(instant: datetime) -> datetime:
            return (span.end_after(instant, user.timezone) if span else None) or instant

        back = allowed(at)
        if nudge["cap_day"] is None:
            return back, None
        plan = self.settings.plans.get(user.plan)
        limit = plan.daily_limit if plan else 0
        for _ in range(MAX_SNOOZE_DAYS):
            day = local_day(back, user.timezone)
            if nudges.capped_on(conn, user.id, day.isoformat(), excluding=nudge["id"]) < limit:
                break
            back = allowed(at_local(day + timedelta(days=1), time(0), user.timezone))
        return back, local_day(back, user.timezone).isoformat()
