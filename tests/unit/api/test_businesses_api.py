from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.factories import make_business, unique_phone


def create(client: TestClient, admin: dict[str, str], **overrides: str):
    body = {
        "name": "Acme Dental",
        "phone_number": unique_phone(),
        "timezone": "Europe/London",
        **overrides,
    }
    return client.post("/api/v1/businesses", json=body, headers=admin)


def test_admin_creates_a_business_and_gets_its_api_key_once(client, admin) -> None:
    response = create(client, admin)
    assert response.status_code == 201
    body = response.json()
    assert body["api_key"].startswith("sbk_")
    assert body["business"]["timezone"] == "Europe/London"
    me = client.get("/api/v1/businesses/me", headers={"Authorization": f"Bearer {body['api_key']}"})
    assert me.status_code == 200
    assert me.json()["id"] == body["business"]["id"]
    assert "api_key" not in me.json()


def test_creating_a_business_needs_the_admin_key(client, admin) -> None:
    assert client.post("/api/v1/businesses", json={}).status_code == 401
    response = client.post(
        "/api/v1/businesses",
        json={"name": "x", "phone_number": unique_phone()},
        headers={"Authorization": "Bearer not-the-admin-key"},
    )
    assert response.status_code == 403
    assert response.json() == {"code": "forbidden", "detail": "admin API key required"}


def test_bad_input_is_a_422_that_names_the_field(client, admin) -> None:
    response = create(client, admin, phone_number="555-1234", timezone="Mars/Olympus")
    assert response.status_code == 422
    fields = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert ("body", "phone_number") in fields
    assert ("body", "timezone") in fields


def test_a_second_business_on_the_same_number_is_a_409(client, admin) -> None:
    phone = unique_phone()
    assert create(client, admin, phone_number=phone).status_code == 201
    response = create(client, admin, phone_number=phone)
    assert response.status_code == 409
    assert phone in response.json()["detail"]


def test_me_without_a_valid_key_is_401_json(client) -> None:
    assert client.get("/api/v1/businesses/me").json()["detail"].startswith("missing API key")
    response = client.get("/api/v1/businesses/me", headers={"Authorization": "Bearer sbk_nope"})
    assert response.status_code == 401
    assert response.json() == {"code": "unauthorized", "detail": "invalid or revoked API key"}


def test_two_authorization_headers_are_401_whichever_comes_first(client, admin) -> None:
    business = make_business()
    for keys in (
        (business.api_key, "sbk_nope"),
        ("sbk_nope", business.api_key),
        (business.api_key, business.api_key),
    ):
        headers = [("Authorization", f"Bearer {key}") for key in keys]
        for path in ("/api/v1/businesses/me", "/api/v1/leads"):
            response = client.get(path, headers=headers)
            assert response.status_code == 401, (keys, path)
            assert response.json()["code"] == "unauthorized"
            assert "more than once" in response.json()["detail"]
            assert response.headers["www-authenticate"] == "Bearer"
    admin_twice = [("Authorization", admin["Authorization"])] * 2
    assert client.get("/api/v1/businesses", headers=admin_twice).status_code == 401


def test_health_reports_threads_by_name_and_ready_is_200_when_embedded(client) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and "MainThread" in health["threads"]
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "broker": True, "schema": True}


def test_metrics_expose_queue_depth_from_the_ledger(client) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "switchboard_jobs" in response.text


def test_unknown_routes_are_json_404(client) -> None:
    response = client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not Found"}


def test_the_internal_agent_config_needs_the_internal_token(client, admin, embedded) -> None:
    phone = unique_phone()
    create(client, admin, phone_number=phone)
    assert client.get("/internal/v1/agent-config", params={"to": phone}).status_code == 401
    token = {"Authorization": f"Bearer {embedded.internal_api_token}"}
    config = client.get("/internal/v1/agent-config", params={"to": phone}, headers=token)
    assert config.status_code == 200
    assert config.json()["phone_number"] == phone and config.json()["greeting"]
    unknown = client.get("/internal/v1/agent-config", params={"to": "+19999999999"}, headers=token)
    assert unknown.status_code == 404
