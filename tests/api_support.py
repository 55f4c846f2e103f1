"""An API over a test engine: a client, a host key, an admin key, and tokens for users."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from nudgeflow.api import create_app
from nudgeflow.demo_run import load
from nudgeflow.engine import Engine


@dataclass
class Api:
    engine: Engine
    client: TestClient
    host: dict[str, str]
    admin: dict[str, str]

    def token(self, user_id: str, hours: int | None = None) -> dict[str, str]:
        made, _ = self.engine.credentials.issue_token(user_id, hours)
        return {"Authorization": f"Bearer {made}"}

    def delivered(self, user_id: str | None = None) -> list[dict[str, Any]]:
        return self.engine.nudges(user_id=user_id, status="delivered", limit=1000)


def make_api(engine: Engine) -> Api:
    host = engine.credentials.create_key("host app")
    admin = engine.credentials.create_key("ops", admin_key=True)
    return Api(
        engine,
        TestClient(create_app(engine), raise_server_exceptions=True),
        {"Authorization": f"Bearer {host.key}"},
        {"Authorization": f"Bearer {admin.key}"},
    )


def with_demo(engine: Engine, users: int = 12) -> None:
    """Demo users swept and their due nudges delivered, at the engine's clock."""
    load(engine, users=users, seed=7)
    engine.sweep()
    engine.deliver_due()
