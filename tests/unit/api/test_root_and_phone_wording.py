"""The API's own address leads to its documentation, the site has an icon, and a bad phone
number is refused in words."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_the_api_address_redirects_to_the_docs(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/docs"
    assert client.get("/").status_code == 200


def test_the_dashboard_links_an_icon_that_is_served(client: TestClient) -> None:
    login = client.get("/dashboard/login")
    assert '<link rel="icon" href="/dashboard/static/favicon.svg"' in login.text
    for path in ("/dashboard/static/favicon.svg", "/favicon.ico"):
        icon = client.get(path)
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
        assert icon.text.startswith("<svg")


def test_a_phone_number_not_in_e164_form_is_a_422_in_words(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/businesses", headers=admin, json={"name": "Acme", "phone_number": "555"}
    )
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [e["msg"] for e in errors if e["loc"][-1] == "phone_number"] == [
        "is not a phone number in E.164 form (+15551234567)"
    ]


def test_the_schema_still_publishes_the_phone_pattern(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["BusinessCreate"]["properties"]["phone_number"]["pattern"] == r"^\+[1-9]\d{6,14}$"
    assert schema["LeadCreate"]["properties"]["phone"]["pattern"] == r"^\+[1-9]\d{6,14}$"
