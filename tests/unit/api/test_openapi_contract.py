from __future__ import annotations

from typing import Any

OWNED = (
    "/api/v1/leads",
    "/api/v1/calls",
    "/api/v1/conversations",
    "/api/v1/webhooks",
    "/api/v1/reminders",
    "/api/v1/push-subscriptions",
    "/api/v1/jobs",
    "/api/v1/businesses",
)


def _operations(client):
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        if path.startswith(OWNED):
            for method, operation in operations.items():
                yield path, method, operation


def test_docs_are_served(client) -> None:
    assert client.get("/docs").status_code == 200
    assert "/dashboard" not in client.get("/openapi.json").json()["paths"]


def test_every_operation_documents_auth_errors_and_its_success_body(client) -> None:
    for path, method, operation in _operations(client):
        responses = operation["responses"]
        assert "401" in responses, (method, path)
        assert operation.get("summary") and operation.get("description"), (method, path)
        success = [code for code in responses if code.startswith("2")]
        assert success, (method, path)
        if success != ["204"]:
            content = responses[success[0]]["content"]
            assert "application/json" in content or set(content) == {"audio/wav"}, (method, path)


def test_every_operation_on_one_object_documents_404(client) -> None:
    for path, method, operation in _operations(client):
        if "{" in path:
            assert "404" in operation["responses"], (method, path)


def test_request_bodies_carry_examples(client) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("LeadCreate", "ReminderCreate", "WebhookEndpointCreate", "MessageCreate"):
        properties = schemas[name]["properties"]
        assert any("examples" in field for field in properties.values()), name


#: The lists paged by a cursor whose pages have bounds of their own: a run's items come in
#: pages of up to 500 (100 by default), a run being read whole by its console and CLI.
OWN_PAGE_SIZES = {"/api/v1/outbound-runs/{run_id}/items"}


def test_every_list_paged_by_a_cursor_takes_the_shared_page_parameters(client) -> None:
    """One rule for ``limit`` and ``cursor`` (``pagination.page_params``): the same bounds,
    default and description in every list, whatever its cursor holds (an id, or a job's time
    and id)."""
    spec = client.get("/openapi.json").json()
    shared = _query_parameters(spec, "/api/v1/leads")
    paged = [path for path in spec["paths"] if "cursor" in _query_parameters(spec, path)]
    assert {"/api/v1/jobs", "/api/v1/outbound-runs", "/api/v1/leads"} <= set(paged)
    for path in paged:
        taken = _query_parameters(spec, path)
        assert taken["cursor"] == shared["cursor"], path
        if path not in OWN_PAGE_SIZES:
            assert taken["limit"] == shared["limit"], path


def _query_parameters(spec: dict[str, Any], path: str) -> dict[str, Any]:
    """The parameters of the path's GET by name (none if it has no GET)."""
    operation = spec["paths"][path].get("get", {})
    return {parameter["name"]: parameter for parameter in operation.get("parameters", [])}
