"""Configuration from code, environment and nudgeflow.toml; a bad setting names itself."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from nudgeflow.config import load_settings
from nudgeflow.engine import Engine
from nudgeflow.errors import ConfigError


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in (
        "NUDGEFLOW_CONFIG",
        "NUDGEFLOW_DATABASE_URL",
        "NUDGEFLOW_SWEEP_BATCH_SIZE",
        "NUDGEFLOW_PLAYBOOKS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_sqlite_here_and_the_documented_limits() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///nudgeflow.db"
    assert (settings.daily_limit("free"), settings.daily_limit("premium")) == (2, 5)
    assert settings.quiet_hours is not None
    assert (settings.quiet_hours.start, settings.quiet_hours.end) == (time(22), time(7))


def test_the_file_sets_plans_quiet_hours_send_times_and_rule_overrides(tmp_path: Path) -> None:
    (tmp_path / "nudgeflow.toml").write_text(
        'daily_at = "08:30"\nweekly_on = "friday"\nquiet_hours = { start = "21:00", end = "08:00" }\n'
        "[plans.free]\ndaily_limit = 1\n[plans.team]\ndaily_limit = 9\n"
        '[rules.daily_check]\ncooldown = "23h"\npriority = 10\n[rules.weekly_review]\nenabled = false\n'
    )
    settings = load_settings()
    assert settings.daily_limit("team") == 9
    assert settings.schedule.daily_at == time(8, 30)
    assert settings.schedule.weekly_on == 4

    engine = Engine(f"sqlite:///{tmp_path / 'x.db'}", settings=settings)
    rules = {r.name: r for r in engine.rules}
    assert "weekly_review" not in rules
    assert (rules["daily_check"].priority, rules["daily_check"].cooldown.total_seconds()) == (
        10,
        23 * 3600,
    )
    assert str(rules["resume_weak"].cadence) == "daily at 08:30 local"


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "nudgeflow.toml").write_text("sweep_batch_size = 100\n")
    monkeypatch.setenv("NUDGEFLOW_SWEEP_BATCH_SIZE", "250")
    assert load_settings().sweep_batch_size == 250


@pytest.mark.parametrize(
    ("toml", "setting"),
    [
        ("[plans.free]\ndaily_limit = -1\n", "plans.free.daily_limit"),
        ('daily_at = "9am"\n', "daily_at"),
        ('weekly_on = "someday"\n', "weekly_on"),
        ('[rules.daily_check]\ncadence = "every now and then"\n', "rules.daily_check.cadence"),
        ('[rules.daily_check]\ncooldown = "soon"\n', "rules.daily_check.cooldown"),
        ("colour = 3\n", "colour"),
        ("this is not toml\n", "nudgeflow.toml"),
    ],
)
def test_a_bad_setting_stops_start_up_naming_it(tmp_path: Path, toml: str, setting: str) -> None:
    (tmp_path / "nudgeflow.toml").write_text(toml)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert raised.value.setting == setting


def test_a_bad_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUDGEFLOW_SWEEP_BATCH_SIZE", "0")
    with pytest.raises(ConfigError, match="invalid setting sweep_batch_size"):
        load_settings()


def test_the_config_file_can_live_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "conf" / "prod.toml"
    other.parent.mkdir()
    other.write_text("[plans.free]\ndaily_limit = 4\n")
    monkeypatch.setenv("NUDGEFLOW_CONFIG", str(other))
    assert load_settings().daily_limit("free") == 4


def test_an_override_for_an_unknown_rule_is_refused(tmp_path: Path) -> None:
    (tmp_path / "nudgeflow.toml").write_text('[rules.dialy_check]\ncooldown = "1d"\n')
    with pytest.raises(ConfigError, match=r"invalid setting rules: .*unknown rules: dialy_check"):
        Engine(f"sqlite:///{tmp_path / 'x.db'}", settings=load_settings())


def test_configuring_one_plan_keeps_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUDGEFLOW_PLANS__FREE__DAILY_LIMIT", "3")
    settings = load_settings()
    assert (settings.daily_limit("free"), settings.daily_limit("premium")) == (3, 5)


def test_playbooks_are_loaded_from_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "house_rules.py").write_text(
        "from nudgeflow import Playbook\n"
        "house = Playbook('house')\n"
        "@house.rule(cadence='daily')\n"
        "def hello(facts, now):\n    return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NUDGEFLOW_PLAYBOOKS", '["house_rules:house"]')
    engine = Engine(f"sqlite:///{tmp_path / 'x.db'}", settings=load_settings())
    assert [(r.playbook, r.name) for r in engine.rules] == [("house", "hello")]


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("no_such_module:book", "cannot import no_such_module"),
        ("nudgeflow.playbooks.career:nothing", "nudgeflow.playbooks.career has no nothing"),
        ("nudgeflow.playbooks.career:ROLE_SKILLS", "is a dict, not a Playbook"),
        ("just-a-name", "is not module:attribute"),
    ],
)
def test_a_bad_playbook_path_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, problem: str
) -> None:
    monkeypatch.setenv("NUDGEFLOW_PLAYBOOKS", f'["{path}"]')
    with pytest.raises(ConfigError, match="playbooks") as caught:
        Engine(f"sqlite:///{tmp_path / 'x.db'}", settings=load_settings())
    assert problem in str(caught.value)
