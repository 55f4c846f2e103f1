"""The ten career rules, each as the pure function it is: fires on the right facts, with copy
that names the thing, stays silent otherwise, and asks to look again when something will
change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from nudgeflow.localtime import zone
from nudgeflow.playbooks.career import career
from nudgeflow.rules import Candidate, EventStats, Facts, Record, User

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday, 09:00 in Berlin
RULES = {rule.name: rule for rule in career.rules()}
COMPLETE = {"headline": "h", "location": "l", "target_role": "data analyst", "skills": ["sql"]}


def facts(
    records: Sequence[Record] = (),
    events: Mapping[str, EventStats] | None = None,
    traits: Mapping[str, Any] | None = None,
) -> Facts:
    user = User("u1", "free", None, "user", zone("Europe/Berlin"), "en", traits or COMPLETE, {})
    by_kind: dict[str, list[Record]] = {}
    for record in records:
        by_kind.setdefault(record.kind, []).append(record)
    return Facts(user, by_kind, events or {})


def record(kind: str, key: str, days_ago: float = 0, **props: Any) -> Record:
    return Record(kind, key, props, NOW - timedelta(days=days_ago))


def run(name: str, f: Facts) -> tuple[list[Candidate], list[datetime]]:
    return RULES[name].evaluate(f, NOW)


def test_the_playbook_has_the_ten_rules_of_the_product() -> None:
    assert sorted(RULES) == sorted([
        "interview_soon", "app_rescue", "resume_weak", "goal_stalled", "networking_idle",
        "job_search_stale", "profile_incomplete", "daily_check", "weekly_review", "skill_gap",
    ])  # fmt: skip


def test_interview_soon_fires_24_to_48_hours_ahead_and_rechecks_for_later_ones() -> None:
    soon = (NOW + timedelta(hours=30)).isoformat()
    later = NOW + timedelta(days=5)
    [candidate], rechecks = run(
        "interview_soon",
        facts([record("interview", "i1", at=soon, company="Acme", role="analyst"),
               record("interview", "i2", at=later.isoformat(), company="Globex")]),
    )  # fmt: skip
    assert candidate.title == "Interview with Acme Tuesday at 15:00"  # 14:00 UTC in Berlin
    assert "interview is in 30 hours" in candidate.body
    assert candidate.expires_at == NOW + timedelta(hours=30)
    assert rechecks == [later - timedelta(hours=48)]
    tomorrow = (NOW + timedelta(hours=20)).isoformat()
    assert run("interview_soon", facts([record("interview", "i3", at=tomorrow)])) == ([], [])


def test_app_rescue_names_the_oldest_stale_application() -> None:
    [candidate], [recheck] = run(
        "app_rescue",
        facts([record("application", "a1", 20, company="Acme", status="applied"),
               record("application", "a2", 30, company="Globex", status="interviewing"),
               record("application", "a3", 40, company="Initech", status="rejected"),
               record("application", "a4", 3, company="Hooli", status="applied")]),
    )  # fmt: skip
    assert candidate.title == "Follow up with Globex?"
    assert "no news for 30 days" in candidate.body
    assert recheck == NOW + timedelta(days=11)  # when Hooli's turns stale
    assert run("app_rescue", facts([record("application", "a1", 40, status="offer")])) == ([], [])


def test_resume_weak_below_70_only() -> None:
    [candidate], _ = run("resume_weak", facts([record("resume", "main", score=55)]))
    assert candidate.title == "Your resume scores 55/100"
    assert run("resume_weak", facts([record("resume", "main", score=70)])) == ([], [])
    assert run("resume_weak", facts()) == ([], [])


def test_goal_stalled_after_30_days_at_zero() -> None:
    [candidate], [recheck] = run(
        "goal_stalled",
        facts([record("goal", "g1", 45, title="Learn SQL", progress=0),
               record("goal", "g2", 10, title="Network", progress=0),
               record("goal", "g3", 90, title="Portfolio", progress=40)]),
    )  # fmt: skip
    assert candidate.title == "Restart “Learn SQL” with one small step"
    assert "at 0% for 45 days" in candidate.body
    assert recheck == NOW + timedelta(days=20)


def test_networking_idle_after_60_days_from_contacts_or_events() -> None:
    contact = record("contact", "c1", last_interaction_at=(NOW - timedelta(days=75)).isoformat())
    [candidate], _ = run("networking_idle", facts([contact]))
    assert "75 days since your last networking conversation" in candidate.body
    recent = {
        "networking_interaction": EventStats("networking_interaction", NOW - timedelta(days=10), 1)
    }
    assert run("networking_idle", facts([contact], recent)) == ([], [NOW + timedelta(days=50)])


def test_job_search_stale_after_14_quiet_days() -> None:
    old = {"job_search": EventStats("job_search", NOW - timedelta(days=20), 4)}
    [candidate], _ = run("job_search_stale", facts(events=old))
    assert "20 days ago" in candidate.body
    fresh = {"job_saved": EventStats("job_saved", NOW - timedelta(days=2), 1)}
    assert run("job_search_stale", facts(events=old | fresh)) == ([], [NOW + timedelta(days=12)])


def test_profile_incomplete_lists_the_missing_fields() -> None:
    [candidate], _ = run("profile_incomplete", facts(traits={"headline": "h", "skills": ["sql"]}))
    assert candidate.body == "Add your location, target role so recommendations fit you."
    assert candidate.dedupe_key == "profile_incomplete:location+target_role"
    assert run("profile_incomplete", facts()) == ([], [])


def test_daily_check_is_keyed_by_the_local_day_and_expires_at_local_midnight() -> None:
    [candidate], _ = run("daily_check", facts())
    assert candidate.dedupe_key == "daily_check:2026-11-23"
    assert candidate.expires_at == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 00:00 Berlin


def test_weekly_review_counts_the_last_seven_days() -> None:
    week = {
        "application_submitted": EventStats("application_submitted", NOW, 9, last_7_days=3),
        "interview_scheduled": EventStats("interview_scheduled", NOW, 1, last_7_days=1),
        "login": EventStats("login", NOW, 40, last_7_days=5),
    }
    [candidate], _ = run("weekly_review", facts(events=week))
    assert candidate.dedupe_key == "weekly_review:2026-W48"
    assert candidate.body.startswith("This week: 3 applications, 1 interview scheduled, 9 actions")


def test_skill_gap_compares_the_target_roles_skills_with_the_users() -> None:
    skills = [record("skill", "python"), record("skill", "excel")]
    [candidate], _ = run("skill_gap", facts(skills))  # data analyst: sql from traits
    assert candidate.title == "2 skills to reach data analyst"
    assert "statistics, tableau" in candidate.body
    target = record("target_role", "main", title="Data engineer", skills=["SQL", "Spark"])
    [custom], _ = run("skill_gap", facts([target]))
    assert custom.dedupe_key == "skill_gap:data engineer:Spark"
    everything = [record("skill", s) for s in ("python", "excel", "statistics", "tableau")]
    assert run("skill_gap", facts(everything)) == ([], [])
