"""The prompts of the LLM path, built from a `Context`: draft, rate, revise. Each asks for
one JSON object; `DRAFT_SCHEMA` and `RATING_SCHEMA` describe it for providers with structured
output (strict mode: every field required, nothing else allowed)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from nudgeflow.coaching.base import MESSAGE_TYPES, Context, Draft, Prompt, Rating

MAX_ENTRIES = 8  # the newest entries only: older ones add tokens more than meaning
MAX_ENTRY_CHARS = 400
MAX_INSIGHTS = 5

TYPE_GUIDE = {
    "check_in": "a light, open question about how things are going",
    "encouragement": "recognise their effort or progress, specifically",
    "challenge": "one small, concrete stretch they can do soon",
    "reminder": "a gentle nudge back to a habit or goal they care about, never a scolding",
    "alignment_reflection": "are their days lined up with what they say matters to them?",
    "general_reflection": "an open question worth thinking about, no task attached",
    "personal_insight": "reflect back a pattern from their own entries or insights",
    "relevant_lesson": "one short, practical idea that fits their situation",
}

DRAFT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message_type": {"type": "string", "enum": list(MESSAGE_TYPES)},
        "content": {"type": "string", "description": "the message, at most 90 words"},
        "push_text": {"type": "string", "description": "notification text, at most 80 chars"},
    },
    "required": ["message_type", "content", "push_text"],
    "additionalProperties": False,
}

RATING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rating": {"type": "integer", "description": "likely effectiveness, 1 to 10"},
        "recommendation": {"type": "string", "enum": ["SEND", "SKIP", "REVISE"]},
        "reason": {"type": "string", "description": "one or two sentences"},
    },
    "required": ["rating", "recommendation", "reason"],
    "additionalProperties": False,
}

DRAFT_SYSTEM = """You write one short, proactive coaching message for a user of a coaching or journaling app.
Choose the one message type that fits this user best right now:
{types}
Rules:
- Write in the user's language (locale {locale}). Speak to them directly, warmly and specifically.
- At most 90 words. Use their own words or insights when it helps; never invent facts about them.
- No medical, legal or financial advice. No emojis. Do not repeat the types they received lately.
- push_text is what a lock screen shows: at most 80 characters, makes them want to open it.
Reply with one JSON object and nothing else: {{"message_type": "...", "content": "...", "push_text": "..."}}"""

RATING_SYSTEM = """You review a coaching message before it is sent to a user.
Rate from 1 to 10 how likely it is to help this user right now: is it specific to them, kind,
accurate about what they wrote, short enough, and worth interrupting their day for?
Recommend SEND when it is ready, REVISE when changes would make it good (say which),
SKIP when it should not be sent at all (generic, repetitive, insensitive, or wrong about them).
Reply with one JSON object and nothing else: {"rating": 7, "recommendation": "SEND", "reason": "..."}"""


def trimmed(context: Context) -> Context:
    """The part of the context a prompt uses (and the attempt records): newest entries,
    shortened, and the first insights."""
    entries = sorted(context.entries, key=lambda entry: entry.at, reverse=True)[:MAX_ENTRIES]
    return replace(
        context,
        entries=tuple(replace(e, text=_shorten(e.text, MAX_ENTRY_CHARS)) for e in entries),
        insights=context.insights[:MAX_INSIGHTS],
    )


def draft_prompt(context: Context) -> Prompt:
    return Prompt(_draft_system(context), describe(context), "coaching_message", DRAFT_SCHEMA)


def rating_prompt(context: Context, draft: Draft) -> Prompt:
    user = f"{describe(context)}\n\nThe message to review:\n{_draft_json(draft)}"
    return Prompt(RATING_SYSTEM, user, "message_review", RATING_SCHEMA)


def revision_prompt(context: Context, draft: Draft, rating: Rating) -> Prompt:
    user = (
        f"{describe(context)}\n\nYour previous draft:\n{_draft_json(draft)}\n\n"
        f"A reviewer rated it {rating.score}/10 and said: {rating.reason or 'revise it'}\n"
        "Write an improved message that addresses this."
    )
    return Prompt(_draft_system(context), user, "coaching_message", DRAFT_SCHEMA)


def describe(context: Context) -> str:
    """The user as the model sees them: plain text, one fact a line."""
    local = context.local_time
    lines = [
        f"Local time: {local:%A %Y-%m-%d %H:%M}",
        f"Messages arrive: {context.frequency.replace('_', ' ')}",
    ]
    if context.name:
        lines.append(f"Name: {context.name}")
    lines += [f"Preference {key}: {value}" for key, value in context.preferences.items()]
    if context.message_type:
        lines.append(f"Write this type: {context.message_type}")
    if context.recent_types:
        lines.append(f"Types received lately, newest first: {', '.join(context.recent_types)}")
    lines += _section("Insights about them", [f"- {insight}" for insight in context.insights])
    lines += _section(
        "Their recent entries, newest first",
        [f"- {e.at:%Y-%m-%d} ({e.kind}): {e.text}" for e in context.entries],
    )
    return "\n".join(lines)


def _draft_system(context: Context) -> str:
    types = "\n".join(f"- {name}: {TYPE_GUIDE[name]}" for name in MESSAGE_TYPES)
    return DRAFT_SYSTEM.format(types=types, locale=context.locale)


def _section(title: str, lines: list[str]) -> list[str]:
    return [f"{title}:", *lines] if lines else []


def _draft_json(draft: Draft) -> str:
    return json.dumps(
        {
            "message_type": draft.message_type,
            "content": draft.content,
            "push_text": draft.push_text,
        },
        ensure_ascii=False,
    )


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
