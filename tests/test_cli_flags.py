"""`nudgeflow flags`: set, roll out, allow and deny, disable, the emergency stop, and clear
refusals; every change lands in the audit log under --actor."""

from __future__ import annotations

from click.testing import CliRunner

from nudgeflow.engine import Engine
from test_cli import cli, data, run

__all__ = ["cli"]  # the fixture, shared with test_cli


def test_an_operator_rolls_a_flag_out_and_stops_everything(
    cli: CliRunner, database_url: str
) -> None:
    made = data(cli, "flags", "set", "agent", "--roles", "admin", "--plans", "premium", "--percentage", "0", "--actor", "ana")  # fmt: skip
    assert (made["roles"], made["plans"], made["percentage"]) == (["admin"], ["premium"], 0)
    assert data(cli, "flags", "rollout", "agent", "10")["percentage"] == 10
    assert data(cli, "flags", "set", "agent", "--beta")["plans"] == ["premium"]  # others stay
    assert data(cli, "flags", "allow", "agent", "u1", "u2")["allow"] == ["u1", "u2"]
    assert data(cli, "flags", "allow", "agent", "u1", "--remove")["allow"] == ["u2"]
    assert data(cli, "flags", "deny", "agent", "u3")["deny"] == ["u3"]
    run(cli, "flags", "set", "reports")

    shown = run(cli, "flags", "show", "agent").stdout
    assert shown.strip() == "agent: on, rollout 10%; plans premium; roles admin; allow u2; deny u3; beta opt-in only"  # fmt: skip
    assert data(cli, "flags", "off", "--all", "--actor", "pager") == {"disabled": ["agent", "reports"]}  # fmt: skip
    assert [f["enabled"] for f in data(cli, "flags", "list")] == [False, False]
    assert data(cli, "flags", "enable", "agent")["enabled"] is True

    engine = Engine(database_url)
    log = engine.audit_log()
    assert (log[-1]["action"], log[-1]["actor"]) == ("flag.create", "ana")
    assert {e["actor"] for e in log if e["action"] == "flag.off_all"} == {"pager"}
    engine.close()


def test_bad_values_are_refused_naming_them_and_change_nothing(cli: CliRunner) -> None:
    run(cli, "flags", "set", "agent", "--percentage", "10")
    too_much = run(cli, "flags", "rollout", "agent", "130", code=1)
    assert "percentage" in too_much.stderr
    assert "platinum" in run(cli, "flags", "set", "agent", "--plans", "platinum", code=1).stderr
    assert "allow" in run(cli, "flags", "allow", "agent", "not an id!", code=1).stderr
    assert "no flag 'ghost'" in run(cli, "flags", "disable", "ghost", code=1).stderr
    assert "--all" in run(cli, "flags", "off", code=2).stderr
    assert data(cli, "flags", "show", "agent")["percentage"] == 10


def test_evaluate_says_why(cli: CliRunner, database_url: str) -> None:
    run(cli, "flags", "set", "agent", "--percentage", "0", "--roles", "admin")
    engine = Engine(database_url)
    engine.upsert_users([{"id": "ana"}, {"id": "boss", "role": "admin"}])
    engine.close()

    assert run(cli, "flags", "evaluate", "agent", "boss").stdout.strip() == "on: flag agent: role admin is allowed"  # fmt: skip
    assert data(cli, "flags", "evaluate", "agent", "ana") == {
        "on": False, "rule": "rollout", "reason": "flag agent: off (rollout 0%)",
    }  # fmt: skip
    assert "no user 'nobody'" in run(cli, "flags", "evaluate", "agent", "nobody", code=1).stderr
