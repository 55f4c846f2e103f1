"""The docs stay true: the playbook example runs and does what docs/playbooks.md says, and
every `nudgeflow ...` command that docs/cli.md mentions exists."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest

from nudgeflow.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "journaling_playbook.py"
CLI_DOC = ROOT / "docs" / "cli.md"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("journaling_playbook", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No nudgeflow.toml and no NUDGEFLOW_* variables from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("NUDGEFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_journaling_example_makes_the_nudges_the_docs_describe(clean_env: Path) -> None:
    lines: list[str] = []

    made = _example().run(f"sqlite:///{clean_env / 'journal.db'}", echo=lines.append)

    assert {(n["user_id"], n["rule"], n["status"]) for n in made} == {
        ("alice", "weekly_reflection", "delivered"),
        ("alice", "streak_at_risk", "accepted"),
        ("bob", "gratitude_prompt", "delivered"),
        ("bob", "weekly_reflection", "delivered"),
        ("carol", "weekly_reflection", "suppressed"),
        ("carol", "streak_at_risk", "suppressed"),
    }
    streak = next(n for n in made if n["rule"] == "streak_at_risk" and n["user_id"] == "alice")
    assert streak["title"] == "Keep your 12-day streak going"
    assert streak["dedupe_key"] == "streak_at_risk:2026-11-22"
    carol = [n for n in made if n["user_id"] == "carol"]
    assert {n["reason"] for n in carol} == {"preferences: the user switched proactive nudges off"}
    text = "\n".join(lines)
    assert "Sun 18:00 UTC  alice  streak_at_risk     scheduled  timing: deliver now" in text
    assert "cooldown: suppress — last fired 2026-11-22 17:00 UTC; 6 d cooldown" in text


def test_the_example_runs_as_a_script() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUDGEFLOW_")}

    done = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT / "examples",
        env=env,
    )

    assert done.returncode == 0, done.stderr
    assert "bob    gratitude_prompt   delivered  One good thing?" in done.stdout
    assert "alice  streak_at_risk     accepted   Keep your 12-day streak going" in done.stdout
    assert "rule_error" not in done.stdout + done.stderr


# `nudgeflow db upgrade`, `.venv/bin/nudgeflow sweep --at ...`: a command, then a subcommand.
_MENTION = re.compile(r"(?:^|[\s`/$(])nudgeflow((?: [a-z][a-z0-9_-]*){1,2})")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_INLINE = re.compile(r"`([^`\n]+)`")


def _mentioned_commands(markdown: str) -> set[tuple[str, ...]]:
    code: list[str] = _FENCE.findall(markdown)
    code += _INLINE.findall(_FENCE.sub("", markdown))
    found: set[tuple[str, ...]] = set()
    for snippet in code:
        for match in _MENTION.finditer(snippet):
            found.add(tuple(match[1].split()))
    return found


CONTEXT = click.Context(main)


def _resolve(words: tuple[str, ...]) -> list[str]:
    """The command path the words name; AssertionError when a command does not exist."""
    group: click.Group = main
    path: list[str] = []
    for word in words:
        command = group.get_command(CONTEXT, word)
        assert command is not None, f"`nudgeflow {' '.join([*path, word])}` is not a command"
        path.append(word)
        if not isinstance(command, click.Group):
            break  # the next word is an argument, not a subcommand
        group = command
    return path


def test_every_command_in_the_cli_doc_exists() -> None:
    mentioned = _mentioned_commands(CLI_DOC.read_text(encoding="utf-8"))

    resolved = {" ".join(_resolve(words)) for words in mentioned}

    assert len(resolved) >= 10, resolved  # the parser found the commands at all


@pytest.mark.parametrize("doc", sorted((ROOT / "docs").glob("*.md")), ids=lambda p: p.name)
def test_every_command_the_other_docs_mention_exists(doc: Path) -> None:
    for words in _mentioned_commands(doc.read_text(encoding="utf-8")):
        _resolve(words)


def test_every_command_is_in_the_cli_doc() -> None:
    resolved = {
        " ".join(_resolve(words))
        for words in _mentioned_commands(CLI_DOC.read_text(encoding="utf-8"))
    }

    def leaves(group: click.Group, prefix: str) -> set[str]:
        names: set[str] = set()
        for name in group.list_commands(CONTEXT):
            command = group.get_command(CONTEXT, name)
            assert command is not None
            full = f"{prefix} {name}".strip()
            names |= leaves(command, full) if isinstance(command, click.Group) else {full}
        return names

    assert leaves(main, "") <= resolved


def test_the_readme_python_example_runs(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (ROOT / "README.md").read_text()
    [code] = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)

    exec(compile(code, "README.md", "exec"), {})

    out = capsys.readouterr().out
    assert "resume_weak" in out
    assert (clean_env / "nudgeflow.db").exists()


def test_the_coaching_python_example_runs(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = (ROOT / "docs" / "coaching.md").read_text()
    [code] = re.findall(r"```python\n(.*?)```", doc, flags=re.DOTALL)

    exec(compile(code, "coaching.md", "exec"), {})

    printed = capsys.readouterr().out.splitlines()
    at = printed.index("Counter({'written': 1})")  # after the sweep's log line
    message = printed[at + 1]
    title, body = message.split(" — ", 1)
    assert title
    assert body
