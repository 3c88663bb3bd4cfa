"""Every request body refuses a field it does not declare (a 422 naming it), so a misspelt
key never widens what a request does: ``{"filter": {"staus": "won"}}`` selected every lead."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support.factories import make_business
from tests.unit.api import rows
from tests.unit.api.rows import auth


def _body_schemas(spec: dict[str, Any]) -> set[str]:
    """The component schemas a request body may hold, nested ones included."""
    schemas = spec["components"]["schemas"]
    seen: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in seen:
                    seen.add(name)
                    walk(schemas[name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for operations in spec["paths"].values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            walk(content.get("application/json", {}))
    return seen


def test_every_json_request_body_forbids_fields_it_does_not_declare(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    objects = {n for n in _body_schemas(spec) if schemas[n].get("type") == "object"}
    assert {"OutboundRunCreate", "LeadFilter", "RetryPolicy", "BusinessCreate"} <= objects
    lax = sorted(n for n in objects if schemas[n].get("additionalProperties") is not False)
    assert lax == []


def test_a_misspelt_outbound_filter_or_field_is_a_422_and_no_run(client: TestClient) -> None:
    business = make_business()
    headers = auth(business.api_key)
    rows.lead(business.id)
    for body, loc in [
        ({"name": "Run", "filter": {"staus": "won"}}, ["body", "filter", "staus"]),
        ({"name": "Run", "filter": {}, "lead_id": [1]}, ["body", "lead_id"]),
        ({"name": "Run", "filter": {}, "retry_policy": {"attempts": 3}}, None),
    ]:
        response = client.post("/api/v1/outbound-runs", json=body, headers=headers)
        assert response.status_code == 422, response.text
        if loc is not None:
            assert response.json()["detail"][0]["loc"] == loc
    assert client.get("/api/v1/outbound-runs", headers=headers).json()["items"] == []


def test_a_filter_matching_no_lead_is_a_422_naming_the_filter(client: TestClient) -> None:
    business = make_business()
    rows.lead(business.id)
    response = client.post(
        "/api/v1/outbound-runs",
        json={"name": "Run", "filter": {"status": "won"}},
        headers=auth(business.api_key),
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "filter"] and "matches no leads" in error["msg"]


#: Each request body and the table it writes (its fields named as the columns are).
STORED_BY = {
    "LeadCreate": "leads",
    "LeadUpdate": "leads",
    "BusinessCreate": "businesses",
    "BusinessSelfUpdate": "businesses",
    "BusinessAdminUpdate": "businesses",
    "AgentSettingsUpdate": "agent_settings",
    "ApiKeyCreate": "api_keys",
    "ReminderCreate": "reminders",
    "ReminderUpdate": "reminders",
    "PushSubscriptionCreate": "push_subscriptions",
    "PushKeys": "push_subscriptions",
    "WebhookEndpointCreate": "webhook_endpoints",
    "WebhookEndpointUpdate": "webhook_endpoints",
    "OutboundRunCreate": "outbound_runs",
    "ConversationCreate": "whatsapp_conversations",
    "MessageCreate": "whatsapp_messages",
}


def _max_length(prop: dict[str, Any]) -> int | None:
    """The longest string the property takes: its maxLength, or its longest enum value."""
    enum = [v for p in [prop, *prop.get("anyOf", [])] for v in p.get("enum", [])]
    if enum:
        return max(len(v) for v in enum)
    lengths = [
        p.get("maxLength") for p in [prop, *prop.get("anyOf", [])] if p.get("type") == "string"
    ]
    return max((n for n in lengths if n is not None), default=None) if lengths else None


def test_every_string_a_body_stores_is_bounded_by_its_column(client: TestClient) -> None:
    from sqlalchemy import String

    from switchboard.common.db.base import Base

    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert set(STORED_BY) <= _body_schemas(client.get("/openapi.json").json())
    unbounded = []
    for name, table in STORED_BY.items():
        columns = Base.metadata.tables[table].c
        for field, prop in schemas[name]["properties"].items():
            column = columns.get(field)
            if column is None or not isinstance(column.type, String) or not column.type.length:
                continue
            variants = [prop, *prop.get("anyOf", [])]
            limit = _max_length(prop)
            if any(p.get("pattern") == r"^\+[1-9][0-9]{6,14}$" for p in variants):
                limit = 16  # a phone number in E.164 form
            if any(p.get("format") == "time" for p in variants):
                limit = 5  # stored as HH:MM
            if limit is None or limit > column.type.length:
                unbounded.append((name, field, limit, column.type.length))
    assert unbounded == [], unbounded


def test_a_string_too_long_is_counted_in_characters_in_a_body_and_a_query(
    client: TestClient,
) -> None:
    business = make_business()
    headers = auth(business.api_key)
    lead = rows.lead(business.id)
    refusals = [
        client.post(
            "/api/v1/leads", json={"phone": "+15550001234", "name": "x" * 201}, headers=headers
        ),
        client.patch(f"/api/v1/leads/{lead.id}", json={"notes": "x" * 10_001}, headers=headers),
        client.patch("/api/v1/businesses/me", json={"agent": {"voice": "x" * 51}}, headers=headers),
        client.get("/api/v1/leads", params={"q": "x" * 201}, headers=headers),
        client.get("/api/v1/calls", params={"number": "1" * 33}, headers=headers),
    ]
    for response in refusals:
        assert response.status_code == 422, response.text
        (error,) = response.json()["detail"]
        assert error["type"] == "string_too_long", error
        assert (
            error["msg"].startswith("String should have at most") and "characters" in error["msg"]
        )
