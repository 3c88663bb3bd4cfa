"""The API's finish: a summary of its own per operation, a ``code`` on every error, every time
in UTC with ``Z``, lead statuses and webhook events from one list each, and ``/docs`` and
``/redoc`` served from vendored files."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from switchboard.api.errors import install_error_handlers
from switchboard.api.routes import api_docs
from switchboard.common.bootstrap import adapters
from switchboard.common.http_errors import ERROR_CODES
from switchboard.common.integrations.text_rules import LeadStatus as AnalysisStatus
from switchboard.common.utc_text import utc_text
from switchboard.domain.calls import followups
from switchboard.domain.leads.statuses import LEAD_STATUSES
from switchboard.domain.webhooks.events import WEBHOOK_EVENTS
from tests.support.factories import make_business, unique_phone
from tests.unit.api import rows
from tests.unit.api.rows import auth
from tests.unit.api.test_dashboard_pages import log_in

TIME_EXAMPLE = "2026-12-04T10:00:00.000Z"
UTC_TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
EXTERNAL_URL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation


# --- summaries -------------------------------------------------------------------------


def test_every_operation_has_a_summary_no_other_operation_has(client: TestClient) -> None:
    spec = client.app.openapi()  # type: ignore[attr-defined]
    summaries = {(method, path): op.get("summary") for method, path, op in _operations(spec)}

    assert all(summaries.values()), [where for where, text in summaries.items() if not text]
    repeated = [text for text, count in Counter(summaries.values()).items() if count > 1]
    assert not repeated, {text: [w for w, s in summaries.items() if s == text] for text in repeated}
    assert summaries[("POST", "/api/v1/outbound-runs/{run_id}/cancel")] == "Cancel an outbound run"


# --- error bodies ----------------------------------------------------------------------


def test_every_documented_error_is_an_error_response_with_its_code(client: TestClient) -> None:
    spec = client.app.openapi()  # type: ignore[attr-defined]
    assert "HTTPValidationError" not in str(spec)
    for method, path, operation in _operations(spec):
        assert "500" in operation["responses"], (method, path)
        if "requestBody" in operation:  # every body has a limit
            assert "413" in operation["responses"], (method, path)
        for status, response in operation["responses"].items():
            body = response.get("content", {}).get("application/json", {})
            if int(status) < 400 or body.get("schema", {}).get("$ref") is None:
                continue  # not JSON, or not only an error (a CSV import's report)
            assert body["schema"]["$ref"] == "#/components/schemas/ErrorResponse", (path, status)
            assert body["example"]["code"] == ERROR_CODES[int(status)], (method, path, status)
    error = spec["components"]["schemas"]["ErrorResponse"]
    assert set(error["required"]) == {"code", "detail"}
    assert set(error["properties"]["code"]["enum"]) >= set(ERROR_CODES.values())


def test_errors_from_routing_and_authentication_carry_their_code(client: TestClient) -> None:
    unknown = client.get("/api/v1/nothing-here")
    wrong_method = client.put("/api/v1/leads")
    no_key = client.get("/api/v1/leads")
    not_admin = client.get("/api/v1/businesses", headers=auth(make_business().api_key))

    assert (unknown.status_code, unknown.json()) == (
        404,
        {"code": "not_found", "detail": "Not Found"},
    )
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, "method_not_allowed")
    assert (no_key.status_code, no_key.json()["code"]) == (401, "unauthorized")
    assert no_key.headers["www-authenticate"] == "Bearer"
    assert (not_admin.status_code, not_admin.json()["code"]) == (403, "forbidden")


def test_domain_errors_carry_their_code_beside_their_detail(client: TestClient) -> None:
    headers = auth(make_business().api_key)
    phone = unique_phone()
    client.post("/api/v1/leads", json={"phone": phone}, headers=headers)

    missing = client.get("/api/v1/leads/999999", headers=headers).json()
    duplicate = client.post("/api/v1/leads", json={"phone": phone}, headers=headers).json()
    foreign_lead = rows.lead(make_business().id)
    bad_reference = client.post(
        "/api/v1/reminders",
        json={"title": "x", "due_at": "2030-01-01T09:00:00Z", "lead_id": foreign_lead.id},
        headers=headers,
    ).json()

    assert missing == {"code": "not_found", "detail": "lead 999999 not found"}
    assert duplicate["code"] == "conflict" and phone in duplicate["detail"]
    assert bad_reference["code"] == "validation_error"
    assert bad_reference["detail"][0]["loc"] == ["body", "lead_id"]


def test_a_422_keeps_fastapis_list_of_field_errors_under_detail(client: TestClient) -> None:
    headers = auth(make_business().api_key)
    response = client.post("/api/v1/leads", json={"phone": "555"}, headers=headers)

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert [error["loc"] for error in body["detail"]] == [["body", "phone"]]
    assert {"msg", "type"} <= set(body["detail"][0])


def test_a_422_echoes_a_long_input_cut_to_200_characters(client: TestClient) -> None:
    headers = auth(make_business().api_key)
    huge = "5" * 1_000_000
    as_text = client.post("/api/v1/leads", json={"phone": huge}, headers=headers)
    as_list = client.post("/api/v1/leads", json={"phone": [1] * 1000}, headers=headers)
    short = client.post("/api/v1/leads", json={"phone": "555"}, headers=headers)

    assert as_text.status_code == as_list.status_code == 422
    assert len(as_text.content) < 1000
    assert as_text.json()["detail"][0]["input"] == "5" * 200 + "... [1000000 characters, cut]"
    assert as_list.json()["detail"][0]["input"] == json.dumps([1] * 1000)[:200] + (
        "... [3000 characters, cut]"
    )
    assert short.json()["detail"][0]["input"] == "555"  # short ones as they were


def test_a_body_that_is_not_json_is_located_by_line_and_column(client: TestClient) -> None:
    headers = {**auth(make_business().api_key), "Content-Type": "application/json"}
    response = client.post("/api/v1/leads", content=b'{\n  "phone": "+1555",,\n}', headers=headers)

    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["type"] == "json_invalid" and error["loc"] == ["body", 21]
    assert (
        error["msg"]
        == "not JSON: Expecting property name enclosed in double quotes at line 2 column 20"
    )


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"phone": "+1555\xff"}', "the body is not UTF-8: invalid start byte at byte 16"),
        (b"[" * 100_000 + b"]" * 100_000, "the JSON body is nested too deeply to be read"),
    ],
)
def test_a_body_that_cannot_be_read_is_a_400_that_says_why(
    client: TestClient, body: bytes, detail: str
) -> None:
    headers = {**auth(make_business().api_key), "Content-Type": "application/json"}
    response = client.post("/api/v1/leads", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json() == {"code": "bad_request", "detail": detail}


@pytest.mark.parametrize(("status", "code"), [(413, "payload_too_large"), (429, "rate_limited")])
def test_any_http_error_a_route_raises_gets_the_code_of_its_status(status: int, code: str) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/busy")
    def busy() -> None:
        raise HTTPException(status, detail="slow down", headers={"Retry-After": "7"})

    response = TestClient(app).get("/busy")

    assert response.json() == {"code": code, "detail": "slow down"}
    assert response.headers["retry-after"] == "7"


# --- timestamps ------------------------------------------------------------------------


def _times(value: object) -> Iterator[tuple[str, object]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_at") and item is not None:
                yield key, item
            yield from _times(item)
    elif isinstance(value, list):
        for item in value:
            yield from _times(item)


def test_every_time_in_a_response_is_utc_with_milliseconds_and_z(client: TestClient) -> None:
    business = make_business()
    headers = auth(business.api_key)
    call = rows.call(business.id, started_at=datetime(2026, 12, 4, 10, 0, 0, 250_000))
    client.post("/api/v1/leads", json={"phone": unique_phone()}, headers=headers)
    client.post(
        "/api/v1/reminders",
        json={"title": "Call back", "due_at": "2031-01-01T09:00:00.123456+02:00"},
        headers=headers,
    )
    bodies = [
        client.get(path, headers=headers).json()
        for path in ("/api/v1/leads", "/api/v1/reminders", f"/api/v1/calls/{call.id}")
    ]

    times = [found for body in bodies for found in _times(body)]
    assert {key for key, _ in times} >= {"created_at", "updated_at", "due_at", "started_at"}
    assert all(UTC_TEXT.match(str(text)) for _, text in times), times
    assert ("due_at", "2031-01-01T07:00:00.123Z") in times
    assert ("started_at", "2026-12-04T10:00:00.250Z") in times


def test_times_the_api_did_not_write_itself_are_rewritten_in_the_same_form(
    client: TestClient,
) -> None:
    # A transcript turn's time as the call's end event records it, a sandbox message's time
    # as the inbox stores it, an active run's start as the dashboard's feed reads it.
    business = make_business()
    headers = auth(business.api_key)
    said = datetime(2026, 12, 4, 10, 0, 1, 234_567, tzinfo=UTC)
    turns = [{"role": "agent", "text": "Hello!", "at": said.isoformat()}]
    call = rows.call(business.id, transcript=[*turns, {"role": "caller", "text": "Hi"}])
    adapters().twilio.send_whatsapp(unique_phone(), business.phone_number, "We open at 9")
    rows.running_run(business.id, items=1)
    log_in(client, business)

    detail = client.get(f"/api/v1/calls/{call.id}", headers=headers).json()
    inbox = client.get("/api/v1/sandbox/messages", headers=headers).json()
    runs = client.get("/dashboard/api/runs").json()

    assert detail["transcript"] == [
        {"role": "agent", "text": "Hello!", "at": "2026-12-04T10:00:01.234Z"},
        {"role": "caller", "text": "Hi"},  # recorded without a time: none shown
    ]
    times = [found for body in (inbox, runs) for found in _times(body)]
    assert {key for key, _ in times} == {"created_at", "started_at"}
    assert all(UTC_TEXT.match(str(text)) for _, text in times), times


def _refs(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        if isinstance(value.get("$ref"), str):
            yield value["$ref"].rsplit("/", 1)[-1]
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _date_times(schema: object, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        if schema.get("format") == "date-time":
            yield where, schema
        for key, item in schema.items():
            yield from _date_times(item, f"{where}.{key}")
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from _date_times(item, f"{where}[{index}]")


def test_every_time_a_response_schema_declares_is_written_by_the_one_serializer(
    client: TestClient,
) -> None:
    # A time typed ``datetime`` (not ``Timestamp``) would be written by pydantic, with
    # microseconds and whatever offset it has; only ``Timestamp`` publishes this example.
    spec = client.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    seen: set[str] = set()
    pending = [
        name
        for _, _, operation in _operations(spec)
        for status, response in operation["responses"].items()
        if status.startswith("2")
        for name in _refs(response)
    ]
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_refs(components[name]))

    found = [
        (f"{name}{where}", schema)
        for name in sorted(seen)
        for where, schema in _date_times(components[name], "")
    ]
    assert {"SandboxMessagePublic.properties.created_at", "CallPublic.properties.created_at"} <= {
        where for where, _ in found
    }
    assert any(where.startswith("TranscriptTurn.properties.at") for where, _ in found)
    wrong = [where for where, schema in found if schema.get("examples") != [TIME_EXAMPLE]]
    assert not wrong, wrong


def test_a_time_is_written_truncated_to_the_millisecond_in_utc() -> None:
    berlin = timezone(timedelta(hours=1))

    assert utc_text(datetime(2026, 12, 4, 11, 0, tzinfo=berlin)) == "2026-12-04T10:00:00.000Z"
    assert utc_text(datetime(2026, 12, 4, 10, 0, 59, 999_999)) == "2026-12-04T10:00:59.999Z"
    assert utc_text(datetime(286, 2, 20, 10, 39, 39, tzinfo=UTC)) == "0286-02-20T10:39:39.000Z"


# --- enumerations ----------------------------------------------------------------------


def test_an_unknown_lead_status_is_a_422_naming_the_allowed_ones(client: TestClient) -> None:
    headers = auth(make_business().api_key)
    created = client.post(
        "/api/v1/leads", json={"phone": unique_phone(), "status": "hot"}, headers=headers
    )
    lead = client.post("/api/v1/leads", json={"phone": unique_phone()}, headers=headers).json()
    patched = client.patch(f"/api/v1/leads/{lead['id']}", json={"status": "hot"}, headers=headers)
    filtered = client.get("/api/v1/leads", params={"status": "hot"}, headers=headers)

    for response, loc in ((created, "body"), (patched, "body"), (filtered, "query")):
        assert response.status_code == 422
        error = response.json()["detail"][0]
        assert error["loc"] == [loc, "status"]
        assert all(f"'{status}'" in error["msg"] for status in LEAD_STATUSES), error["msg"]


def test_a_csv_row_with_an_unknown_status_names_its_line_and_the_allowed_ones(
    client: TestClient,
) -> None:
    headers = auth(make_business().api_key)
    csv = f"phone,status\n{unique_phone()},won\n{unique_phone()},hot\n"
    response = client.post(
        "/api/v1/leads/import", files={"file": ("leads.csv", csv.encode())}, headers=headers
    )

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["line"], error["field"]) == (3, "status")
    assert "'hot'" in error["message"] and "not_interested" in error["message"]


def test_an_unknown_webhook_event_is_a_422_naming_the_allowed_ones(client: TestClient) -> None:
    headers = auth(make_business().api_key)
    body = {"url": "https://hooks.example.com/x", "events": ["call.ended", "lead.created"]}
    response = client.post("/api/v1/webhooks", json=body, headers=headers)

    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "events", 1]
    assert all(f"'{event}'" in error["msg"] for event in WEBHOOK_EVENTS), error["msg"]


def test_the_openapi_description_lists_the_statuses_and_events_from_the_domain(
    client: TestClient,
) -> None:
    schemas = client.app.openapi()["components"]["schemas"]  # type: ignore[attr-defined]
    lead_status = schemas["LeadCreate"]["properties"]["status"]
    events = schemas["WebhookEndpointCreate"]["properties"]["events"]["anyOf"][0]["items"]

    assert lead_status["enum"] == list(LEAD_STATUSES)
    assert events["enum"] == list(WEBHOOK_EVENTS)


def test_the_analysis_concludes_only_statuses_a_lead_can_have() -> None:
    assert set(get_args(AnalysisStatus)) <= set(LEAD_STATUSES)


def test_call_events_are_delivered_by_the_same_list_endpoints_subscribe_to() -> None:
    assert followups.WEBHOOK_EVENTS is WEBHOOK_EVENTS


# --- offline docs ----------------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_nothing_from_another_host(client: TestClient, page: str) -> None:
    response = client.get(page)
    html = response.text

    assert "default-src 'self'" in response.headers["content-security-policy"]
    # No other site frames them (clickjacking of Swagger UI's API key box).
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert not EXTERNAL_URL.search(html), EXTERNAL_URL.findall(html)
    assert "fonts.googleapis" not in html and "cdn.jsdelivr" not in html
    assets = re.findall(r"""(?:src|href)=["']?(/docs/assets/[^"' >]+)""", html)
    assert assets, html
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        vendored = api_docs.SERVED[asset.removeprefix(f"{api_docs.ASSETS}/")]
        assert served.content == vendored.read_bytes()
        assert "immutable" in served.headers["cache-control"]


def test_only_the_vendored_viewer_files_are_served(client: TestClient) -> None:
    licence = client.get(f"/docs/assets/{api_docs.SWAGGER_UI}/LICENSE")
    outside = client.get("/docs/assets/..%2F..%2Froutes/api_docs.py")

    assert (licence.status_code, licence.json()["code"]) == (404, "not_found")
    assert outside.status_code == 404
    assert client.get("/openapi.json").status_code == 200


def test_the_versions_note_names_each_vendored_directory() -> None:
    note = (api_docs.STATIC / "VERSIONS.md").read_text()
    directories = sorted(path.name for path in api_docs.STATIC.iterdir() if path.is_dir())

    assert directories == sorted([api_docs.SWAGGER_UI, api_docs.REDOC])
    assert all(f"`{directory}/`" in note for directory in directories)
