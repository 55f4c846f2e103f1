"""The template generator: the default, no network. One Jinja2 file per message type and
locale, `templates/coaching/<locale>/<message_type>.j2`, with a `push` block (the short text
of a notification) and a `body` block (the message). Locales fall back from `pt-BR` to `pt`
to `en`. Templates render in a sandbox: a template edited by an operator cannot reach Python.

The type is chosen deterministically from a seed, the user and their local date, avoiding the
types of their last few messages, so the same inputs give the same message."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from nudgeflow.coaching.base import MESSAGE_TYPES, Attempt, Context, Draft, Generation
from nudgeflow.errors import InvalidInput

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "coaching"
DEFAULT_LOCALE = "en"
VARIANTS = 3  # each template offers this many wordings, picked by `variant`
AVOID_RECENT = 3  # the types of this many last messages are not repeated
PERIODS = {"daily": "today", "several_per_week": "these last few days", "weekly": "this week"}
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class Choice:
    message_type: str
    variant: int


def choose(context: Context, seed: int = 0) -> Choice:
    """The message type and wording for this user today: the type a rule asked for, else a
    hash of the seed, user and local date over the types that fit and were not sent lately."""
    digest = hashlib.sha256(
        f"{seed}:{context.user_id}:{context.local_time.date()}".encode()
    ).digest()
    number = int.from_bytes(digest[:8], "big")
    variant = number // len(MESSAGE_TYPES) % VARIANTS
    if context.message_type is not None:
        return Choice(_known_type(context.message_type), variant)
    fitting = [t for t in MESSAGE_TYPES if t != "personal_insight" or context.insights]
    fresh = [t for t in fitting if t not in context.recent_types[:AVOID_RECENT]] or fitting
    return Choice(fresh[number % len(fresh)], variant)


def locales_to_try(locale: str) -> list[str]:
    """`pt_BR` → `pt-br`, `pt`, `en`: most specific first, English last."""
    tag = locale.strip().replace("_", "-").lower()
    tried = [tag, tag.split("-")[0], DEFAULT_LOCALE]
    return [name for index, name in enumerate(tried) if name and name not in tried[:index]]


class TemplateGenerator:
    name = "template"

    def __init__(self, directory: Path = TEMPLATE_DIR, *, seed: int = 0) -> None:
        self._seed = seed
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader(directory),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            autoescape=False,  # plain text; each channel escapes for its own format
        )

    async def generate(self, context: Context) -> Generation:
        return Generation(context.user_id, (self.attempt(context),))

    def attempt(
        self, context: Context, *, number: int = 1, failure_reason: str | None = None
    ) -> Attempt:
        """A template message, marked to send: what the LLM path falls back to as well."""
        draft = self.draft(context)
        return Attempt(
            number=number,
            generator=self.name,
            message_type=draft.message_type,
            content=draft.content,
            push_text=draft.push_text,
            context=context.as_record(),
            failure_reason=failure_reason,
            sent=True,
            final=True,
        )

    def draft(self, context: Context) -> Draft:
        choice = choose(context, self._seed)
        template = self._template(context.locale, choice.message_type)
        values = template_values(context, choice.variant)
        return Draft(
            message_type=choice.message_type,
            content=_tidy(_render_block(template, "body", values)),
            push_text=" ".join(_render_block(template, "push", values).split()),
        )

    def _template(self, locale: str, message_type: str) -> Template:
        for name in locales_to_try(locale):
            try:
                return self._env.get_template(f"{name}/{message_type}.j2")
            except TemplateNotFound:
                continue
        raise TemplateNotFound(f"{DEFAULT_LOCALE}/{message_type}.j2")


def template_values(context: Context, variant: int) -> dict[str, Any]:
    """What a template may use; every name is always present (StrictUndefined catches typos)."""
    latest = max(context.entries, key=lambda entry: entry.at, default=None)
    preferences = context.preferences
    return {
        "name": context.name,
        "variant": variant,
        "part_of_day": _part_of_day(context.local_time.hour),
        "period": PERIODS.get(context.frequency, "lately"),
        "latest_entry": None if latest is None else _shorten(latest.text, 140),
        "insight": context.insights[0] if context.insights else None,
        "goal": preferences.get("goal") or preferences.get("focus"),
        "weekday": context.local_time.strftime("%A"),
    }


def _render_block(template: Template, block: str, values: dict[str, Any]) -> str:
    return "".join(template.blocks[block](template.new_context(values)))


def _known_type(message_type: str) -> str:
    if message_type not in MESSAGE_TYPES:
        raise InvalidInput(
            "message_type", f"unknown message type {message_type!r}; one of {MESSAGE_TYPES}"
        )
    return message_type


def _part_of_day(hour: int) -> str:
    if hour < 12:
        return "morning"
    return "afternoon" if hour < 18 else "evening"


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines))
