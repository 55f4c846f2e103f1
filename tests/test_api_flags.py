"""Rolling the agent out over HTTP: admins first, then 10%, 50% and 100% of chosen plans, a
beta user let in, a university pulled out, and everything rolled back in one call."""

from __future__ import annotations

from typing import Any

import pytest

from api_support import Api, make_api
from nudgeflow.engine import Engine
from nudgeflow.flags import AGENT

FLAG = f"/v1/admin/flags/{AGENT}"


@pytest.fixture
def api(engine: Engine) -> Api:
    made = make_api(engine)
    users = [{"id": f"s{n:03d}", "plan": "premium", "org": "uni"} for n in range(100)]
    users += [{"id": "boss", "role": "admin", "plan": "free"}, {"id": "free1", "plan": "free"}]
    engine.upsert_users(users)
    return made


def on(api: Api, user_id: str) -> bool:
    answer = api.client.get(f"{FLAG}/evaluate", params={"user_id": user_id}, headers=api.admin)
    assert answer.status_code == 200, answer.text
    result: bool = answer.json()["on"]
    return result


def cohort(api: Api) -> set[str]:
    return {f"s{n:03d}" for n in range(100) if on(api, f"s{n:03d}")}


def test_a_rollout_from_admins_to_everyone_and_back(api: Api) -> None:
    c, h = api.client, api.admin
    made = c.put(FLAG, json={"roles": ["admin"], "plans": ["premium"], "percentage": 0}, headers=h)
    assert made.status_code == 200, made.text
    assert on(api, "boss")
    assert not on(api, "s001")
    assert not on(api, "free1")

    c.post(f"{FLAG}/rollout", json={"percentage": 10}, headers=h)
    at_10 = cohort(api)
    c.post(f"{FLAG}/rollout", json={"percentage": 50}, headers=h)
    at_50 = cohort(api)
    assert 0 < len(at_10) < len(at_50) < 100
    assert at_10 <= at_50  # sticky: nobody in at 10% is out at 50%
    assert not on(api, "free1")  # the plan is not among the chosen ones

    allowed = c.post(f"{FLAG}/allow", json={"add": ["free1"]}, headers=h).json()
    assert allowed["allow"] == ["free1"]
    assert on(api, "free1")
    c.post(f"{FLAG}/rollout", json={"percentage": 100}, headers=h)
    assert len(cohort(api)) == 100

    c.put("/v1/admin/orgs/uni", json={"agent_enabled": False}, headers=h)
    answer = c.get(f"{FLAG}/evaluate", params={"user_id": "s001"}, headers=h).json()
    assert answer == {
        "on": False, "rule": "kill_switch",
        "reason": f"flag {AGENT}: organisation uni has the kill switch on",
    }  # fmt: skip

    stopped = c.post("/v1/admin/flags/off-all", headers=h).json()
    assert stopped == {"disabled": [AGENT]}
    assert not on(api, "boss")
    assert not on(api, "free1")


def test_patch_changes_only_what_it_names_and_denies_win(api: Api) -> None:
    c, h = api.client, api.admin
    c.put(FLAG, json={"plans": ["premium"], "percentage": 100}, headers=h)
    patched = c.patch(FLAG, json={"beta": True, "deny": ["s002"]}, headers=h).json()

    assert (patched["plans"], patched["percentage"], patched["beta"]) == (["premium"], 100, True)
    assert not on(api, "s001")  # in beta, and s001 did not opt in
    api.engine.upsert_user({"id": "s001", "plan": "premium", "traits": {"beta": [AGENT]}})
    assert on(api, "s001")
    api.engine.upsert_user({"id": "s002", "plan": "premium", "traits": {"beta": True}})
    assert not on(api, "s002")
    assert c.get(FLAG, headers=h).json() == patched
    assert [f["key"] for f in c.get("/v1/admin/flags", headers=h).json()] == [AGENT]


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("rollout", {"percentage": 130}, "percentage"),
        ("allow", {"add": ["not a user id!"]}, "add.0"),
        ("deny", {"add": ["ok"], "colour": "red"}, "colour"),
    ],
)
def test_invalid_changes_are_422_naming_the_field_and_change_nothing(
    api: Api, path: str, body: dict[str, Any], named: str
) -> None:
    api.client.put(FLAG, json={"percentage": 10}, headers=api.admin)
    before = api.client.get(FLAG, headers=api.admin).json()

    answer = api.client.post(f"{FLAG}/{path}", json=body, headers=api.admin)

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert named in answer.text
    assert api.client.get(FLAG, headers=api.admin).json() == before


def test_an_unknown_plan_and_a_missing_flag_are_clear(api: Api) -> None:
    unknown = api.client.put(FLAG, json={"plans": ["platinum"]}, headers=api.admin)
    assert unknown.status_code == 422
    assert "platinum" in unknown.json()["detail"]
    missing = api.client.post("/v1/admin/flags/ghost/disable", headers=api.admin)
    assert missing.status_code == 404
    assert api.client.get("/v1/admin/flags", headers=api.admin).json() == []


def test_flag_routes_take_admin_keys_only_and_audit_who(api: Api) -> None:
    routes = [
        ("GET", "/v1/admin/flags", None),
        ("PUT", FLAG, {"percentage": 5}),
        ("PATCH", FLAG, {"percentage": 6}),
        ("GET", FLAG, None),
        ("POST", f"{FLAG}/rollout", {"percentage": 7}),
        ("POST", f"{FLAG}/allow", {"add": ["s001"]}),
        ("POST", f"{FLAG}/deny", {"add": ["s002"]}),
        ("POST", f"{FLAG}/disable", None),
        ("POST", f"{FLAG}/enable", None),
        ("GET", f"{FLAG}/evaluate?user_id=s001", None),
        ("POST", "/v1/admin/flags/off-all", None),
    ]
    for method, path, body in routes:
        for who, status in ((api.host, 403), (api.token("s001"), 403), ({}, 401)):
            response = api.client.request(method, path, json=body, headers=who)
            assert response.status_code == status, (method, path, response.text)
        answer = api.client.request(method, path, json=body, headers=api.admin)
        assert answer.status_code == 200, (method, path, answer.text)

    log = api.client.get("/v1/admin/audit?limit=20", headers=api.admin).json()
    changes = [e for e in reversed(log) if e["action"].startswith("flag.")]
    assert [e["action"] for e in changes] == [
        "flag.create", "flag.update", "flag.rollout", "flag.allow", "flag.deny",
        "flag.disable", "flag.enable", "flag.off_all",
    ]  # fmt: skip
    assert all(e["actor"].endswith("(ops)") for e in changes)
