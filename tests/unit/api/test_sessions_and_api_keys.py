"""Dashboard sessions end at logout on the server; API keys are issued and revoked by the admin."""

from __future__ import annotations

from tests.support.factories import make_business
from tests.unit.api.rows import auth
from tests.unit.api.test_dashboard_pages import log_in


def test_a_cookie_replayed_after_logout_opens_nothing(client) -> None:
    business = make_business()
    csrf = log_in(client, business)
    kept = client.cookies.get("sb_dashboard")
    assert client.post("/dashboard/logout", data={"csrf_token": csrf}).status_code == 200
    client.cookies.clear()
    client.cookies.set("sb_dashboard", kept, path="/dashboard")
    replayed = client.get("/dashboard", follow_redirects=False)
    assert replayed.status_code == 303 and replayed.headers["location"] == "/dashboard/login"
    assert client.get("/dashboard/api/runs").status_code == 401


def test_logging_out_one_session_leaves_the_others_logged_in(client) -> None:
    business = make_business()
    log_in(client, business)
    other = client.cookies.get("sb_dashboard")
    client.cookies.clear()
    csrf = log_in(client, business)
    client.post("/dashboard/logout", data={"csrf_token": csrf})
    client.cookies.clear()
    client.cookies.set("sb_dashboard", other, path="/dashboard")
    assert client.get("/dashboard", follow_redirects=False).status_code == 200


def test_a_new_key_works_beside_the_old_one_until_the_old_one_is_revoked(client, admin) -> None:
    business = make_business()
    path = f"/api/v1/businesses/{business.id}/api-keys"
    issued = client.post(path, json={"name": "rotation"}, headers=admin)
    assert issued.status_code == 201, issued.text
    new_key = issued.json()["api_key"]
    assert new_key.startswith(issued.json()["prefix"]) and issued.json()["name"] == "rotation"
    for key in (business.api_key, new_key):
        assert client.get("/api/v1/businesses/me", headers=auth(key)).status_code == 200
    keys = client.get(path, headers=admin).json()["items"]
    assert [k["name"] for k in keys] == ["default", "rotation"]
    assert all("api_key" not in k and "key_hash" not in k for k in keys)
    old_id = next(k["id"] for k in keys if business.api_key.startswith(k["prefix"]))
    assert client.delete(f"{path}/{old_id}", headers=admin).status_code == 204
    assert client.get("/api/v1/businesses/me", headers=auth(business.api_key)).status_code == 401
    assert client.get("/api/v1/businesses/me", headers=auth(new_key)).status_code == 200
    listed = {k["id"]: k for k in client.get(path, headers=admin).json()["items"]}
    assert listed[old_id]["revoked_at"] is not None
    assert client.delete(f"{path}/{old_id}", headers=admin).status_code == 204  # idempotent


def test_revoking_a_key_ends_the_dashboard_sessions_opened_with_it(client, admin) -> None:
    business = make_business()
    log_in(client, business)
    keys = client.get(f"/api/v1/businesses/{business.id}/api-keys", headers=admin).json()
    key_id = keys["items"][0]["id"]
    client.delete(f"/api/v1/businesses/{business.id}/api-keys/{key_id}", headers=admin)
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_api_key_routes_are_the_admin_s_and_name_what_is_missing(client, admin) -> None:
    business, other = make_business(), make_business()
    path = f"/api/v1/businesses/{business.id}/api-keys"
    assert client.post(path, headers=auth(business.api_key)).status_code == 403
    assert client.post(path).status_code == 401
    assert client.post(path, headers=admin).status_code == 201  # no body: named "default"
    missing = client.post("/api/v1/businesses/999999999/api-keys", headers=admin)
    assert missing.status_code == 404 and "business 999999999" in missing.json()["detail"]
    other_key = client.get(f"/api/v1/businesses/{other.id}/api-keys", headers=admin).json()
    foreign = client.delete(f"{path}/{other_key['items'][0]['id']}", headers=admin)
    assert foreign.status_code == 404
    assert client.get("/api/v1/businesses/me", headers=auth(other.api_key)).status_code == 200
    bad = client.post(path, json={"name": "a\u0000b"}, headers=admin)
    assert bad.status_code == 422 and "name" in bad.text
