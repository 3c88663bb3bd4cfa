"""Text PostgreSQL cannot store, and secrets in bytes no str comparison takes: each a 4xx that
names where it was, never a 500."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from switchboard.common.db import tenant_session
from switchboard.common.models import Lead
from switchboard.common.settings import Settings
from tests.support.factories import TestBusiness, make_business, unique_phone
from tests.unit.api import rows
from tests.unit.api.rows import auth

pytestmark = pytest.mark.integration

NUL = "a\x00b"


@pytest.fixture
def business() -> TestBusiness:
    return make_business()


def _nul_requests(business: TestBusiness) -> list[tuple[str, str, dict[str, Any], list[Any]]]:
    """(method, path, request arguments, the ``loc`` the 422 must name) for each text input."""
    lead = rows.lead(business.id)
    conversation = rows.written_conversation(business.id)
    return [
        ("POST", "/api/v1/leads", {"json": {"phone": unique_phone(), "name": NUL}}, ["name"]),
        ("PATCH", f"/api/v1/leads/{lead.id}", {"json": {"notes": NUL}}, ["notes"]),
        ("PATCH", f"/api/v1/leads/{lead.id}", {"json": {"email": "a\x00@b.co"}}, ["email"]),
        (
            "POST",
            "/api/v1/reminders",
            {"json": {"title": NUL, "due_at": "2030-01-01T09:00:00Z"}},
            ["title"],
        ),
        (
            "POST",
            f"/api/v1/conversations/{conversation.id}/messages",
            {"json": {"body": NUL}},
            ["body"],
        ),
        (
            "PATCH",
            "/api/v1/businesses/me",
            {"json": {"agent": {"instructions": NUL}}},
            ["agent", "instructions"],
        ),
        ("PATCH", "/api/v1/businesses/me", {"json": {"name": NUL}}, ["name"]),
        (
            "PATCH",
            "/api/v1/businesses/me",
            {"json": {"agent": {"agent_name": NUL}}},
            ["agent", "agent_name"],
        ),
        (
            "PATCH",
            "/api/v1/businesses/me",
            {"json": {"agent": {"greeting": NUL}}},
            ["agent", "greeting"],
        ),
        ("PATCH", "/api/v1/businesses/me", {"json": {"agent": {"voice": NUL}}}, ["agent", "voice"]),
        (
            "PATCH",
            "/api/v1/businesses/me",
            {"json": {"agent": {"language": NUL}}},
            ["agent", "language"],
        ),
        ("PATCH", "/api/v1/businesses/me", {"json": {"timezone": NUL}}, ["timezone"]),
        ("POST", "/api/v1/leads", {"json": {"phone": unique_phone(), "intent": NUL}}, ["intent"]),
        (
            "POST",
            "/api/v1/reminders",
            {"json": {"title": "t", "note": NUL, "due_at": "2030-01-01T09:00:00Z"}},
            ["note"],
        ),
        ("POST", "/api/v1/conversations", {"json": {"contact_number": NUL}}, ["contact_number"]),
        (
            "POST",
            "/api/v1/push-subscriptions",
            {
                "json": {
                    "endpoint": "https://push.example.com/x",
                    "keys": rows.push_keys(),
                    "label": NUL,
                }
            },
            ["label"],
        ),
        (
            "POST",
            "/api/v1/webhooks",
            {"json": {"url": "https://hooks.example.com/x", "events": [NUL]}},
            ["events", 0],
        ),
        (
            "POST",
            "/api/v1/push-subscriptions",
            {
                "json": {
                    "endpoint": "https://push.example.com/\x00",
                    "keys": rows.push_keys(),
                }
            },
            ["endpoint"],
        ),
        ("POST", "/api/v1/outbound-runs", {"json": {"name": NUL, "lead_ids": [lead.id]}}, ["name"]),
        (
            "POST",
            "/api/v1/outbound-runs",
            {"json": {"name": "Run", "filter": {"status": NUL}}},
            ["filter", "status"],
        ),
    ]


def test_a_nul_in_any_text_field_is_a_422_naming_the_field(
    client: TestClient, business: TestBusiness
) -> None:
    for method, path, arguments, loc in _nul_requests(business):
        response = client.request(method, path, headers=auth(business.api_key), **arguments)
        assert response.status_code == 422, (method, path, response.text)
        error = response.json()["detail"][0]
        # A field with a fixed vocabulary (webhook events, a lead status) refuses it as not one
        # of its values, which its message lists; a phone number, as not one.
        refused = "NUL" in error["msg"] or error["type"] in ("literal_error", "phone_number")
        assert error["loc"] == ["body", *loc] and refused, (path, error)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/leads", "q"),
        ("/api/v1/leads", "status"),
        ("/api/v1/calls", "number"),
        ("/api/v1/calls", "status"),
        ("/api/v1/conversations", "number"),
    ],
)
def test_a_nul_in_a_query_parameter_is_a_422_naming_it(
    client: TestClient, business: TestBusiness, path: str, name: str
) -> None:
    response = client.get(path, params={name: NUL}, headers=auth(business.api_key))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", name]


def test_a_nul_in_a_job_id_or_the_agent_config_number_is_a_422(
    client: TestClient, business: TestBusiness, pg: Settings
) -> None:
    job = client.get("/api/v1/jobs/a%00b", headers=auth(business.api_key))
    assert job.status_code == 422 and job.json()["detail"][0]["loc"] == ["path", "job_id"]
    internal = {"Authorization": f"Bearer {pg.internal_api_token}"}
    config = client.get("/internal/v1/agent-config", params={"to": NUL}, headers=internal)
    assert config.status_code == 422 and config.json()["detail"][0]["loc"] == ["query", "to"]


def test_a_business_named_with_a_nul_is_a_422_for_the_admin(
    client: TestClient, admin: dict[str, str]
) -> None:
    body = {"name": NUL, "phone_number": unique_phone()}
    created = client.post("/api/v1/businesses", json=body, headers=admin)
    assert created.status_code == 422 and created.json()["detail"][0]["loc"] == ["body", "name"]
    listed = client.get("/api/v1/businesses", params={"q": NUL}, headers=admin)
    assert listed.status_code == 422 and listed.json()["detail"][0]["loc"] == ["query", "q"]


def test_a_lone_surrogate_is_a_422_whose_body_is_still_json(
    client: TestClient, business: TestBusiness
) -> None:
    # Python's JSON reads "\ud800" into a str that UTF-8 cannot encode.
    body = json.dumps({"phone": unique_phone(), "name": "x\ud800"})  # ASCII, "\\ud800" escaped
    headers = {**auth(business.api_key), "Content-Type": "application/json"}
    response = client.post("/api/v1/leads", content=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]
    with tenant_session(business.id) as session:
        count = session.execute(select(func.count()).where(Lead.business_id == business.id))
        assert count.scalar_one() == 0


def test_nan_in_a_number_is_a_422_with_a_json_body(
    client: TestClient, business: TestBusiness
) -> None:
    body = '{"agent": {"silence_timeout_s": NaN}}'
    headers = {**auth(business.api_key), "Content-Type": "application/json"}
    response = client.patch("/api/v1/businesses/me", content=body, headers=headers)
    assert response.status_code == 422
    assert json.loads(response.text)["detail"][0]["loc"] == ["body", "agent", "silence_timeout_s"]


@pytest.mark.parametrize("path", ["/api/v1/businesses", "/internal/v1/agent-config?to=%2B1"])
def test_a_bearer_token_with_non_ascii_bytes_is_refused_on_admin_and_internal_routes(
    client: TestClient, path: str
) -> None:
    response = client.get(path, headers=[(b"authorization", b"Bearer \xe9t\xe9\xff")])
    assert response.status_code == 403, response.text


def test_a_bearer_token_with_non_ascii_bytes_is_a_401_on_business_routes(
    client: TestClient,
) -> None:
    response = client.get("/api/v1/leads", headers=[(b"authorization", b"Bearer sbk_\xe9\xff")])
    assert response.status_code == 401


def test_a_dashboard_csrf_token_with_non_ascii_characters_is_a_403(
    client: TestClient, business: TestBusiness
) -> None:
    page = client.get("/dashboard/login").text
    assert re.search(r'name="csrf_token" value="([^"]+)"', page)
    response = client.post(
        "/dashboard/login", data={"api_key": business.api_key, "csrf_token": "jeton-\u00e9t\u00e9"}
    )
    assert response.status_code == 403
    nul = client.post("/dashboard/login", data={"api_key": NUL, "csrf_token": "x"})
    assert nul.status_code == 422


@pytest.mark.parametrize(
    "url", ["https://example.com/" + "a" * 981, "https://example.com/" + "\u00e9" * 300]
)
def test_a_webhook_url_over_its_column_once_normalised_is_a_422_not_a_500(
    client: TestClient, business: TestBusiness, url: str
) -> None:
    headers = auth(business.api_key)
    created = client.post("/api/v1/webhooks", json={"url": url}, headers=headers)
    assert created.status_code == 422, created.text
    assert created.json()["detail"][0]["loc"] == ["body", "url"]
    endpoint = client.post(
        "/api/v1/webhooks", json={"url": "https://example.com/in"}, headers=headers
    ).json()
    patched = client.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"url": url}, headers=headers)
    assert patched.status_code == 422, patched.text
    assert patched.json()["detail"][0]["loc"] == ["body", "url"]
