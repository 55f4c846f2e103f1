"""Template messages: every type renders in decent English from whatever context there is,
the choice of type is deterministic and varied, locales fall back to English, and templates
run in a sandbox."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError

from nudgeflow.coaching.base import MESSAGE_TYPES, Context, Entry
from nudgeflow.coaching.templates import VARIANTS, TemplateGenerator, choose, locales_to_try
from nudgeflow.errors import InvalidInput
from nudgeflow.localtime import zone
from nudgeflow.store.schema import generation_attempts

MONDAY_MORNING = datetime(2026, 11, 23, 8, 30, tzinfo=zone("Europe/Berlin"))
BARE = Context("ana", "en", MONDAY_MORNING, "weekly")
FULL = Context(
    "ana",
    "en",
    MONDAY_MORNING,
    "daily",
    entries=(
        Entry(datetime(2026, 11, 20, tzinfo=UTC), "An older note."),
        Entry(
            datetime(2026, 11, 22, tzinfo=UTC), "Sent two applications and liked my cover letter."
        ),
    ),
    insights=("You write most on Sunday evenings.",),
    preferences={"goal": "a product design role"},
    name="Ana",
)


def contexts_for_every_wording(base: Context, message_type: str) -> list[Context]:
    """Contexts that between them reach each of a template's wordings."""
    found: dict[int, Context] = {}
    for day in range(60):
        context = replace(
            base, message_type=message_type, local_time=base.local_time + timedelta(days=day)
        )
        found.setdefault(choose(context).variant, context)
    assert len(found) == VARIANTS
    return list(found.values())


@pytest.mark.parametrize("message_type", MESSAGE_TYPES)
@pytest.mark.parametrize("base", [BARE, FULL], ids=["bare", "full"])
def test_every_type_renders_every_wording_cleanly(message_type: str, base: Context) -> None:
    generator = TemplateGenerator()
    for context in contexts_for_every_wording(base, message_type):
        draft = generator.draft(context)
        assert draft.message_type == message_type
        assert 20 <= len(draft.content) <= 600
        assert 5 <= len(draft.push_text) <= 80
        for text in (draft.content, draft.push_text):
            assert "None" not in text
            assert "{" not in text
            assert "  " not in text
        assert "\n\n\n" not in draft.content
        if base is BARE:
            assert "Ana" not in draft.content


def test_the_users_own_words_and_goal_appear_when_known() -> None:
    generator = TemplateGenerator()
    texts = " ".join(
        generator.draft(context).content
        for message_type in MESSAGE_TYPES
        for context in contexts_for_every_wording(FULL, message_type)
    )
    assert "Sent two applications and liked my cover letter." in texts  # the newest entry
    assert "An older note." not in texts
    assert "a product design role" in texts
    assert "You write most on Sunday evenings." in texts


def test_a_template_attempt_is_marked_to_send_with_its_context() -> None:
    generation = asyncio.run(TemplateGenerator().generate(FULL))
    (attempt,) = generation.attempts
    assert generation.chosen is attempt
    assert (attempt.number, attempt.generator, attempt.sent, attempt.final) == (
        1,
        "template",
        True,
        True,
    )
    assert attempt.usage.tokens_in == 0
    assert attempt.usage.cost == 0.0
    assert attempt.context["entries"][1]["text"].startswith("Sent two applications")


def test_an_attempt_row_has_the_columns_of_generation_attempts() -> None:
    row = asyncio.run(TemplateGenerator().generate(FULL)).attempts[0].as_row()
    stored_elsewhere = {"id", "nudge_id", "user_id", "at", "host_ref"}
    assert set(row) == {column.name for column in generation_attempts.columns} - stored_elsewhere


# Choosing the type.


def test_the_choice_is_deterministic_for_a_seed_user_and_day() -> None:
    assert choose(FULL) == choose(FULL)
    assert TemplateGenerator(seed=3).draft(FULL) == TemplateGenerator(seed=3).draft(FULL)


def test_over_a_month_every_type_comes_up() -> None:
    seen = {
        choose(replace(FULL, local_time=MONDAY_MORNING + timedelta(days=day))).message_type
        for day in range(30)
    }
    assert seen == set(MESSAGE_TYPES)


def test_recent_types_are_not_repeated() -> None:
    for day in range(30):
        context = replace(FULL, local_time=MONDAY_MORNING + timedelta(days=day))
        recent = (choose(context).message_type, "check_in", "challenge")
        again = choose(replace(context, recent_types=recent))
        assert again.message_type not in recent


def test_a_personal_insight_needs_an_insight() -> None:
    for day in range(60):
        context = replace(BARE, local_time=MONDAY_MORNING + timedelta(days=day))
        assert choose(context).message_type != "personal_insight"


def test_a_type_a_rule_asks_for_is_honoured_and_an_unknown_one_refused() -> None:
    assert choose(replace(BARE, message_type="reminder")).message_type == "reminder"
    with pytest.raises(InvalidInput, match="unknown message type 'pep_talk'"):
        choose(replace(BARE, message_type="pep_talk"))


# Locales and the sandbox.


@pytest.mark.parametrize(
    ("locale", "tried"),
    [
        ("en", ["en"]),
        ("pt_BR", ["pt-br", "pt", "en"]),
        ("de-AT", ["de-at", "de", "en"]),
        ("fr", ["fr", "en"]),
    ],
)
def test_locales_fall_back_to_the_language_then_english(locale: str, tried: list[str]) -> None:
    assert locales_to_try(locale) == tried


def write_template(directory: Path, path: str, text: str) -> None:
    (directory / path).parent.mkdir(parents=True, exist_ok=True)
    (directory / path).write_text(text)


def test_a_locales_own_template_wins_and_missing_ones_fall_back_to_english(tmp_path: Path) -> None:
    write_template(
        tmp_path,
        "fr/check_in.j2",
        "{% block push %}Ça va ?{% endblock %}{% block body %}Bonjour {{ name }} !{% endblock %}",
    )
    write_template(
        tmp_path,
        "en/check_in.j2",
        "{% block push %}Hi{% endblock %}{% block body %}Hello{% endblock %}",
    )
    write_template(
        tmp_path,
        "en/reminder.j2",
        "{% block push %}Psst{% endblock %}{% block body %}Remember{% endblock %}",
    )
    generator = TemplateGenerator(tmp_path)
    french = replace(FULL, locale="fr_CA")
    assert generator.draft(replace(french, message_type="check_in")).content == "Bonjour Ana !"
    assert generator.draft(replace(french, message_type="reminder")).push_text == "Psst"


def test_templates_cannot_reach_python(tmp_path: Path) -> None:
    write_template(
        tmp_path,
        "en/check_in.j2",
        "{% block push %}x{% endblock %}{% block body %}{{ name.__class__.__mro__[1].__subclasses__() }}{% endblock %}",
    )
    with pytest.raises(SecurityError):
        TemplateGenerator(tmp_path).draft(replace(FULL, message_type="check_in"))


def test_a_context_needs_an_aware_local_time() -> None:
    with pytest.raises(ValueError, match="must be aware"):
        Context("ana", "en", datetime(2026, 11, 23, 9), "daily")


def test_templates_the_llm_generator_and_the_stage_load_without_the_llm_sdks() -> None:
    # The SDKs are an optional extra: only `clients` (through `settings.client_for`) needs them.
    code = (
        "import sys\n"
        "import nudgeflow.coaching.llm, nudgeflow.coaching.settings, nudgeflow.coaching.stage\n"
        "import nudgeflow.coaching.cadence, nudgeflow.coaching.templates\n"
        "print(sorted({'openai', 'anthropic'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
