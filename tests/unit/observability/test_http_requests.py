"""Every HTTP request gets a request id (the caller's if valid), one access line naming its
route template, and a place in the duration histogram: the API's routes, its WhatsApp fast
path, and the gateway's routes alike."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
import structlog
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, generate_latest

from switchboard.api.app import create_app
from switchboard.api.routes import whatsapp_webhook
from switchboard.common.settings import Settings
from switchboard.voice_gateway.adapters.agent_config_api import ApiAgentConfigSource
from switchboard.voice_gateway.app import create_app as create_gateway
from tests.support.factories import make_business

from .conftest import JsonLines


@pytest.fixture
def api(embedded: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(embedded)) as client:
        yield client


def _access_lines(lines: list[dict[str, object]]) -> list[dict[str, object]]:
    return [line for line in lines if line["event"] == "http.request"]


def test_a_caller_s_request_id_is_returned_and_a_missing_or_unfit_one_replaced(api) -> None:
    given = api.get("/health", headers={"X-Request-ID": "lb-7f3a:42"})
    missing = api.get("/health")
    # Echoed in a header and written in every line: never a caller's spaces, quotes (a JSON
    # line's end), escapes (a terminal's colours) or kilobytes.
    hostile = ["two words", 'x","level":"critical', "\x1b[31mred\x1b[0m", "a\tb", "x" * 129]
    unfit = [api.get("/health", headers={"X-Request-ID": value}) for value in hostile]

    assert given.headers["X-Request-ID"] == "lb-7f3a:42"
    assert re.fullmatch(r"[0-9a-f]{32}", missing.headers["X-Request-ID"])
    for response in unfit:
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_the_access_line_names_the_route_template_status_business_and_request_id(
    api, json_lines: JsonLines
) -> None:
    business = make_business()
    json_lines()  # forget the setup's lines
    response = api.get(
        "/api/v1/leads/987654",
        headers={"Authorization": f"Bearer {business.api_key}", "X-Request-ID": "req-lead-1"},
    )

    assert response.status_code == 404
    lines = json_lines()
    (access,) = _access_lines(lines)
    assert access["method"] == "GET" and access["route"] == "/api/v1/leads/{lead_id}"
    assert access["status"] == 404 and access["service"] == "api"
    assert access["request_id"] == "req-lead-1" and access["business_id"] == business.id
    assert isinstance(access["duration_ms"], float)
    # Every line of the request names it, not only the access line (the test client's own
    # line about the exchange, outside the server, does not).
    served = [line for line in lines if not str(line.get("logger", "")).startswith("httpx")]
    assert all(line.get("request_id") == "req-lead-1" for line in served)


def test_the_duration_histogram_has_the_route_template_and_status(api) -> None:
    api.get("/api/v1/leads/55", headers={"Authorization": "Bearer sbk_not_a_key"})

    metrics = api.get("/metrics").text
    assert (
        'switchboard_http_request_duration_seconds_count{method="GET",'
        'route="/api/v1/leads/{lead_id}",service="api",status="401"}'
    ) in metrics
    assert 'route="/api/v1/leads/55"' not in metrics


def test_an_unknown_path_is_counted_without_its_path(api) -> None:
    api.get("/wp-admin/setup.php")

    metrics = generate_latest(REGISTRY).decode()
    assert 'route="<unmatched>",service="api",status="404"' in metrics
    assert "wp-admin" not in metrics


def _series(route: str) -> list[str]:
    return [
        line
        for line in generate_latest(REGISTRY).decode().splitlines()
        if line.startswith("switchboard_http_request_duration_seconds_count")
        and f'route="{route}"' in line
    ]


def test_a_scan_of_ids_and_made_up_methods_adds_a_handful_of_series(api) -> None:
    route = "/api/v1/leads/{lead_id}"
    before = set(_series(route))  # other tests' requests share the process's registry
    for lead_id in range(1, 301):
        api.get(f"/api/v1/leads/{lead_id}")
    for n in range(50):  # any token passes an HTTP parser that accepts any method (h11)
        api.request(f"SCAN{n}", f"/api/v1/leads/{n}")
    api.request("PROPFIND", "/api/v1/leads/1")

    series = _series(route)
    new = {line.rsplit(" ", 1)[0] for line in series} - {line.rsplit(" ", 1)[0] for line in before}
    assert len(new) <= 2, new  # GET 401 and OTHER 405 at most: nothing per id or method
    assert any('method="OTHER"' in line and 'status="405"' in line for line in series)


def test_the_whatsapp_fast_path_is_observed_like_any_route(api, json_lines: JsonLines) -> None:
    response = api.post(
        whatsapp_webhook.PATH,
        data={"From": "whatsapp:+15550001111"},
        headers={"X-Request-ID": "twilio-retry-1"},
    )

    assert response.status_code == 403  # unsigned
    assert response.headers["X-Request-ID"] == "twilio-retry-1"
    (access,) = _access_lines(json_lines())
    assert access["route"] == whatsapp_webhook.PATH and access["status"] == 403
    assert access["request_id"] == "twilio-retry-1"


def test_the_gateway_s_routes_get_request_ids_and_access_lines(
    embedded: Settings, json_lines: JsonLines
) -> None:
    with TestClient(create_gateway(embedded)) as gateway:
        json_lines()
        response = gateway.post("/twilio/voice/incoming", data={"CallSid": "CA123"})

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
    (access,) = _access_lines(json_lines())
    assert access["service"] == "gateway" and access["route"] == "/twilio/voice/incoming"
    assert access["status"] == response.status_code


async def test_the_gateway_asks_the_api_for_a_call_s_config_under_the_call_s_request_id(
    api, embedded: Settings, json_lines: JsonLines
) -> None:
    business = make_business()
    transport = httpx.ASGITransport(app=api.app)
    source = ApiAgentConfigSource(
        "http://api", embedded.internal_api_token, 5.0, transport=transport
    )
    json_lines()
    with structlog.contextvars.bound_contextvars(request_id="gw-call-1"):  # the webhook's
        config = await source.get(business.phone_number)
    await source.aclose()

    assert config is not None and config.business_id == business.id
    (access,) = _access_lines(json_lines())
    assert access["route"] == "/internal/v1/agent-config" and access["request_id"] == "gw-call-1"
