"""The career playbook: ten rules for a career coach app (PRODUCT.md §2), and the demo.

Record kinds and the fields the rules read (all times ISO 8601 with an offset):

    application  key: the application id   props: company, role, status (applied | interviewing
                 | offer | rejected | withdrawn); the record's updated_at is its last update
    interview    key: the interview id     props: at, company, role
    resume       key: "main"               props: score (0–100)
    goal         key: the goal id          props: title, progress (0–100); updated_at: last change
    contact      key: the contact id       props: name, last_interaction_at
    target_role  key: "main"               props: title, skills (list); else traits.target_role
    skill        key: the skill's name     (one record per skill the user has)

Events that count as job-search activity: application_submitted, job_saved, job_search,
interview_scheduled. Traits a complete profile has: headline, location, target_role, skills.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, time, timedelta

from nudgeflow.localtime import at_local
from nudgeflow.rules import Candidate, Facts, Playbook, Recheck, Record, RuleOutput

career = Playbook(
    "career", "Job search coaching: interviews, applications, resume, goals, network."
)

ACTIVE_APPLICATION = ("applied", "interviewing")
JOB_SEARCH_EVENTS = ("application_submitted", "job_saved", "job_search", "interview_scheduled")
PROFILE_FIELDS = ("headline", "location", "target_role", "skills")
STALE_APPLICATION = timedelta(days=14)
STALLED_GOAL = timedelta(days=30)
ROLE_SKILLS: dict[str, tuple[str, ...]] = {
    "data analyst": ("sql", "python", "excel", "statistics", "tableau"),
    "data scientist": ("python", "sql", "statistics", "machine learning", "pandas"),
    "software engineer": ("python", "git", "sql", "testing", "system design"),
    "frontend developer": ("javascript", "typescript", "react", "css", "testing"),
    "product manager": ("roadmapping", "user research", "sql", "communication", "prioritization"),
    "ux designer": ("figma", "user research", "prototyping", "accessibility", "communication"),
    "marketing manager": ("seo", "analytics", "copywriting", "campaigns", "communication"),
}


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo else None


def _ago(now: datetime, then: datetime) -> int:
    return (now - then).days


def _ymd(at: datetime) -> str:
    """`20261122`, as f"{at:%Y%m%d}" writes it, at a third of strftime's cost: dedupe keys are
    made for millions of users a sweep."""
    return f"{at.year}{at.month:02d}{at.day:02d}"


@career.rule(
    cadence="daily",
    cooldown="12h",
    priority=90,
    category="interview",
    channels=("in_app", "email"),
)
def interview_soon(facts: Facts, now: datetime) -> Iterator[Candidate | Recheck]:
    """An interview 24–48 hours ahead: prepare for it."""
    for interview in facts.records_of("interview"):
        at = _instant(interview.props.get("at"))
        if at is None or at <= now + timedelta(hours=24):
            continue
        if at > now + timedelta(hours=48):
            yield Recheck(at - timedelta(hours=48))
            continue
        company = interview.props.get("company", "your interview")
        local = facts.local(at)
        yield Candidate(
            dedupe_key=f"interview_soon:{interview.key}:{at:%Y%m%dT%H%M}",
            title=f"Interview with {company} {local:%A at %H:%M}",
            body=f"Your {interview.props.get('role', '')} interview is in {round((at - now).total_seconds() / 3600)} hours. "
            "Review the job description and prepare three stories about your impact.".replace(
                "  ", " "
            ),
            action_label="Prepare now",
            action_url=f"/interviews/{interview.key}/prepare",
            expires_at=at,
            event_at=at,
        )


@career.rule(
    cadence="daily",
    cooldown="3d",
    priority=70,
    category="applications",
    channels=("in_app", "email"),
)
def app_rescue(facts: Facts, now: datetime) -> Iterator[Candidate | Recheck]:
    """An application with no update for more than 2 weeks: follow up."""
    stale: list[Record] = []
    fresh: list[datetime] = []
    for application in facts.records_of("application"):
        if application.props.get("status") not in ACTIVE_APPLICATION:
            continue
        if now - application.updated_at > STALE_APPLICATION:
            stale.append(application)
        else:
            fresh.append(application.updated_at + STALE_APPLICATION)
    if fresh:
        yield Recheck(min(fresh))
    if not stale:
        return
    oldest = min(stale, key=lambda a: a.updated_at)
    company = oldest.props.get("company", "a company")
    yield Candidate(
        dedupe_key=f"app_rescue:{oldest.key}:{_ymd(oldest.updated_at)}",
        title=f"Follow up with {company}?",
        body=f"Your application to {company} has had no news for {_ago(now, oldest.updated_at)} days. "
        "A short, friendly follow-up often gets it moving again.",
        action_label="Write a follow-up",
        action_url=f"/applications/{oldest.key}/follow-up",
        expires_at=now + timedelta(days=7),
        boost=min(len(stale), 5),
    )


@career.rule(
    cadence="daily", cooldown="7d", priority=55, category="resume", channels=("in_app", "email")
)
def resume_weak(facts: Facts, now: datetime) -> RuleOutput:
    """Resume score below 70: improve it."""
    resume = facts.record("resume", "main")
    score = resume.props.get("score") if resume else None
    if not isinstance(score, int | float) or score >= 70:
        return None
    return Candidate(
        dedupe_key=f"resume_weak:{score:g}",
        title=f"Your resume scores {score:g}/100",
        body="Resumes above 70 get noticeably more replies. Quantify two achievements and tighten the summary.",
        action_label="Improve my resume",
        action_url="/resume",
        expires_at=now + timedelta(days=7),
        boost=(70 - score) / 10,
    )


@career.rule(
    cadence="daily", cooldown="7d", priority=50, category="goals", channels=("in_app", "email")
)
def goal_stalled(facts: Facts, now: datetime) -> Iterator[Candidate | Recheck]:
    """A goal at 0% progress for more than 30 days."""
    stalled: list[Record] = []
    waiting: list[datetime] = []
    for goal in facts.records_of("goal"):
        if goal.props.get("progress", 0) != 0:
            continue
        if now - goal.updated_at > STALLED_GOAL:
            stalled.append(goal)
        else:
            waiting.append(goal.updated_at + STALLED_GOAL)
    if waiting:
        yield Recheck(min(waiting))
    if stalled:
        goal = min(stalled, key=lambda g: g.updated_at)
        title = goal.props.get("title", "your goal")
        yield Candidate(
            dedupe_key=f"goal_stalled:{goal.key}:{_ymd(goal.updated_at)}",
            title=f"Restart “{title}” with one small step",
            body=f"“{title}” has been at 0% for {_ago(now, goal.updated_at)} days. Pick a first step you can do in 15 minutes.",
            action_label="Plan a first step",
            action_url=f"/goals/{goal.key}",
            expires_at=now + timedelta(days=7),
        )


@career.rule(
    cadence="daily",
    cooldown="14d",
    priority=40,
    category="networking",
    channels=("in_app", "email"),
)
def networking_idle(facts: Facts, now: datetime) -> RuleOutput:
    """No networking interaction for more than 60 days."""
    last = _last_interaction(facts.records_of("contact"))
    last = max(filter(None, (last, facts.last_event("networking_interaction"))), default=None)
    if last is None:
        return None
    if now - last <= timedelta(days=60):
        return Recheck(last + timedelta(days=60))
    return Candidate(
        dedupe_key=f"networking_idle:{_ymd(last)}",
        title="Reconnect with someone in your network",
        body=f"It has been {_ago(now, last)} days since your last networking conversation. "
        "A two-line check-in with a former colleague is enough.",
        action_label="See my contacts",
        action_url="/network",
        expires_at=now + timedelta(days=14),
    )


def _last_interaction(contacts: Sequence[Record]) -> datetime | None:
    times = (_instant(c.props.get("last_interaction_at")) for c in contacts)
    return max((t for t in times if t is not None), default=None)


@career.rule(
    cadence="daily", cooldown="7d", priority=60, category="job_search", channels=("in_app", "email")
)
def job_search_stale(facts: Facts, now: datetime) -> RuleOutput:
    """No job-search activity for more than 14 days."""
    updates = (a.updated_at for a in facts.records_of("application"))
    last = max(filter(None, (facts.last_event(*JOB_SEARCH_EVENTS), *updates)), default=None)
    if last is None:
        return None
    if now - last <= timedelta(days=14):
        return Recheck(last + timedelta(days=14))
    return Candidate(
        dedupe_key=f"job_search_stale:{_ymd(last)}",
        title="Ready to pick the search back up?",
        body=f"Your last job-search activity was {_ago(now, last)} days ago. Five minutes on saved jobs keeps momentum.",
        action_label="Browse new jobs",
        action_url="/jobs",
        expires_at=now + timedelta(days=7),
    )


@career.rule(
    cadence="daily", cooldown="7d", priority=35, category="profile", channels=("in_app", "email")
)
def profile_incomplete(facts: Facts, now: datetime) -> RuleOutput:
    """Required profile fields missing."""
    traits = facts.user.traits
    missing = [f for f in PROFILE_FIELDS if not traits.get(f)]
    if not missing:
        return None
    return Candidate(
        dedupe_key=f"profile_incomplete:{'+'.join(missing)}",
        title="Complete your profile",
        body=f"Add your {', '.join(m.replace('_', ' ') for m in missing)} so recommendations fit you.",
        action_label="Complete profile",
        action_url="/profile",
        expires_at=now + timedelta(days=7),
        boost=len(missing),
    )


@career.rule(
    cadence="daily",
    cooldown="20h",
    priority=20,
    category="engagement",
    on_facts=False,
    channels=("in_app", "email"),
)
def daily_check(facts: Facts, now: datetime) -> RuleOutput:
    """A daily engagement nudge."""
    local_today = facts.local(now).date()
    return Candidate(
        dedupe_key=f"daily_check:{local_today}",
        title="Your 5-minute career check-in",
        body=_daily_tip(facts),
        action_label="Start check-in",
        action_url="/today",
        expires_at=at_local(local_today + timedelta(days=1), time(0), facts.user.timezone),
    )


def _daily_tip(facts: Facts) -> str:
    if facts.records_of("interview"):
        return "Spend five minutes on a story for your next interview."
    if any(a.props.get("status") in ACTIVE_APPLICATION for a in facts.records_of("application")):
        return "Check on your open applications and note any replies."
    return "Save one job that excites you and note why."


@career.rule(
    cadence="weekly",
    cooldown="6d",
    priority=30,
    category="review",
    on_facts=False,
    channels=("in_app", "email"),
)
def weekly_review(facts: Facts, now: datetime) -> RuleOutput:
    """A weekly progress summary."""
    week = facts.local(now).date().isocalendar()
    counts = {name: stats.last_7_days for name, stats in facts.events.items() if stats.last_7_days}
    applied = counts.get("application_submitted", 0)
    interviews = counts.get("interview_scheduled", 0)
    summary = f"This week: {applied} application{'s' * (applied != 1)}, {interviews} interview{'s' * (interviews != 1)} scheduled"
    return Candidate(
        dedupe_key=f"weekly_review:{week.year}-W{week.week:02d}",
        title="Your week in review",
        body=f"{summary}, {sum(counts.values())} actions in all. Set one goal for next week.",
        action_label="See my week",
        action_url="/review/weekly",
        expires_at=now + timedelta(days=3),
        data={"counts": counts},
    )


@career.rule(
    cadence="daily", cooldown="14d", priority=45, category="skills", channels=("in_app", "email")
)
def skill_gap(facts: Facts, now: datetime) -> RuleOutput:
    """Skills that the user's target role asks for and the user lacks."""
    role, wanted = _target_role(facts)
    if not wanted:
        return None
    have = {s.lower() for s in _skills(facts)}
    missing = sorted(s for s in wanted if s.lower() not in have)
    if not missing:
        return None
    shown = ", ".join(missing[:3])
    return Candidate(
        dedupe_key=f"skill_gap:{role}:{'+'.join(missing)}",
        title=f"{len(missing)} skill{'s' * (len(missing) != 1)} to reach {role}",
        body=f"{role.title()} roles usually ask for {shown}. A short course on {missing[0]} is a good start.",
        action_label="Find a course",
        action_url=f"/skills?learn={missing[0].replace(' ', '+')}",
        expires_at=now + timedelta(days=14),
        boost=min(len(missing), 5),
    )


def _target_role(facts: Facts) -> tuple[str, Sequence[str]]:
    record = facts.record("target_role", "main")
    if record is not None:
        skills = record.props.get("skills") or ROLE_SKILLS.get(
            str(record.props.get("title", "")).lower(), ()
        )
        return str(record.props.get("title", "target role")).lower(), list(skills)
    role = str(facts.user.traits.get("target_role") or "").lower()
    return role, ROLE_SKILLS.get(role, ())


def _skills(facts: Facts) -> Iterator[str]:
    traits = facts.user.traits.get("skills") or []
    yield from (str(s) for s in traits) if isinstance(traits, list) else ()
    yield from (r.key.replace("_", " ") for r in facts.records_of("skill"))
