"""The operator CLI on both databases: import, sweep, explain, nudges and their actions, rules,
the kill switch, the demo. Output that is data is checked as JSON."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from nudgeflow.cli import main

# The CLI stamps facts with the real clock; sweeps run at 09:00 Berlin time tomorrow.
AT = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT08:00:00Z")
NUDGE_KEYS = {"id", "user_id", "rule", "status", "deliver_at", "dedupe_key", "score", "title",
              "body", "action_url", "channels", "reason", "action_label", "expires_at",
              "created_at", "acted_at", "seen_at", "delivered_at"}  # fmt: skip


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NUDGEFLOW_CONFIG", raising=False)
    return CliRunner(env={"NUDGEFLOW_DATABASE_URL": database_url})


def run(cli: CliRunner, *args: str, code: int = 0) -> Result:
    result = cli.invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def data(cli: CliRunner, *args: str) -> Any:
    return json.loads(run(cli, *args, "--json").stdout)


def jsonl(path: Path, *rows: dict[str, Any] | str) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def loaded(cli: CliRunner, tmp_path: Path) -> None:
    users = jsonl(tmp_path / "users.jsonl",
                  {"id": "ana", "timezone": "Europe/Berlin", "traits": {}},
                  {"id": "ben", "plan": "premium", "timezone": "Asia/Tokyo"})  # fmt: skip
    records = jsonl(tmp_path / "records.jsonl",
                    {"user_id": "ana", "kind": "resume", "key": "main", "props": {"score": 40}})  # fmt: skip
    assert data(cli, "import", "users", str(users))["written"] == 2
    assert data(cli, "import", "records", str(records))["written"] == 1


def test_a_file_with_bad_lines_writes_nothing_and_names_every_one(
    cli: CliRunner, tmp_path: Path
) -> None:
    users = jsonl(tmp_path / "users.jsonl",
                  {"id": "ok1"}, {"id": "bad", "timezone": "Mars/Olympus"}, "{not json",
                  {"id": "ok2", "plan": "gold"})  # fmt: skip

    result = run(cli, "import", "users", str(users), code=1)

    assert "line 2: timezone:" in result.output
    assert "line 3:" in result.output
    assert "line 4: plan: unknown plan 'gold'" in result.output
    assert "nothing was written" in result.output
    rejects = [
        json.loads(line)
        for line in (tmp_path / "users.jsonl.rejects.jsonl").read_text().splitlines()
    ]
    assert [(r["line"], r["field"]) for r in rejects][::2] == [(2, "timezone"), (4, "plan")]
    assert data(cli, "nudges", "list") == []
    assert data(cli, "sweep", "--at", AT)["users_evaluated"] == 0  # no user was written


def test_skip_invalid_imports_the_good_lines_and_files_the_rejects(
    cli: CliRunner, tmp_path: Path
) -> None:
    users = jsonl(
        tmp_path / "users.jsonl", {"id": "ok1"}, {"id": "bad", "plan": "gold"}, {"id": "ok2"}
    )

    report = data(cli, "import", "users", str(users), "--skip-invalid", "--rejects", "out.jsonl")

    assert (report["written"], report["rejected"]) == (2, 1)
    [reject] = [json.loads(line) for line in Path("out.jsonl").read_text().splitlines()]
    assert (reject["line"], reject["field"], json.loads(reject["input"])) == (
        2,
        "plan",
        {"id": "bad", "plan": "gold"},
    )
    assert data(cli, "sweep", "--at", AT, "--dry-run")["users_evaluated"] == 2


def test_an_event_imported_twice_is_stored_once(cli: CliRunner, tmp_path: Path) -> None:
    loaded(cli, tmp_path)
    events = jsonl(tmp_path / "events.jsonl",
                   {"id": "e1", "user_id": "ana", "name": "login", "at": AT})  # fmt: skip

    assert data(cli, "import", "events", str(events))["written"] == 1
    second = data(cli, "import", "events", str(events))
    assert (second["lines"], second["rejected"]) == (1, 0)
    assert not (tmp_path / "events.jsonl.rejects.jsonl").exists()


def test_sweep_json_is_clean_and_reports_the_decisions(cli: CliRunner, tmp_path: Path) -> None:
    loaded(cli, tmp_path)

    dry = data(cli, "sweep", "--at", AT, "--dry-run")
    assert data(cli, "nudges", "list") == []
    report = data(cli, "sweep", "--at", AT)

    for key in (
        "users_evaluated",
        "candidates",
        "scheduled",
        "deferred",
        "suppressed",
        "rule_errors",
        "seconds",
    ):
        assert dry[key] == report[key] or key == "seconds"
    assert report["users_evaluated"] == 2
    assert report["delivery"]["delivered_in_app"] == report["scheduled"]
    assert data(cli, "sweep", "--at", AT)["users_evaluated"] == 0  # nobody due any more


def test_nudges_list_has_the_documented_shape_and_actions_work(
    cli: CliRunner, tmp_path: Path
) -> None:
    loaded(cli, tmp_path)
    run(cli, "sweep", "--at", AT)

    listed = data(cli, "nudges", "list", "--user", "ana", "--status", "delivered")
    assert listed
    assert all(set(n) == NUDGE_KEYS and n["user_id"] == "ana" for n in listed)
    first, *rest = listed
    assert data(cli, "nudges", "accept", first["id"])["status"] == "accepted"
    if rest:
        snoozed = data(cli, "nudges", "snooze", rest[0]["id"], "--for", "4h")
        assert snoozed["status"] == "snoozed"

    refused = run(cli, "nudges", "dismiss", first["id"], code=1)
    assert "is accepted; it cannot be dismissed" in refused.output
    assert "no nudge 'n_nope'" in run(cli, "nudges", "accept", "n_nope", code=1).output
    other = run(cli, "nudges", "accept", first["id"], "--user", "ben", code=1)
    assert "is not ben's" in other.output


def test_explain_shows_every_rule_and_changes_nothing(cli: CliRunner, tmp_path: Path) -> None:
    loaded(cli, tmp_path)

    explained = data(cli, "explain", "ana", "--at", AT)
    text = run(cli, "explain", "ana", "--at", AT).stdout

    assert len(explained["rules"]) == 14  # career's ten, the agenda's three, and coaching
    resume = next(r for r in explained["rules"] if r["rule"] == "resume_weak")
    assert resume["decisions"][0]["outcome"] == "scheduled"
    assert "resume_weak" in text
    assert data(cli, "nudges", "list") == []
    assert "no user 'zed'" in run(cli, "explain", "zed", code=1).output


def test_paused_rules_and_the_kill_switch_suppress_and_are_audited(
    cli: CliRunner, tmp_path: Path
) -> None:
    loaded(cli, tmp_path)
    run(cli, "rules", "pause", "resume_weak", "--actor", "ops")
    assert {r["rule"]: r["paused"] for r in data(cli, "rules", "list")}["resume_weak"] is True
    assert (
        next(r for r in data(cli, "rules", "list") if r["rule"] == "app_rescue")["cooldown"]
        == "3 d"
    )

    run(cli, "sweep", "--at", AT)

    statuses = {n["rule"]: n["status"] for n in data(cli, "nudges", "list", "--user", "ana")}
    assert statuses["resume_weak"] == "suppressed"
    run(cli, "rules", "resume", "resume_weak")
    assert "no rule 'nope'" in run(cli, "rules", "pause", "nope", code=1).output
    assert "agent off for organisation uni" in run(cli, "org", "uni", "off").stdout


def test_a_bad_setting_stops_the_cli_naming_it(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUDGEFLOW_SWEEP_BATCH_SIZE", "0")
    result = cli.invoke(main, ["sweep"])
    assert result.exit_code == 2
    assert "invalid setting sweep_batch_size" in result.output


def test_the_demo_is_deterministic(cli: CliRunner) -> None:
    first = data(cli, "demo", "--users", "30", "--seed", "3", "--hours", "3")
    second = data(cli, "demo", "--users", "30", "--seed", "3", "--hours", "3")
    assert first["statuses"] == second["statuses"]
    assert sum(first["statuses"].values()) > 0


def test_import_streams_so_memory_follows_the_batch_not_the_file(tmp_path: Path) -> None:
    from nudgeflow.importer import Importer
    from nudgeflow.store import database

    db = database.connect(f"sqlite:///{tmp_path / 'big.db'}")
    database.upgrade(db)
    importer = Importer(db, datetime.now(UTC), {"free"})

    def peak(lines: int) -> int:
        path = tmp_path / f"users-{lines}.jsonl"
        with path.open("w") as out:
            for n in range(lines):
                out.write(json.dumps({"id": f"u{lines}-{n}", "traits": {"bio": "x" * 200}}) + "\n")
        tracemalloc.start()
        report = importer.run("users", path)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert report.written == lines
        return top

    small, large = peak(4_000), peak(40_000)  # the same importer: one schema, warm caches
    assert large < 1.5 * small, (small, large)  # ten times the file, not ten times the memory
