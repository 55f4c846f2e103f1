"""The coaching playbook: a message at the frequency the user chose, inside their preferred
local window, written by a generator (templates unless a rule override says `llm`).

The rule only decides *when*: it proposes one candidate per due slot, and the generation stage
writes the text before the delivery may go (`nudgeflow.generation`). Users turn coaching on by
setting `preferences.frequency` (`daily`, `several_per_week`, `weekly`) and optionally
`preferences.window` (`morning`, `afternoon`, `evening`; morning by default).

Coaching messages are what the user asked for, so they do not count toward the daily cap of
proactive nudges; they are still proactive (the agent or proactive switch off stops them) and
keep quiet hours.
"""

from __future__ import annotations

from datetime import datetime

from nudgeflow.coaching.schedule import KEY, KIND, Schedule, current_slot
from nudgeflow.rules import Candidate, Facts, Playbook, Recheck, RuleOutput

coaching = Playbook("coaching", "Coaching messages at the user's frequency, in their window.")

TITLE = "A message from your coach"  # until the generator writes the push text
CHANNELS = ("webhook", "telegram", "email", "in_app")  # the host app's journal first


@coaching.rule(cadence="on_facts", cooldown="1h", priority=70, category="coaching",
               channels=CHANNELS, counts_toward_cap=False, generator="template")  # fmt: skip
def coaching_message(facts: Facts, now: datetime) -> RuleOutput:
    """The user's coaching message is due in their window."""
    record = facts.record(KIND, KEY)
    if record is None:
        return None  # coaching is off
    schedule = Schedule.from_props(record.props)
    due = current_slot(schedule, facts.user.timezone.key, now)
    if due > now:
        return Recheck(due)
    return Candidate(
        dedupe_key=f"coaching:{due:%Y%m%dT%H%M%S}",
        title=TITLE,
        body="",
        expires_at=due + schedule.period,
        data={"coaching": {"due": due.isoformat(), **schedule.as_props()}},
    )
