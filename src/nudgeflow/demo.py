"""A realistic, deterministic career population for the quick start, tests and benchmarks.

The same seed and start time give the same users and facts: plans, organisations, timezones
around the world, applications, interviews, goals, resumes, contacts and activity.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nudgeflow.playbooks.career import ROLE_SKILLS

ZONES = (
    "America/Los_Angeles", "America/Chicago", "America/New_York", "America/Sao_Paulo",
    "Europe/London", "Europe/Berlin", "Africa/Lagos", "Asia/Kolkata", "Asia/Singapore",
    "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland",
)  # fmt: skip
PLANS = (("free", 55), ("premium", 25), ("university", 12), ("pro", 8))
ORGS = ("uni-north", "uni-south")
COMPANIES = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Soylent",
    "Cyberdyne",
)
ACTIVITY = ("login", "job_search", "job_saved", "application_submitted", "interview_scheduled")
PREFIX = "demo-"


@dataclass(frozen=True, slots=True)
class DemoUser:
    user: dict[str, Any]
    records: list[dict[str, Any]]
    events: list[dict[str, Any]]


def population(count: int, *, seed: int, now: datetime) -> Iterator[DemoUser]:
    for index in range(count):
        yield demo_user(index, seed=seed, now=now)


def demo_user(index: int, *, seed: int, now: datetime) -> DemoUser:
    rng = random.Random(f"{seed}:{index}")
    uid = f"{PREFIX}{index:04d}"
    plan = rng.choices([p for p, _ in PLANS], [w for _, w in PLANS])[0]
    role = rng.choice(sorted(ROLE_SKILLS))
    user: dict[str, Any] = {
        "id": uid,
        "plan": plan,
        "org": rng.choice(ORGS) if plan == "university" else None,
        "role": "admin" if index % 50 == 0 else "user",
        "timezone": rng.choice(ZONES),
        "locale": "en",
        "traits": _traits(rng, role),
        "addresses": _addresses(rng, uid),
    }
    prefs = _preferences(rng)
    if prefs:
        user["preferences"] = prefs
    return DemoUser(user, _records(rng, uid, role, now), _events(rng, uid, now))


def _traits(rng: random.Random, role: str) -> dict[str, Any]:
    traits: dict[str, Any] = {}
    if rng.random() < 0.7:
        traits["headline"] = f"Aspiring {role}"
    if rng.random() < 0.8:
        traits["location"] = rng.choice(("Remote", "Berlin", "Lagos", "Austin", "Pune", "Sydney"))
    if rng.random() < 0.85:
        traits["target_role"] = role
    traits["skills"] = rng.sample(ROLE_SKILLS[role], rng.randint(0, 4))
    return traits


def _addresses(rng: random.Random, uid: str) -> dict[str, str]:
    addresses = {"email": f"{uid}@example.com"} if rng.random() < 0.9 else {}
    if rng.random() < 0.2:
        addresses["telegram"] = str(rng.randint(10**8, 10**9))
    return addresses


def _preferences(rng: random.Random) -> dict[str, Any] | None:
    roll = rng.random()
    if roll < 0.03:
        return {"agent": False}
    if roll < 0.08:
        return {"proactive": False}
    if roll < 0.18:
        return {
            "quiet_hours": rng.choice(
                ({"start": "23:00", "end": "06:00"}, {"start": "20:00", "end": "09:00"})
            )
        }
    if roll < 0.28:
        return {"window": rng.choice(("morning", "afternoon", "evening"))}
    return None


def _ago(rng: random.Random, now: datetime, low: float, high: float) -> datetime:
    return now - timedelta(days=rng.uniform(low, high))


def _records(rng: random.Random, uid: str, role: str, now: datetime) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(kind: str, key: str, props: dict[str, Any], updated_at: datetime) -> None:
        out.append(
            {
                "user_id": uid,
                "kind": kind,
                "key": key,
                "props": props,
                "updated_at": updated_at.isoformat(),
            }
        )

    if rng.random() < 0.85:
        add("resume", "main", {"score": rng.randint(35, 95)}, _ago(rng, now, 0, 90))
    for n in range(rng.randint(0, 6)):
        status = rng.choice(("applied", "applied", "interviewing", "rejected", "offer"))
        add(
            "application",
            f"app{n}",
            {"company": rng.choice(COMPANIES), "role": role, "status": status},
            _ago(rng, now, 0, 40),
        )
    if rng.random() < 0.2:
        at = now + timedelta(hours=rng.uniform(6, 96))
        add(
            "interview",
            "int0",
            {"at": at.isoformat(), "company": rng.choice(COMPANIES), "role": role},
            _ago(rng, now, 0, 5),
        )
    for n in range(rng.randint(0, 3)):
        progress = 0 if rng.random() < 0.4 else rng.randint(10, 90)
        add(
            "goal",
            f"goal{n}",
            {
                "title": rng.choice(("Apply to 5 jobs", "Learn SQL", "Update LinkedIn")),
                "progress": progress,
            },
            _ago(rng, now, 0, 60),
        )
    for n in range(rng.randint(0, 5)):
        last = _ago(rng, now, 1, 120)
        add(
            "contact",
            f"c{n}",
            {"name": f"Contact {n}", "last_interaction_at": last.isoformat()},
            last,
        )
    return out


def _events(rng: random.Random, uid: str, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{uid}-e{n}",
            "user_id": uid,
            "name": rng.choice(ACTIVITY),
            "at": _ago(rng, now, 0, 30).isoformat(),
        }
        for n in range(rng.randint(0, 8))
    ]
