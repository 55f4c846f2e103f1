"""The agenda playbook: meetings the user mentioned (records of kind `meeting`, written by
`engine.agenda.receive`) get a preparation reminder before they start, a "how did it go?"
after they end, and — when no end was given — a follow-up the next time the user writes
after the start plus FOLLOW_UP_AFTER.

Reminders go back to the channel where the meeting was mentioned and nowhere else, are not
proactive (the user asked for them: no preferred window, no "proactive off"), and do not
count toward the daily cap. Quiet hours still apply.

`agenda` reminds 30 minutes ahead; `agenda_playbook(lead=timedelta(minutes=10))` makes one
with another lead time, to list in the `playbooks` setting instead. `lead_time(engine.rules)`
says which lead is in force, for whoever promises the reminder (the Telegram bot's replies).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from nudgeflow.agenda.schedule import KIND, Entry
from nudgeflow.rules import Candidate, Facts, Playbook, Recheck, Rule

FOLLOW_UP_AFTER = timedelta(minutes=15)  # past the start, when no end was given
ASK_WITHIN = timedelta(hours=12)  # after the end (or the start), a question still makes sense
CHANNELS = ("in_app", "telegram", "email")
MESSAGE_EVENT = "message"


def agenda_playbook(lead: timedelta = timedelta(minutes=30)) -> Playbook:
    book = Playbook("agenda", "Meetings from conversation: prepare, then how did it go.")
    settings = {"cadence": "on_facts", "cooldown": timedelta(0), "category": "agenda",
                "channels": CHANNELS, "counts_toward_cap": False, "proactive": False}  # fmt: skip

    book.rule(name="meeting_prep", priority=95, **settings)(Prepare(lead))  # type: ignore[arg-type]

    @book.rule(priority=80, **settings)  # type: ignore[arg-type]
    def meeting_done(facts: Facts, now: datetime) -> Iterator[Candidate | Recheck]:
        """A meeting with a known end is over: how did it go?"""
        for entry in _meetings(facts):
            if entry.end is None or now >= entry.end + ASK_WITHIN:
                continue
            if now < entry.end:
                yield Recheck(entry.end)
                continue
            yield _how_did_it_go(entry, "done")

    @book.rule(priority=80, **settings)  # type: ignore[arg-type]
    def meeting_follow_up(facts: Facts, now: datetime) -> Iterator[Candidate]:
        """No end was given: the next time the user writes after the start plus 15 minutes."""
        wrote = facts.last_event(MESSAGE_EVENT)
        if wrote is None:
            return
        for entry in _meetings(facts):
            due = entry.start + FOLLOW_UP_AFTER
            if entry.end is None and due <= wrote and now < entry.start + ASK_WITHIN:
                yield _how_did_it_go(entry, "followup")

    return book


@dataclass(frozen=True)
class Prepare:
    """A meeting starts within the lead time: a reminder to prepare."""

    lead: timedelta

    def __call__(self, facts: Facts, now: datetime) -> Iterator[Candidate | Recheck]:
        for entry in _meetings(facts):
            if entry.start <= now:
                continue
            if now < entry.start - self.lead:
                yield Recheck(entry.start - self.lead)
                continue
            minutes = max(1, round((entry.start - now).total_seconds() / 60))
            yield Candidate(
                dedupe_key=f"prep:{entry.id}:{entry.start:%Y%m%dT%H%M}",
                title=f"{_capital(entry.title)} at {facts.local(entry.start):%H:%M}",
                body=f"Starts in {minutes} minutes. Anything you want to prepare?",
                expires_at=entry.start,
                event_at=entry.start,
                channels=(entry.channel,),
                data={"meeting": entry.id},
            )


def lead_time(rules: Iterable[Rule]) -> timedelta | None:
    """How long before a meeting its preparation reminder comes, among `rules`; None when no
    rule reminds (the agenda is not configured, or meeting_prep is disabled)."""
    for rule in rules:
        if isinstance(rule.function, Prepare):
            return rule.function.lead
    return None


def _meetings(facts: Facts) -> Iterator[Entry]:
    for record in facts.records_of(KIND):
        entry = Entry.from_props(record.key, dict(record.props))
        if entry.status == "scheduled":
            yield entry


def _how_did_it_go(entry: Entry, kind: str) -> Candidate:
    return Candidate(
        dedupe_key=f"{kind}:{entry.id}:{entry.start:%Y%m%dT%H%M}",
        title=f"How did {entry.title} go?",
        body="A line or two now helps you remember what matters.",
        action_label="Note it",
        expires_at=entry.start + ASK_WITHIN + timedelta(hours=12),
        channels=(entry.channel,),
        data={"meeting": entry.id},
    )


def _capital(title: str) -> str:
    return title[:1].upper() + title[1:]


agenda = agenda_playbook()
