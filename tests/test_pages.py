"""The pages links in messages open, clicked through by a real headless Chromium against a real
server: a GET only shows a button, the POST acts once; unsubscribe is one click; preferences
save. Needs Debian's chromium (CHROMIUM, default /usr/bin/chromium)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx2 as httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api_support import with_demo
from nudgeflow.api import create_app
from nudgeflow.clock import FrozenClock
from nudgeflow.engine import Engine

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@dataclass
class Site:
    engine: Engine
    base: str

    def link(self, user_id: str, purpose: str, subject: str = "") -> str:
        token = self.engine.credentials.link_token(user_id, purpose, subject, hours=24)
        path = {"preferences": "preferences", "unsubscribe": "unsubscribe"}.get(purpose, "act")
        return f"{self.base}/{path}/{token}"


@pytest.fixture
def site(engine: Engine) -> Iterator[Site]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=port,
                                           log_config=None, access_log=False))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield Site(engine, f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"no chromium at {CHROMIUM}; CI must run the browser tests")
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def test_opening_an_accept_link_changes_nothing_until_the_button(site: Site, page: Page) -> None:
    with_demo(site.engine)
    nudge = site.engine.nudges(status="delivered")[0]
    link = site.link(nudge["user_id"], "accept", nudge["id"])
    page.goto(link)
    expect(page.locator("strong")).to_have_text(nudge["title"])
    assert site.engine.nudge(nudge["id"])["status"] == "delivered"
    page.get_by_role("button").click()
    expect(page.get_by_role("status")).to_have_text("Done — marked as accepted.")
    assert site.engine.nudge(nudge["id"])["status"] == "accepted"
    expect(page.get_by_role("link")).to_have_attribute("href", nudge["action_url"])
    page.goto(link)  # the link again: the page, and accepting twice changes nothing
    page.get_by_role("button").click()
    expect(page.get_by_role("status")).to_have_text("Done — marked as accepted.")


def test_snoozing_from_a_link_picks_the_duration(site: Site, page: Page) -> None:
    with_demo(site.engine)
    nudge = site.engine.nudges(status="delivered")[0]
    page.goto(site.link(nudge["user_id"], "snooze", nudge["id"]))
    page.get_by_role("button", name="4 hours").click()
    expect(page.get_by_role("status")).to_contain_text("Snoozed")
    snoozed = site.engine.nudge(nudge["id"])
    assert snoozed["status"] == "snoozed"
    assert snoozed["deliver_at"] >= site.engine.clock.now()


def test_dismissing_a_dismissed_nudge_again_says_so(site: Site, page: Page) -> None:
    with_demo(site.engine)
    nudge = site.engine.nudges(status="delivered")[0]
    site.engine.accept(nudge["id"])
    page.goto(site.link(nudge["user_id"], "dismiss", nudge["id"]))
    page.get_by_role("button").click()
    expect(page.get_by_role("alert")).to_have_text("This can't be done any more: it is accepted.")
    assert site.engine.nudge(nudge["id"])["status"] == "accepted"


def test_preferences_are_changed_on_the_page(site: Site, page: Page) -> None:
    site.engine.upsert_user({"id": "ana", "timezone": "Europe/Berlin"})
    page.goto(site.link("ana", "preferences"))
    page.get_by_label("email").uncheck()
    page.get_by_label("from").fill("21:30")
    page.get_by_label("to").fill("07:15")
    page.get_by_label("career").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    prefs = site.engine.preferences("ana")
    assert prefs.channels == ("in_app",)
    assert prefs.model_dump(mode="json")["quiet_hours"] == {"start": "21:30", "end": "07:15"}
    assert prefs.playbooks_off == ("career",)
    assert prefs.proactive is True


def test_one_click_unsubscribe_needs_no_cookie_and_answers_200(site: Site, page: Page) -> None:
    site.engine.upsert_user({"id": "ana", "preferences": {"channels": ["in_app", "email"]}})
    link = site.link("ana", "unsubscribe")
    page.goto(link)
    assert site.engine.preferences("ana").channels == ("in_app", "email")  # the GET changed nothing
    # What a mail client does (RFC 8058): a bare POST, no cookies, no page.
    answer = httpx.post(link, content="List-Unsubscribe=One-Click",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert answer.status_code == 200
    assert site.engine.preferences("ana").channels == ("in_app",)


def test_forged_and_expired_links_show_a_page_and_do_nothing(
    site: Site, page: Page, clock: FrozenClock
) -> None:
    with_demo(site.engine)
    nudge = site.engine.nudges(status="delivered")[0]
    link = site.link(nudge["user_id"], "accept", nudge["id"])
    forged = link[:-3] + "abc"
    assert httpx.post(forged).status_code == 401
    page.goto(forged)
    expect(page.get_by_role("alert")).to_contain_text("not one nudgeflow made")
    other = site.link("someone-else", "accept", nudge["id"])  # a link for another user
    assert httpx.post(other).status_code == 404
    clock.advance(timedelta(hours=24, seconds=1))
    expired = httpx.post(link)
    assert (expired.status_code, "This link has expired." in expired.text) == (401, True)
    assert site.engine.nudge(nudge["id"])["status"] == "delivered"
