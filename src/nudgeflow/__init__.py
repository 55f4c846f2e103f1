"""nudgeflow: decides when to reach out to each user, what to say and on which channel,
delivers it reliably, lets the user act on it, and measures what worked — without spamming."""

from __future__ import annotations

from nudgeflow.clock import Clock, FrozenClock, SystemClock
from nudgeflow.engine import Engine
from nudgeflow.errors import (
    ConfigError,
    Forbidden,
    IllegalTransition,
    InvalidInput,
    NotFound,
    NudgeflowError,
)
from nudgeflow.localtime import at_local
from nudgeflow.rules import Candidate, Facts, Playbook, Recheck, RuleOutput

__all__ = [
    "Candidate",
    "Clock",
    "ConfigError",
    "Engine",
    "Facts",
    "Forbidden",
    "FrozenClock",
    "IllegalTransition",
    "InvalidInput",
    "NotFound",
    "NudgeflowError",
    "Playbook",
    "Recheck",
    "RuleOutput",
    "SystemClock",
    "at_local",
]
