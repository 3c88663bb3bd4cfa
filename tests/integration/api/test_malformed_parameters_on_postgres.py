"""Cursors we did not issue, ids beyond BIGINT, times that leave the calendar in UTC and CSV
files the ``csv`` module balks at: each a 4xx naming the parameter or line, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.factories import TestBusiness, make_business, unique_phone
from tests.unit.api import rows
from tests.unit.api.rows import auth

pytestmark = pytest.mark.integration


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


MALFORMED_CURSORS = [
    "garbage!",
    "\u00e9t\u00e9",
    _cursor(["x"]),
    _cursor([[]]),
    _cursor([{"id": 1}]),
    _cursor([2**70]),
    _cursor([-1]),
    _cursor([1.5]),
    _cursor(["a\x00b"]),
    _cursor(["2030-01-01T00:00:00", ["x"]]),
    _cursor(["not a time", "job"]),
    _cursor([None, "job"]),
    _cursor(["2030-01-01T00:00:00", "a\x00b"]),
    _cursor(["2030-01-01T00:00:00", "x" * 37]),
    _cursor(["2030-01-01T00:00:00", "\ud800"]),
    _cursor(["2030-01-01T00:00:00", "job\udfff"]),
    _cursor(["2030-01-01T00:00:00Z", "job"]),
    base64.urlsafe_b64encode(b"[ 7]").decode(),
    _cursor([7]) + "==",
    base64.urlsafe_b64encode(b"[" * 100 + b"]" * 100).decode(),
    "W" * 1000,
]


@pytest.fixture
def business() -> TestBusiness:
    return make_business()


def test_a_malformed_cursor_on_runs_items_or_jobs_is_a_422_naming_it(
    client: TestClient, business: TestBusiness
) -> None:
    headers = auth(business.api_key)
    lead = rows.lead(business.id)
    run = client.post(
        "/api/v1/outbound-runs", json={"name": "Run", "lead_ids": [lead.id]}, headers=headers
    ).json()
    paths = ["/api/v1/outbound-runs", f"/api/v1/outbound-runs/{run['id']}/items", "/api/v1/jobs"]
    for path in paths:
        for cursor in MALFORMED_CURSORS:
            response = client.get(path, params={"cursor": cursor}, headers=headers)
            assert response.status_code == 422, (path, cursor, response.text)
            assert response.json()["detail"][0]["loc"] == ["query", "cursor"], (path, cursor)


@pytest.mark.parametrize(
    ("lead_ids", "loc"),
    [
        ([2**63], ["body", "lead_ids", 0]),
        ([1, 2**64], ["body", "lead_ids", 1]),
        ([-(2**63) - 1], ["body", "lead_ids", 0]),
        (list(range(1, 100_001)), ["body", "lead_ids"]),
    ],
)
def test_lead_ids_beyond_bigint_or_too_many_are_a_422(
    client: TestClient, business: TestBusiness, lead_ids: list[int], loc: list[object]
) -> None:
    response = client.post(
        "/api/v1/outbound-runs",
        json={"name": "Run", "lead_ids": lead_ids},
        headers=auth(business.api_key),
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


#: What a lenient reading took for a whole number: ``true`` was 1, the others the id itself.
NOT_JSON_INTEGERS = [True, "{id}", "{id}.0", 1.0]


def _not_an_integer(template: object, lead_id: int) -> object:
    if template == 1.0 and not isinstance(template, bool):
        return float(lead_id)
    return template.format(id=lead_id) if isinstance(template, str) else template


@pytest.mark.parametrize("template", NOT_JSON_INTEGERS)
@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        (
            "/api/v1/reminders",
            {"title": "x", "due_at": "2030-01-01T09:00:00Z", "lead_id": "{value}"},
            ["body", "lead_id"],
        ),
        ("/api/v1/outbound-runs", {"name": "R", "lead_ids": ["{value}"]}, ["body", "lead_ids", 0]),
        (
            "/api/v1/outbound-runs",
            {"name": "R", "lead_ids": ["{lead}"], "concurrency": "{value}"},
            ["body", "concurrency"],
        ),
    ],
)
def test_an_id_or_count_in_a_body_that_is_no_json_integer_is_a_422_naming_it(
    client: TestClient,
    business: TestBusiness,
    template: object,
    path: str,
    body: dict[str, Any],
    loc: list[object],
) -> None:
    # Read leniently, {"lead_id": true} made a reminder of lead 1, and "7" or 7.0 of lead 7.
    headers = auth(business.api_key)
    lead = rows.lead(business.id)
    value = _not_an_integer(template, lead.id)
    fill = {'"{value}"': json.dumps(value), '"{lead}"': str(lead.id)}
    text = json.dumps(body)
    for placeholder, written in fill.items():
        text = text.replace(placeholder, written)

    response = client.post(
        path, content=text, headers={**headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert (error["loc"], error["type"]) == (loc, "int_type")
    for listed in ("/api/v1/reminders", "/api/v1/outbound-runs"):
        assert client.get(listed, headers=headers).json()["items"] == []


#: What a lenient reading took for a boolean: each was true or false.
NOT_JSON_BOOLEANS = ["true", "false", "yes", "on", "0", 1, 0, 1.0]


@pytest.mark.parametrize("value", NOT_JSON_BOOLEANS, ids=repr)
@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("POST", "/api/v1/webhooks", "active"),
        ("PATCH", "/api/v1/webhooks/{endpoint}", "active"),
        ("PATCH", "/api/v1/webhooks/{endpoint}", "rotate_secret"),
        ("PATCH", "/api/v1/businesses/me", "recording_enabled"),
        ("PATCH", "/api/v1/businesses/{business}", "recording_enabled"),
    ],
)
def test_a_boolean_in_a_body_that_is_no_json_boolean_is_a_422_naming_it(
    client: TestClient,
    admin: dict[str, str],
    business: TestBusiness,
    value: object,
    method: str,
    path: str,
    field: str,
) -> None:
    # Read leniently, {"active": "false"} was false but {"active": "no thanks"} a 422, and
    # {"recording_enabled": 1} turned recording on.
    headers = auth(business.api_key)
    hook = {"url": "https://hooks.example.com/in"}
    endpoint = client.post("/api/v1/webhooks", json=hook, headers=headers).json()
    if path == "/api/v1/businesses/{business}":
        headers = admin
    before = client.get("/api/v1/businesses/me", headers=auth(business.api_key)).json()
    body = {**hook, field: value} if method == "POST" else {field: value}
    url = path.format(endpoint=endpoint["id"], business=business.id)

    response = client.request(method, url, json=body, headers=headers)

    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert (error["loc"], error["type"]) == (["body", field], "bool_type")
    hooks = client.get("/api/v1/webhooks", headers=auth(business.api_key)).json()["items"]
    assert [(h["id"], h["active"]) for h in hooks] == [(endpoint["id"], True)]
    assert client.get("/api/v1/businesses/me", headers=auth(business.api_key)).json() == before


@pytest.mark.parametrize(
    ("url", "loc"),
    [
        ("/api/v1/leads/{id}.0", ["path", "lead_id"]),
        ("/api/v1/leads/+{id}", ["path", "lead_id"]),
        ("/api/v1/leads/%20{id}", ["path", "lead_id"]),
        ("/api/v1/leads/{id}_0", ["path", "lead_id"]),
        ("/api/v1/leads?limit=1_0", ["query", "limit"]),
        ("/api/v1/jobs?limit=%2B5", ["query", "limit"]),
        ("/api/v1/calls?lead_id={id}.0", ["query", "lead_id"]),
        ("/api/v1/reminders?lead_id=%2B{id}", ["query", "lead_id"]),
    ],
)
def test_an_id_or_limit_in_the_url_not_written_in_digits_is_a_422_naming_it(
    client: TestClient, business: TestBusiness, url: str, loc: list[object]
) -> None:
    # Read leniently, /leads/7.0, /leads/+7 and /leads/%207 were lead 7, /leads/7_0 lead 70.
    lead = rows.lead(business.id)

    response = client.get(url.format(id=lead.id), headers=auth(business.api_key))

    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"] == loc
    assert error["msg"] == "Input should be a whole number written in the digits 0-9, like 42"


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/api/v1/leads?limit=5&limit=500", "limit"),  # a dependency's (Paging's) parameter
        ("/api/v1/leads?status=new&status=won", "status"),  # declared under an alias
        ("/api/v1/jobs?limit=5&limit=5", "limit"),  # the same value twice
        ("/api/v1/calls?lead_id={id}&direction=inbound&lead_id=1", "lead_id"),
        ("/api/v1/reminders?due_before=2030-01-01T00:00:00Z&due_before=", "due_before"),
    ],
)
def test_a_query_parameter_given_more_than_once_is_a_422_naming_it(
    client: TestClient, business: TestBusiness, url: str, name: str
) -> None:
    # Read leniently, the last value won: ?limit=5&limit=500 asked for 500 rows.
    lead = rows.lead(business.id)

    response = client.get(url.format(id=lead.id), headers=auth(business.api_key))

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == [
        {
            "loc": ["query", name],
            "msg": "given more than once (2 times): send it once",
            "type": "repeated_parameter",
        }
    ]


def test_a_repeated_query_parameter_still_comes_after_the_credentials(
    client: TestClient, business: TestBusiness
) -> None:
    unknown = client.get("/api/v1/leads?limit=1&limit=2")
    not_admin = client.get(
        "/api/v1/admin/parked-events?limit=1&limit=2", headers=auth(business.api_key)
    )
    assert (unknown.status_code, not_admin.status_code) == (401, 403)


def test_a_query_parameter_once_and_one_the_route_does_not_declare_are_taken(
    client: TestClient, business: TestBusiness
) -> None:
    # Only a parameter the route reads as one value is checked: ``utm`` is not read at all.
    headers = auth(business.api_key)
    for url in ("/api/v1/leads?limit=5&status=new", "/api/v1/leads?utm=a&utm=b"):
        assert client.get(url, headers=headers).status_code == 200, url


@pytest.mark.parametrize("due_at", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
def test_a_due_time_outside_the_calendar_in_utc_is_a_422(
    client: TestClient, business: TestBusiness, due_at: str
) -> None:
    headers = auth(business.api_key)
    created = client.post(
        "/api/v1/reminders", json={"title": "x", "due_at": due_at}, headers=headers
    )
    assert created.status_code == 422, created.text
    assert created.json()["detail"][0]["loc"] == ["body", "due_at"]
    listed = client.get("/api/v1/reminders", params={"due_before": due_at}, headers=headers)
    assert listed.status_code == 422 and listed.json()["detail"][0]["loc"] == [
        "query",
        "due_before",
    ]


def _import(client: TestClient, business: TestBusiness, data: bytes) -> dict[str, Any]:
    response = client.post(
        "/api/v1/leads/import",
        files={"file": ("leads.csv", data)},
        headers=auth(business.api_key),
    )
    assert response.status_code in (200, 400), response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_csv_with_cr_only_line_endings_is_imported(
    client: TestClient, business: TestBusiness
) -> None:
    data = f"phone,name\r{unique_phone()},Ann\r{unique_phone()},Bob\r".encode()
    assert _import(client, business, data) == {"created": 2, "updated": 0, "errors": []}


def test_a_csv_field_beyond_the_csv_limit_is_an_error_naming_its_line(
    client: TestClient, business: TestBusiness
) -> None:
    data = f"phone,notes\n{unique_phone()},ok\n{unique_phone()},{'x' * 131_073}\n".encode()
    result = _import(client, business, data)
    assert result["created"] == 0
    assert [(e["line"], e["field"]) for e in result["errors"]] == [(3, "file")]


def test_a_csv_field_with_a_nul_is_an_error_naming_line_and_field(
    client: TestClient, business: TestBusiness
) -> None:
    data = f"phone,name\n{unique_phone()},a\x00b\n".encode()
    result = _import(client, business, data)
    assert result["created"] == 0
    assert [(e["line"], e["field"]) for e in result["errors"]] == [(2, "name")]
