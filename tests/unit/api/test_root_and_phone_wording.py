"""The API's own address leads to its documentation, the site has an icon, and a bad phone
number is refused in words."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from switchboard.common.relative_redirects import relative
from tests.support.factories import make_business
from tests.unit.api.rows import auth

#: Digits ``\\d`` matches that are not ASCII: Arabic-Indic, fullwidth, Devanagari.
UNICODE_DIGITS = [
    "+1555\u0663\u0663\u06638888",
    "+1555\uff10\uff10\uff10\uff11\uff12\uff13\uff14",
    "+1555\u0966\u0966\u09661234",
]


def test_the_api_address_redirects_to_the_docs(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/docs"
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
def test_a_trailing_slash_is_a_307_to_the_path_without_it_whatever_the_host(
    client: TestClient, method: str
) -> None:
    """The 307's ``Location`` was an absolute URL built from the request's ``Host``
    (``http://evil.example/api/v1/leads?...``): now the path and query alone, resolved by the
    client against the address it used. Still a 307, so a POST stays a POST."""
    headers = {"Host": "evil.example", "X-Forwarded-Proto": "https"}
    response = client.request(
        method, "/api/v1/leads/?limit=5&q=a%20b", headers=headers, follow_redirects=False
    )
    assert response.status_code == 307, response.text
    assert response.headers["location"] == "/api/v1/leads?limit=5&q=a%20b"
    key = auth(make_business().api_key)
    assert client.get("/api/v1/leads/", headers=key).json()["items"] == []  # followed, here
    assert client.get("/docs/", follow_redirects=False).headers["location"] == "/docs"


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
    assert (
        schema["BusinessCreate"]["properties"]["phone_number"]["pattern"] == r"^\+[1-9][0-9]{6,14}$"
    )
    assert schema["LeadCreate"]["properties"]["phone"]["pattern"] == r"^\+[1-9][0-9]{6,14}$"


@pytest.mark.parametrize("number", UNICODE_DIGITS)
def test_a_phone_number_with_digits_other_than_ascii_is_refused_everywhere(
    client: TestClient, admin: dict[str, str], number: str
) -> None:
    business = make_business()
    headers = auth(business.api_key)
    bodies = [
        ("/api/v1/leads", headers, {"phone": number}, "phone"),
        ("/api/v1/conversations", headers, {"contact_number": number}, "contact_number"),
        ("/api/v1/businesses", admin, {"name": "Acme", "phone_number": number}, "phone_number"),
    ]
    for path, who, body, field in bodies:
        response = client.post(path, json=body, headers=who)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["detail"][0]["loc"] == ["body", field]
    imported = client.post(
        "/api/v1/leads/import",
        files={"file": ("leads.csv", f"phone,name\n{number},Ann\n".encode())},
        headers=headers,
    )
    assert imported.status_code == 400
    assert [(e["line"], e["field"]) for e in imported.json()["errors"]] == [(2, "phone")]


def test_only_a_location_on_the_request_s_own_origin_is_made_relative() -> None:
    origin = "http://api.example:8000"
    assert relative("http://api.example:8000/docs?x=1", origin) == "/docs?x=1"
    assert relative("http://api.example:80001/x", origin) == "http://api.example:80001/x"
    assert relative("https://elsewhere.example/x", origin) == "https://elsewhere.example/x"
    assert relative("http://api.example:8000//evil.example", origin) == "/%2Fevil.example"
    assert relative("/docs", origin) == "/docs"
