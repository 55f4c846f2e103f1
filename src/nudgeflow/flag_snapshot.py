"""Each worker's in-memory copy of the flags and the organisations' kill switches.

Evaluation never touches the database: it reads a `FlagView`. The view is reloaded when the
stored "flags" version has moved, which every flag or kill-switch change does in its own
transaction; the version is looked at no more than once every `max_age` seconds, so a change
reaches every worker within a few seconds at the cost of one tiny query per interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from nudgeflow.flags import Evaluation, FlagGate
from nudgeflow.rules import User
from nudgeflow.store import admin
from nudgeflow.store import flags as flag_store


@dataclass(frozen=True, slots=True)
class FlagView:
    """The flags and switched-off organisations at one version."""

    gate: FlagGate
    switched_off: frozenset[str]
    version: int

    def evaluation(self, key: str, user: User) -> Evaluation:
        return self.gate.evaluation(key, user, org_enabled=user.org not in self.switched_off)


Listener = Callable[[FlagView, FlagView], None]


class FlagSnapshot:
    def __init__(
        self,
        db: sa.Engine,
        *,
        max_age: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._max_age = max_age
        self._monotonic = monotonic
        self._view: FlagView | None = None
        self._checked = float("-inf")
        self._lock = threading.RLock()  # a listener may read the view it is told about
        self._listeners: list[Listener] = []

    def current(self) -> FlagView:
        """The view, reloaded first if the stored version moved since the last look."""
        view = self._view
        if view is not None and self._monotonic() - self._checked < self._max_age:
            return view
        with self._lock:  # one thread looks; the others get what it found
            if self._view is None or self._monotonic() - self._checked >= self._max_age:
                self._refresh()
            assert self._view is not None
            return self._view

    def invalidate(self) -> None:
        """Look at the version on the next read: this process just changed a flag."""
        self._checked = float("-inf")

    def on_change(self, listener: Listener) -> None:
        """Call `listener(old, new)` after each reload that found a new version."""
        self._listeners.append(listener)

    def _refresh(self) -> None:
        old = self._view
        with self._db.connect() as conn:
            version = admin.version(conn, "flags")
            if old is None or version != old.version:
                gate = FlagGate(flag_store.load(conn))
                self._view = FlagView(gate, admin.switched_off_orgs(conn), version)
        self._checked = self._monotonic()
        new = self._view
        if old is not None and new is not None and new is not old:
            for listener in self._listeners:
                listener(old, new)
