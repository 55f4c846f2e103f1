"""The HTTP API on both databases: facts in, the inbox and its actions, preferences, explain,
the admin routes, errors as problem documents, and idempotent replays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from api_support import Api, make_api, with_demo
from nudgeflow.clock import FrozenClock
from nudgeflow.engine import Engine

PROBLEM = "application/problem+json"


@pytest.fixture
def api(engine: Engine) -> Api:
    return make_api(engine)


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# ---- facts in --------------------------------------------------------------------------------


def test_facts_go_in_and_out_by_rest(api: Api) -> None:
    c, h = api.client, api.host
    user = {"plan": "premium", "timezone": "Europe/Berlin", "addresses": {"email": "a@x.io"}}
    assert c.put("/v1/users/ana", json=user, headers=h).status_code == 204
    assert api.engine.preferences("ana").agent is True

    props = {"company": "Acme", "status": "applied", "applied_at": "2026-10-01T09:00:00Z"}
    assert c.put("/v1/users/ana/records/application/a1", json=props, headers=h).status_code == 204
    assert c.delete("/v1/users/ana/records/application/a1", headers=h).status_code == 204
    problem(c.delete("/v1/users/ana/records/application/a1", headers=h), 404)

    event = {"id": "e1", "user_id": "ana", "name": "login", "at": "2026-11-23T07:00:00Z"}
    assert c.post("/v1/events", json=event, headers=h).json() == {"stored": 1, "received": 1}
    again = c.post("/v1/events", json=[event, {**event, "id": "e2"}], headers=h)
    assert again.json() == {"stored": 1, "received": 2}

    assert c.delete("/v1/users/ana", headers=h).status_code == 204
    problem(c.get("/v1/users/ana/preferences", headers=h), 404)
    problem(c.delete("/v1/users/ana", headers=h), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"plan": "gold"}, "plan"),
        ({"addresses": {"email": "not an email"}}, "addresses.email"),
        ({"id": "someone-else"}, "id"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_bad_user_is_a_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    found = problem(api.client.put("/v1/users/ana", json=body, headers=api.host), 422)
    assert field in [e["field"] for e in found["errors"]]
    assert field in found["detail"]
    assert api.client.get("/v1/users/ana/preferences", headers=api.host).status_code == 404


def test_a_batch_with_one_bad_event_stores_none(api: Api) -> None:
    api.client.put("/v1/users/ana", json={}, headers=api.host)
    good = {"id": "e1", "user_id": "ana", "name": "login", "at": "2026-11-23T07:00:00Z"}
    naive = {**good, "id": "e2", "at": "2026-11-23T07:00:00"}
    found = problem(api.client.post("/v1/events", json=[good, naive], headers=api.host), 422)
    assert found["errors"][0]["field"] == "events.1.at"
    assert api.client.post("/v1/events", json=good, headers=api.host).json()["stored"] == 1


def test_bodies_over_the_limit_and_malformed_json_are_refused(api: Api) -> None:
    huge = b"[" + b" " * 1_100_000 + b"]"
    headers = {**api.host, "content-type": "application/json"}
    found = problem(api.client.post("/v1/events", content=huge, headers=headers), 413)
    assert "1,000,000 bytes" in found["detail"]
    problem(api.client.post("/v1/events", content=b"{oops", headers=headers), 422)


# ---- the inbox and actions ---------------------------------------------------------------------


def test_the_inbox_pages_newest_first_without_gaps_or_repeats(api: Api) -> None:
    with_demo(api.engine)
    user = max({n["user_id"] for n in api.delivered()}, key=lambda u: len(api.delivered(u)))
    expected = [n["id"] for n in api.engine.inbox(user)]
    assert len(expected) >= 3
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.client.get(f"/v1/users/{user}/nudges", params=params, headers=api.token(user))
        seen += [n["id"] for n in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    problem(api.client.get(f"/v1/users/{user}/nudges?cursor=nonsense", headers=api.host), 422)


def test_the_inbox_shows_what_was_delivered_and_filters_by_status(api: Api) -> None:
    with_demo(api.engine)
    user = api.delivered()[0]["user_id"]
    items = api.client.get(f"/v1/users/{user}/nudges", headers=api.host).json()["items"]
    assert items
    assert {n["status"] for n in items} == {"delivered"}
    assert set(items[0]) >= {"id", "rule", "title", "body", "action_url", "channels"}
    scheduled = api.client.get(f"/v1/users/{user}/nudges?status=scheduled", headers=api.host)
    assert all(n["status"] == "scheduled" for n in scheduled.json()["items"])
    assert api.client.get("/v1/users/nobody/nudges", headers=api.host).status_code == 404


def test_reading_the_inbox_marks_nothing_seen_until_asked(api: Api) -> None:
    with_demo(api.engine)
    nudge = api.delivered()[0]
    user, auth = nudge["user_id"], api.token(nudge["user_id"])
    api.client.get(f"/v1/users/{user}/nudges", headers=auth)
    assert api.engine.nudge(nudge["id"])["seen_at"] is None
    seen = api.client.post(
        f"/v1/users/{user}/nudges/seen", json={"ids": [nudge["id"]]}, headers=auth
    )
    assert seen.json() == {"seen": 1}
    assert api.engine.nudge(nudge["id"])["seen_at"] == api.engine.clock.now()
    again = api.client.post(
        f"/v1/users/{user}/nudges/seen", json={"ids": [nudge["id"]]}, headers=auth
    )
    assert again.json() == {"seen": 0}


def test_a_user_accepts_snoozes_and_dismisses_their_nudges(api: Api) -> None:
    with_demo(api.engine)
    user = max({n["user_id"] for n in api.delivered()}, key=lambda u: len(api.delivered(u)))
    first, second, third = api.delivered(user)[:3]
    auth = api.token(user)
    accepted = api.client.post(f"/v1/nudges/{first['id']}/accept", headers=auth).json()
    assert accepted["status"] == "accepted"
    assert accepted["acted_at"] is not None
    snoozed = api.client.post(f"/v1/nudges/{second['id']}/snooze", json={"for": "4h"}, headers=auth)
    assert snoozed.json()["status"] == "snoozed"
    dismissed = api.client.post(f"/v1/nudges/{third['id']}/dismiss", headers=auth)
    assert dismissed.json()["status"] == "dismissed"

    found = problem(api.client.post(f"/v1/nudges/{third['id']}/snooze", json={"for": "1h"}, headers=auth), 409)  # fmt: skip
    assert third["id"] in found["detail"]
    bad = problem(api.client.post(f"/v1/nudges/{first['id']}/snooze", json={"for": "2d"}, headers=auth), 422)  # fmt: skip
    assert bad["errors"][0]["field"] == "for"
    problem(api.client.post("/v1/nudges/n_nothing/accept", headers=auth), 404)


def test_preferences_are_read_and_replaced_by_their_user(api: Api) -> None:
    api.client.put("/v1/users/ana", json={"timezone": "Asia/Tokyo"}, headers=api.host)
    auth = api.token("ana")
    wanted = {"proactive": False, "quiet_hours": {"start": "21:00", "end": "08:30"}, "channels": ["in_app"]}  # fmt: skip
    put = api.client.put("/v1/users/ana/preferences", json=wanted, headers=auth)
    assert put.status_code == 200
    got = api.client.get("/v1/users/ana/preferences", headers=auth).json()
    assert got["proactive"] is False
    assert got["quiet_hours"] == {"start": "21:00", "end": "08:30"}
    bad = {"quiet_hours": {"start": "25:00", "end": "07:00"}}
    found = problem(api.client.put("/v1/users/ana/preferences", json=bad, headers=auth), 422)
    assert found["errors"][0]["field"].startswith("quiet_hours.start")
    assert api.engine.preferences("ana").proactive is False


def test_explain_answers_for_a_time_and_changes_nothing(api: Api) -> None:
    with_demo(api.engine)
    user = api.delivered()[0]["user_id"]
    before = api.engine.nudges(user_id=user)
    at = "2026-11-24T08:00:00Z"
    found = api.client.get(f"/v1/users/{user}/explain", params={"at": at}, headers=api.token(user))
    assert found.status_code == 200
    assert found.json()["rules"]
    assert api.engine.nudges(user_id=user) == before
    problem(api.client.get(f"/v1/users/{user}/explain?at=tuesday", headers=api.host), 422)


# ---- who may do what ------------------------------------------------------------------------


def test_a_users_token_reaches_nothing_of_another_user(api: Api) -> None:
    with_demo(api.engine)
    owners = sorted({n["user_id"] for n in api.delivered()})
    ana, ben = owners[0], owners[1]
    bens = api.delivered(ben)[0]
    auth = api.token(ana)
    attempts = [
        ("GET", f"/v1/users/{ben}/nudges", None),
        ("GET", f"/v1/users/{ben}/preferences", None),
        ("PUT", f"/v1/users/{ben}/preferences", {"proactive": False}),
        ("GET", f"/v1/users/{ben}/explain", None),
        ("POST", f"/v1/users/{ben}/nudges/seen", {"ids": [bens["id"]]}),
        ("POST", f"/v1/nudges/{bens['id']}/accept", None),
        ("POST", f"/v1/nudges/{bens['id']}/dismiss", None),
        ("POST", f"/v1/nudges/{bens['id']}/snooze", {"for": "1h"}),
        ("POST", f"/v1/users/{ben}/tokens", None),
        ("PUT", f"/v1/users/{ben}", {}),
        ("DELETE", f"/v1/users/{ben}", None),
        ("PUT", f"/v1/users/{ben}/records/goal/g1", {}),
        (
            "POST",
            "/v1/events",
            {"id": "x", "user_id": ben, "name": "n", "at": "2026-11-23T07:00:00Z"},
        ),
    ]
    for method, path, body in attempts:
        response = api.client.request(method, path, json=body, headers=auth)
        assert response.status_code in (403, 404), (method, path, response.text)
        assert bens["id"] not in response.text or "not" in response.json()["detail"]
        assert response.headers["content-type"] == PROBLEM
    assert api.engine.nudge(bens["id"])["status"] == "delivered"
    assert api.engine.nudge(bens["id"])["seen_at"] is None
    assert api.engine.preferences(ben).proactive is True


def test_admin_routes_take_admin_keys_only(api: Api) -> None:
    api.client.put("/v1/users/ana", json={}, headers=api.host)
    routes = [
        ("GET", "/v1/admin/rules", None),
        ("POST", "/v1/admin/rules/daily_check/pause", None),
        ("POST", "/v1/admin/rules/daily_check/resume", None),
        ("GET", "/v1/admin/orgs/acme", None),
        ("PUT", "/v1/admin/orgs/acme", {"agent_enabled": False}),
        ("POST", "/v1/admin/sweeps", {"dry_run": True}),
        ("GET", "/v1/admin/metrics", None),
        ("GET", "/v1/admin/audit", None),
    ]
    for method, path, body in routes:
        for who, status in ((api.host, 403), (api.token("ana"), 403), ({}, 401)):
            response = api.client.request(method, path, json=body, headers=who)
            assert response.status_code == status, (method, path, response.text)
        assert api.client.request(method, path, json=body, headers=api.admin).status_code == 200
    assert api.engine.organisation("acme")["agent_enabled"] is False


def test_revoked_keys_and_expired_or_forged_tokens_are_refused(
    api: Api, clock: FrozenClock
) -> None:
    api.client.put("/v1/users/ana", json={}, headers=api.host)
    key_id = api.engine.credentials.list_keys()[0]["id"]
    api.engine.credentials.revoke_key(key_id)
    found = problem(api.client.get("/v1/users/ana/preferences", headers=api.host), 401)
    assert "revoked" in found["detail"]

    token = api.token("ana", hours=1)
    assert api.client.get("/v1/users/ana/preferences", headers=token).status_code == 200
    forged = {"Authorization": token["Authorization"][:-2] + "xx"}
    problem(api.client.get("/v1/users/ana/preferences", headers=forged), 401)
    clock.advance(timedelta(hours=1, seconds=1))
    assert "expired" in problem(api.client.get("/v1/users/ana/preferences", headers=token), 401)["detail"]  # fmt: skip
    problem(api.client.get("/v1/users/ana/preferences", headers={"Authorization": "Bearer nope"}), 401)  # fmt: skip


def test_a_host_key_hands_out_user_tokens(api: Api) -> None:
    api.client.put("/v1/users/ana", json={}, headers=api.host)
    made = api.client.post("/v1/users/ana/tokens", json={"hours": 2}, headers=api.host).json()
    assert made["token"].startswith("nfu_")
    assert made["expires_at"] == "2026-11-23T10:00:00Z"
    auth = {"Authorization": f"Bearer {made['token']}"}
    assert api.client.get("/v1/users/ana/nudges", headers=auth).status_code == 200
    problem(api.client.post("/v1/users/nobody/tokens", headers=api.host), 404)


# ---- operators ------------------------------------------------------------------------------


def test_admin_changes_are_audited_with_the_key_that_made_them(api: Api) -> None:
    paused = api.client.post("/v1/admin/rules/skill_gap/pause", headers=api.admin).json()
    assert paused["paused"] is True
    problem(api.client.post("/v1/admin/rules/no_such_rule/pause", headers=api.admin), 404)
    api.client.put("/v1/admin/orgs/uni-north", json={"agent_enabled": False}, headers=api.admin)
    log = api.client.get("/v1/admin/audit?limit=2", headers=api.admin).json()
    assert [e["action"] for e in log] == ["org.agent", "rule.pause"]
    assert all(e["actor"].endswith("(ops)") for e in log)
    assert log[1]["target"] == "rule:skill_gap"


def test_a_dry_run_sweep_reports_and_writes_nothing(api: Api) -> None:
    with_demo(api.engine)
    api.engine.track([{"id": "fresh", "user_id": "demo-0001", "name": "login", "at": "2026-11-23T07:59:00Z"}])  # fmt: skip
    before = api.engine.nudges(limit=10_000)
    dry = api.client.post("/v1/admin/sweeps", json={"dry_run": True}, headers=api.admin).json()
    assert dry["dry_run"] is True
    assert dry["users_evaluated"] == 1
    assert api.engine.nudges(limit=10_000) == before
    real = api.client.post("/v1/admin/sweeps", json={}, headers=api.admin).json()
    assert real["users_evaluated"] == 1
    assert "delivery" in real


def test_the_report_counts_what_users_did_with_their_nudges(api: Api, clock: FrozenClock) -> None:
    with_demo(api.engine)
    delivered = api.delivered()
    assert len(delivered) >= 4
    clock.advance(timedelta(hours=2))
    for nudge, action in zip(delivered, ("accept", "accept", "dismiss"), strict=False):
        api.client.post(f"/v1/nudges/{nudge['id']}/{action}", headers=api.host)
    api.engine.set_preferences(delivered[0]["user_id"], {"proactive": False})
    total = api.client.get("/v1/admin/metrics?period=7d", headers=api.admin).json()["total"]
    assert total["delivered"] == len(delivered)
    assert (total["accepted"], total["dismissed"]) == (2, 1)
    assert total["acceptance_rate"] == round(2 / len(delivered), 4)
    assert total["dismissal_rate"] == round(1 / len(delivered), 4)
    assert total["engagement_rate"] == round(3 / len(delivered), 4)
    assert total["average_hours_to_action"] == 2.0
    assert total["users_with_nudges_off"] == round(1 / 12, 4)
    problem(api.client.get("/v1/admin/metrics?period=1y", headers=api.admin), 422)


def test_health_readiness_and_prometheus_metrics(api: Api) -> None:
    with_demo(api.engine)
    assert api.client.get("/healthz").json()["status"] == "ok"
    assert api.client.get("/readyz").json() == {"status": "ready"}
    text = api.client.get("/metrics").text
    assert "nudgeflow_due_users " in text
    assert 'nudgeflow_decisions_total{outcome="scheduled",rule=' in text
    assert 'nudgeflow_deliveries_total{channel="in_app",result="sent"}' in text
    assert "nudgeflow_sweep_seconds_bucket" in text


# ---- idempotency and reads ------------------------------------------------------------------


def test_a_request_replayed_with_its_idempotency_key_returns_the_first_answer(api: Api) -> None:
    with_demo(api.engine)
    nudge = api.delivered()[0]
    headers = {**api.host, "Idempotency-Key": "snooze-1"}
    first = api.client.post(f"/v1/nudges/{nudge['id']}/snooze", json={"for": "1h"}, headers=headers)
    again = api.client.post(f"/v1/nudges/{nudge['id']}/snooze", json={"for": "1h"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = api.client.post(f"/v1/nudges/{nudge['id']}/snooze", json={"for": "4h"}, headers=headers)
    assert "different request" in problem(other, 422)["detail"]
    # Without the key, the same request is a new one: a snoozed nudge cannot be snoozed again.
    problem(api.client.post(f"/v1/nudges/{nudge['id']}/snooze", json={"for": "1h"}, headers=api.host), 409)  # fmt: skip


def _everything(engine: Engine) -> dict[str, list[Any]]:
    import sqlalchemy as sa

    from nudgeflow.store.schema import metadata

    with engine.db.connect() as conn:
        return {
            t.name: sorted(map(repr, conn.execute(sa.select(t)).all()))
            for t in metadata.sorted_tables
        }


def test_no_get_changes_anything(api: Api) -> None:
    with_demo(api.engine)
    nudge = api.delivered()[0]
    user = nudge["user_id"]
    callers = (api.admin, api.token(user))
    before = _everything(api.engine)
    paths = [
        p for p, ops in api.client.get("/openapi.json").json()["paths"].items() if "get" in ops
    ]
    for path in paths:
        url = path.replace("{user_id}", user).replace("{org}", "acme")
        for who in callers:
            assert api.client.get(url, headers=who).status_code < 500
    assert _everything(api.engine) == before
