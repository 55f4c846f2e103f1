"""Every error nudgeflow raises on purpose, each naming what is wrong.

NudgeflowError
├── ConfigError            a setting is invalid; start-up stops
├── InvalidInput           a fact or request is malformed (names the field)
│   └── UnknownPlan
├── NotFound               no such user, nudge, rule or organisation
├── Unauthorized           no credentials, or a key or token that is unknown, revoked or expired
├── Forbidden              the nudge belongs to another user, or the caller may not do this
└── IllegalTransition      the nudge cannot move from its status to the one asked
"""

from __future__ import annotations


class NudgeflowError(Exception):
    """Base of every error nudgeflow raises on purpose."""


class ConfigError(NudgeflowError):
    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        super().__init__(f"invalid setting {setting}: {problem}")


class InvalidInput(NudgeflowError):
    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class UnknownPlan(InvalidInput):
    def __init__(self, plan: str, known: list[str]) -> None:
        super().__init__("plan", f"unknown plan {plan!r}; known plans: {', '.join(known)}")


class NotFound(NudgeflowError):
    def __init__(self, what: str, ident: str) -> None:
        self.what = what
        self.ident = ident
        super().__init__(f"no {what} {ident!r}")


class Unauthorized(NudgeflowError):
    pass


class Forbidden(NudgeflowError):
    pass


class IllegalTransition(NudgeflowError):
    def __init__(self, nudge_id: str, status: str, action: str) -> None:
        self.nudge_id = nudge_id
        self.status = status
        self.action = action
        super().__init__(f"nudge {nudge_id} is {status}; it cannot be {action}")
