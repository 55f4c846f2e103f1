"""Why did (or didn't) this user get that nudge? Every rule's candidates and every decision
with its full trace, plus the user's recent nudges, cooldowns and cap use. No side effects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nudgeflow.evaluation import RuleRun
from nudgeflow.localtime import local_day
from nudgeflow.policy import Decision, UserContext


@dataclass(frozen=True, slots=True)
class Explanation:
    at: datetime
    context: UserContext
    runs: list[RuleRun]
    decisions: list[Decision]
    next_check: datetime
    recent: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        ctx = self.context
        user = ctx.user
        today = local_day(self.at, user.timezone)
        by_rule: dict[str, list[Decision]] = {}
        for decision in self.decisions:
            by_rule.setdefault(decision.rule.name, []).append(decision)
        return {
            "user_id": user.id,
            "at": self.at.isoformat(),
            "local_time": self.at.astimezone(user.timezone).isoformat(),
            "timezone": user.timezone.key,
            "plan": user.plan,
            "cap": {
                "day": today.isoformat(),
                "used": ctx.history.cap_used.get(today, 0),
                "limit": ctx.daily_limit,
            },
            "cooldowns": {
                run.rule.name: (last + run.rule.cooldown).isoformat()
                for run in self.runs
                if (last := ctx.history.last_fired.get(run.rule.name))
                and last + run.rule.cooldown > self.at
            },
            "next_check": self.next_check.isoformat(),
            "rules": [
                {
                    "rule": run.rule.name,
                    "playbook": run.rule.playbook,
                    "due": run.due,
                    "why": run.why,
                    "error": run.error,
                    "rechecks": [at.isoformat() for at in run.rechecks],
                    "decisions": [_decision(d) for d in by_rule.get(run.rule.name, [])],
                }
                for run in self.runs
            ],
            "recent_nudges": [
                {
                    k: (v.isoformat() if isinstance(v, datetime) else v)
                    for k, v in n.items()
                    if k
                    in ("id", "rule", "status", "reason", "created_at", "deliver_at", "dedupe_key")
                }
                for n in self.recent
            ],
        }

    def render(self) -> str:
        """A plain-text report for the terminal."""
        data = self.as_dict()
        cap = data["cap"]
        lines = [
            f"{data['user_id']} at {data['local_time']} ({data['timezone']}), plan {data['plan']}",
            f"daily cap {cap['used']}/{cap['limit']} on {cap['day']}; next check {data['next_check']}",
        ]
        for rule, until in data["cooldowns"].items():
            lines.append(f"cooldown {rule} until {until}")
        for run in data["rules"]:
            state = "due" if run["due"] else "not due"
            lines.append(f"\n● {run['rule']} ({state}: {run['why']})")
            if run["error"]:
                lines.append(f"    error: {run['error']}")
            if not run["decisions"] and not run["error"]:
                lines.append("    no candidate")
            for decision in run["decisions"]:
                lines.append(
                    f"    {decision['dedupe_key']}: {decision['outcome'].upper()} (score {decision['score']})"
                )
                lines.extend(f"      {step}" for step in decision["trace"])
        if data["recent_nudges"]:
            lines.append("\nrecent nudges:")
            lines.extend(
                f"  {n['id']} {n['rule']} {n['status']} — {n['reason']}"
                for n in data["recent_nudges"]
            )
        return "\n".join(lines)


def _decision(decision: Decision) -> dict[str, Any]:
    return {
        "dedupe_key": decision.candidate.dedupe_key,
        "title": decision.candidate.title,
        "outcome": decision.outcome,
        "score": decision.score,
        "deliver_at": decision.deliver_at.isoformat() if decision.deliver_at else None,
        "channel": decision.channel,
        "reason": decision.reason,
        "trace": [str(step) for step in decision.trace],
    }
