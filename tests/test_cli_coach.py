"""`nudgeflow coach …` on both databases: who is due and why, one user's status, and a run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from test_cli import jsonl, run

BERLIN = ZoneInfo("Europe/Berlin")
# The CLI stamps facts with the real clock; commands run at 08:30 Berlin time two days ahead.
AT = (datetime.now(BERLIN) + timedelta(days=2)).replace(hour=8, minute=30, second=0, microsecond=0)


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NUDGEFLOW_CONFIG", raising=False)
    runner = CliRunner(env={"NUDGEFLOW_DATABASE_URL": database_url})
    users = jsonl(tmp_path / "users.jsonl",
                  {"id": "ana", "timezone": "Europe/Berlin", "traits": {"name": "Ana"},
                   "preferences": {"frequency": "daily", "window": "morning", "channels": ["in_app"]}},
                  {"id": "ben", "timezone": "Europe/Berlin"})  # fmt: skip
    run(runner, "import", "users", str(users))
    return runner


def data(cli: CliRunner, *args: str) -> Any:
    return json.loads(run(cli, *args, "--json").stdout)


def test_status_shows_the_schedule_and_due_lists_who_is_due(cli: CliRunner) -> None:
    status = data(cli, "coach", "status", "ana")
    assert (status["frequency"], status["window"], status["attempts"]) == ("daily", "morning", [])
    next_due = datetime.fromisoformat(status["next_due"]).astimezone(BERLIN)
    assert 6 <= next_due.hour < 11

    later = AT.astimezone(UTC).isoformat()
    [due] = data(cli, "coach", "due", "--at", later)
    assert due["user_id"] == "ana"
    assert (
        "daily in the morning window; due since" in run(cli, "coach", "due", "--at", later).stdout
    )
    assert data(cli, "coach", "status", "ben")["coaching"] is False


def test_run_decides_and_writes_the_message_then_status_shows_the_attempt(cli: CliRunner) -> None:
    at = AT.astimezone(UTC).isoformat()
    result = data(cli, "coach", "run", "ana", "--force", "--at", at)
    assert [d["outcome"] for d in result["decided"]] == ["scheduled"]
    assert result["written"] == {"written": 1}

    status = data(cli, "coach", "status", "ana", "--at", at)
    [attempt] = status["attempts"]
    assert (attempt["generator"], attempt["sent"]) == ("template", True)
    assert datetime.fromisoformat(status["last_due"]) == AT
    text = run(cli, "coach", "status", "ana", "--at", at).stdout
    assert "template" in text
    assert "sent" in text

    again = data(cli, "coach", "run", "ana", "--at", at)
    assert again["decided"] == []  # not due again until tomorrow


def test_run_refuses_a_user_without_coaching_and_an_unknown_user(cli: CliRunner) -> None:
    assert "ben has coaching off" in run(cli, "coach", "run", "ben", code=1).output
    assert "no user 'zoe'" in run(cli, "coach", "status", "zoe", code=1).output
