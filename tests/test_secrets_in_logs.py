"""Provider secrets never reach the logs: a worker whose every provider fails (and whose
deliveries die at once, so each failure is logged with its reason) prints none of them."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nudgeflow.config import load_settings
from nudgeflow.engine import Engine
from outbox_support import queue

TELEGRAM_TOKEN = "987654:TELEGRAM-secret-token-abc"
SMTP_PASSWORD = "smtp-secret-password-xyz"
MAILGUN_KEY = "key-mailgun-secret-0123"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"webhook-secret-bytes-0123456789").decode()
URL_TOKEN = "url-secret-token-777"
SECRETS = [TELEGRAM_TOKEN, SMTP_PASSWORD, MAILGUN_KEY, WEBHOOK_SECRET, URL_TOKEN]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("email_provider", ["smtp", "mailgun"])
def test_failing_providers_log_their_reasons_but_no_secret(
    database_url: str, tmp_path: Path, email_provider: str
) -> None:
    port = closed_port()
    env = {
        **os.environ,
        "NUDGEFLOW_DATABASE_URL": database_url,
        "NUDGEFLOW_DELIVERY_ATTEMPTS": "1",
        "NUDGEFLOW_DELIVER_EVERY_SECONDS": "0.1",
        "NUDGEFLOW_SWEEP_EVERY_SECONDS": "3600",
        "NUDGEFLOW_TELEGRAM__BOT_TOKEN": TELEGRAM_TOKEN,
        "NUDGEFLOW_TELEGRAM__BASE_URL": f"http://127.0.0.1:{port}",
        "NUDGEFLOW_EMAIL__PROVIDER": email_provider,
        "NUDGEFLOW_EMAIL__SENDER": "Coach <coach@example.org>",
        "NUDGEFLOW_EMAIL__POSTAL_ADDRESS": "1 Main St",
        "NUDGEFLOW_EMAIL__SMTP__PORT": str(port),
        "NUDGEFLOW_EMAIL__SMTP__USERNAME": "coach",
        "NUDGEFLOW_EMAIL__SMTP__PASSWORD": SMTP_PASSWORD,
        "NUDGEFLOW_EMAIL__MAILGUN__DOMAIN": "mg.example.org",
        "NUDGEFLOW_EMAIL__MAILGUN__API_KEY": MAILGUN_KEY,
        "NUDGEFLOW_EMAIL__MAILGUN__BASE_URL": f"http://127.0.0.1:{port}",
        "NUDGEFLOW_WEBHOOK__SECRET": WEBHOOK_SECRET,
        "NUDGEFLOW_WEBHOOK__ALLOW_PRIVATE": "true",
    }
    env.pop("NUDGEFLOW_CONFIG", None)
    engine = Engine(database_url, settings=load_settings(database_url=database_url))
    engine.upsert_user({"id": "ana", "addresses": {
        "email": "ana@example.org", "telegram": "4242",
        "webhook": f"http://127.0.0.1:{port}/hook?token={URL_TOKEN}",
    }})  # fmt: skip
    for channel in ("email", "telegram", "webhook"):
        queue(engine, ["ana"], channel)
    logs = tmp_path / "worker.log"
    nudgeflow = str(Path(sys.executable).with_name("nudgeflow"))
    with logs.open("wb") as out:
        worker = subprocess.Popen([nudgeflow, "worker"], env=env, cwd=tmp_path, stderr=out,
                                  stdout=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while logs.read_text().count("delivery_dead") < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(20)
    engine.close()

    printed = logs.read_text()
    assert printed.count("delivery_dead") == 3, printed
    for secret in SECRETS:
        assert secret not in printed
    assert f"127.0.0.1:{port}" in printed or "127.0.0.1" in printed  # reasons name the host
