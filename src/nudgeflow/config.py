"""Configuration: code, then environment variables (`NUDGEFLOW_*`), then `nudgeflow.toml`.

    # nudgeflow.toml
    daily_at = "09:00"
    weekly_on = "monday"
    quiet_hours = { start = "22:00", end = "07:00" }
    playbooks = ["nudgeflow.playbooks.career:career", "myapp.nudges:journaling"]

    [plans.free]
    daily_limit = 2

    [rules.daily_check]
    cooldown = "20h"
    enabled = false

    [llm]                               # coaching messages by an LLM: docs/coaching.md
    model = "gpt-4o-mini"

    [rules.coaching_message]
    generator = "llm"

A bad setting stops start-up with ConfigError naming it (`plans.free.daily_limit: ...`).
The file is `nudgeflow.toml` in the working directory, or the path in NUDGEFLOW_CONFIG.
"""

from __future__ import annotations

import os
import re
from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from nudgeflow import providers
from nudgeflow.cadence import WEEKDAYS, parse_cadence
from nudgeflow.coaching.settings import LLMSettings
from nudgeflow.errors import ConfigError
from nudgeflow.facts import QuietHours, describe
from nudgeflow.localtime import parse_wall_time
from nudgeflow.rules import Schedule, parse_duration

DEFAULT_PLANS = {"free": 2, "premium": 5, "university": 3, "pro": 5, "enterprise": 5}
DEFAULT_PLAYBOOKS = (
    "nudgeflow.playbooks.career:career",
    "nudgeflow.playbooks.agenda:agenda",
    "nudgeflow.playbooks.coaching:coaching",
)


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    daily_limit: int = Field(ge=0, le=100)


class RuleOverride(BaseModel):
    """Per-rule settings that replace the playbook's defaults."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    cadence: str | None = None
    cooldown: str | None = None
    priority: int | None = Field(default=None, ge=0, le=100)
    channels: list[str] | None = None
    counts_toward_cap: bool | None = None
    generator: Literal["template", "llm"] | None = None  # for rules that generate their text

    @field_validator("cadence")
    @classmethod
    def _cadence(cls, value: str | None) -> str | None:
        if value is not None:
            parse_cadence(value)
        return value

    @field_validator("cooldown")
    @classmethod
    def _cooldown(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    def as_overrides(self) -> dict[str, Any]:
        return self.model_dump(exclude={"enabled"}, exclude_none=True)


def _default_plans() -> dict[str, Plan]:
    return {name: Plan(daily_limit=n) for name, n in DEFAULT_PLANS.items()}


def _config_path() -> Path:
    return Path(os.environ.get("NUDGEFLOW_CONFIG", "nudgeflow.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NUDGEFLOW_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database_url: str = "sqlite:///nudgeflow.db"
    plans: dict[str, Plan] = Field(default_factory=_default_plans)
    playbooks: list[str] = Field(default_factory=lambda: list(DEFAULT_PLAYBOOKS))
    quiet_hours: QuietHours | None = QuietHours(start=time(22), end=time(7))
    daily_at: str = "09:00"
    weekly_on: str = "monday"
    rules: dict[str, RuleOverride] = Field(default_factory=dict)
    sweep_batch_size: int = Field(default=500, ge=1, le=10_000)
    lease_seconds: int = Field(default=300, ge=10)
    # The service (`nudgeflow serve` / `worker`).
    secret_key: SecretStr | None = None  # signs user tokens; made and kept in the database if unset
    user_token_hours: int = Field(default=24 * 7, ge=1)
    max_body_bytes: int = Field(default=1_000_000, ge=1_024)
    sweep_every_seconds: float = Field(default=60, gt=0)
    deliver_every_seconds: float = Field(default=5, gt=0)
    # How stale a worker's flag snapshot may be before it looks at the stored version again.
    flag_refresh_seconds: float = Field(default=1, ge=0)
    # Delivery (dispatch.py): attempts, backoff, breakers, and where links in messages point.
    public_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^\s/]+(/\S*)?$")
    delivery_attempts: int = Field(default=8, ge=1, le=50)
    retry_base_seconds: float = Field(default=900, gt=0)
    retry_cap_seconds: float = Field(default=8 * 3600, gt=0)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_cool_down_seconds: float = Field(default=60, gt=0)
    send_timeout_seconds: float = Field(default=30, gt=0)
    email: providers.Email | None = None  # no section: no email channel
    telegram: providers.Telegram | None = None
    webhook: providers.Webhook | None = None
    # Generated messages (coaching): the LLM, if any; NUDGEFLOW_LLM_MODEL and friends work too.
    llm: LLMSettings | None = None
    generate_every_seconds: float = Field(default=5, gt=0)
    generate_batch: int = Field(default=100, ge=1, le=10_000)

    @field_validator("daily_at")
    @classmethod
    def _daily_at(cls, value: str) -> str:
        parse_wall_time(value)
        return value

    @field_validator("weekly_on")
    @classmethod
    def _weekly_on(cls, value: str) -> str:
        if value.lower() not in WEEKDAYS:
            raise ValueError(f"{value!r} is not a weekday name")
        return value.lower()

    @field_validator("plans")
    @classmethod
    def _over_defaults(cls, value: dict[str, Plan]) -> dict[str, Plan]:
        # Configuring one plan must not drop the others: users already on them would get
        # a daily limit of nothing.
        return {**_default_plans(), **value}

    @field_validator("playbooks")
    @classmethod
    def _import_paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not re.fullmatch(r"[\w.]+:\w+", path):
                raise ValueError(f"{path!r} is not module:attribute, like myapp.nudges:journaling")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, _config_path())

    @property
    def schedule(self) -> Schedule:
        return Schedule(parse_wall_time(self.daily_at), WEEKDAYS.index(self.weekly_on))

    def daily_limit(self, plan: str) -> int:
        return self.plans[plan].daily_limit


def load_settings(**overrides: Any) -> Settings:
    """Settings from code, environment and file; ConfigError naming the first bad setting."""
    try:
        settings = Settings(**overrides)
        if settings.llm is None and "llm" not in overrides:
            from_env = LLMSettings.from_env()
            if from_env is not None:
                settings = settings.model_copy(update={"llm": from_env})
        return settings
    except ValidationError as exc:
        field, problem = describe(exc)
        raise ConfigError(field, problem) from None
    except ValueError as exc:  # a malformed TOML file
        raise ConfigError(str(_config_path()), str(exc)) from None
