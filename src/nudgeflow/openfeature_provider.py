"""An OpenFeature provider over nudgeflow's flags (`pip install nudgeflow[openfeature]`).

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    api.set_provider(NudgeflowProvider(engine.flag_snapshot))
    api.get_client().get_boolean_value(
        "agent", False, EvaluationContext("u1", {"plan": "premium", "org": "uni"})
    )

The targeting key is the user id; the attributes `plan`, `org`, `role`, and `beta` (true or a
list of flag keys) describe the user as the host app knows them, so evaluation reads the
in-memory snapshot and never the database. The snapshot is watched in the background and
each change is announced as PROVIDER_CONFIGURATION_CHANGED with the flags it touched.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode, TypeMismatchError
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata

from nudgeflow.flag_snapshot import FlagSnapshot, FlagView
from nudgeflow.flags import BETA_TRAIT, Evaluation
from nudgeflow.rules import User

UTC_ZONE = ZoneInfo("UTC")
# The rule that decided → the OpenFeature reason. A rollout between 0% and 100% is a split;
# at 0% or 100% every user gets the same answer, the flag's default.
TARGETING = {"kill_switch", "deny", "allow", "role", "plan", "beta"}


class NudgeflowProvider(AbstractProvider):
    def __init__(self, snapshot: FlagSnapshot, *, poll_seconds: float = 1.0) -> None:
        super().__init__()
        self._snapshot = snapshot
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        snapshot.on_change(self._announce)

    def get_metadata(self) -> Metadata:
        return Metadata(name="nudgeflow")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self._snapshot.current()  # fails here, at start-up, if the database is unreachable
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="nudgeflow-flags", daemon=True)
        self._watcher.start()

    def shutdown(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        view = self._snapshot.current()
        if flag_key not in view.gate.flags:
            return _error(default_value, ErrorCode.FLAG_NOT_FOUND, f"no flag {flag_key!r}")
        context = evaluation_context or EvaluationContext()
        if not context.targeting_key:
            return _error(default_value, ErrorCode.TARGETING_KEY_MISSING, "the user id")
        answer = view.evaluation(flag_key, _user(context.targeting_key, context.attributes))
        return FlagResolutionDetails(
            value=answer.on,
            reason=_reason(view, flag_key, answer),
            variant="on" if answer.on else "off",
            flag_metadata={"rule": answer.rule, "explanation": answer.reason},
        )

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        _only_booleans(flag_key)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        _only_booleans(flag_key)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        _only_booleans(flag_key)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        _only_booleans(flag_key)

    def _watch(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            try:
                self._snapshot.current()
            except Exception as exc:  # the database away for a moment: say so, keep watching
                self.emit_provider_stale(ProviderEventDetails(message=str(exc)))

    def _announce(self, old: FlagView, new: FlagView) -> None:
        keys = set(old.gate.flags) | set(new.gate.flags)
        if old.switched_off != new.switched_off:
            changed = keys  # a kill switch touches every flag
        else:
            changed = {k for k in keys if old.gate.flags.get(k) != new.gate.flags.get(k)}
        details = ProviderEventDetails(flags_changed=sorted(changed))
        self.emit_provider_configuration_changed(details)


def _user(user_id: str, attributes: Mapping[str, Any]) -> User:
    beta = attributes.get(BETA_TRAIT)
    return User(
        id=user_id,
        plan=str(attributes.get("plan", "free")),
        org=None if attributes.get("org") is None else str(attributes["org"]),
        role=str(attributes.get("role", "user")),
        timezone=UTC_ZONE,
        locale="en",
        traits={} if beta is None else {BETA_TRAIT: beta},
        addresses={},
    )


def _reason(view: FlagView, key: str, answer: Evaluation) -> Reason:
    if answer.rule == "disabled":
        return Reason.DISABLED
    if answer.rule in TARGETING:
        return Reason.TARGETING_MATCH
    if 0 < view.gate.flags[key].percentage < 100:
        return Reason.SPLIT
    return Reason.DEFAULT


def _error(default: bool, code: ErrorCode, message: str) -> FlagResolutionDetails[bool]:
    return FlagResolutionDetails(
        value=default, reason=Reason.ERROR, error_code=code, error_message=message
    )


def _only_booleans(key: str) -> NoReturn:
    raise TypeMismatchError(f"nudgeflow flags are on or off; ask {key!r} as a boolean")
