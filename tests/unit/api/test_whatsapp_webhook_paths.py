"""The WhatsApp webhook's two ways in answer alike: the ASGI fast path the app installs, and
the FastAPI route it documents (served where the fast path is not installed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from switchboard.api.app import body_limits
from switchboard.api.body_limit import BodyLimit
from switchboard.api.errors import install_error_handlers
from switchboard.api.routes import whatsapp_webhook
from switchboard.common.db import tenant_session
from switchboard.common.models import Business, WhatsAppMessage
from switchboard.common.settings import Settings
from switchboard.domain.whatsapp.inbound_store import ThreadedInboundStore
from tests.support.factories import make_business, unique_phone

PATH = whatsapp_webhook.PATH


@pytest.fixture
def route_only(embedded: Settings) -> Iterator[TestClient]:
    """An app with the FastAPI route alone (without the app's shortcut), answering errors
    and limiting bodies as the API does."""
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limits=body_limits(embedded))
    app.include_router(whatsapp_webhook.router)
    app.state.whatsapp_inbound = ThreadedInboundStore()
    with TestClient(app) as test_client:
        yield test_client


def _signed(settings: Settings, params: dict[str, str]) -> dict[str, str]:
    validator = RequestValidator(settings.twilio_auth_token)
    return {"X-Twilio-Signature": validator.compute_signature(settings.api_base_url + PATH, params)}


def _cases(settings: Settings, business: Business, tag: str) -> dict[str, dict[str, object]]:
    params = {
        "MessageSid": f"SM{unique_phone()[1:]}{tag}",
        "From": f"whatsapp:{unique_phone()}",
        "To": f"whatsapp:{business.phone_number}",
        "Body": "Hi, is Saturday free?",
    }
    incomplete = {k: v for k, v in params.items() if k != "MessageSid"}
    unknown = {**params, "To": f"whatsapp:{unique_phone()}"}
    huge = {**params, "Body": "x" * (whatsapp_webhook.MAX_BODY_BYTES + 1)}
    return {
        "stored": {"data": params, "headers": _signed(settings, params)},
        "retried": {"data": params, "headers": _signed(settings, params)},
        "forged": {"data": params, "headers": {"X-Twilio-Signature": "bm90IGl0"}},
        "unsigned": {"data": params},
        "as json": {"json": params, "headers": _signed(settings, params)},  # fields not sent
        "as json, signed": {"json": params, "headers": _signed(settings, {})},
        "incomplete": {"data": incomplete, "headers": _signed(settings, incomplete)},
        "nobody's number": {"data": unknown, "headers": _signed(settings, unknown)},
        "too large": {"data": huge, "headers": _signed(settings, huge)},
        "not utf-8": {
            "content": b"Body=%ff%fe\xff",
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
        "not utf-8, signed": {
            "content": b"Body=%ff%fe\xff",
            "headers": {
                "Content-Type": "application/x-www-form-urlencoded",
                **_signed(settings, {}),
            },
        },
    }


def _answers(client: TestClient, cases: dict[str, dict[str, object]]) -> dict[str, object]:
    answers: dict[str, object] = {}
    for name, request in cases.items():
        response = client.post(PATH, **request)  # type: ignore[arg-type]
        body = (
            response.json()
            if response.headers["content-type"].startswith("application/json")
            else response.text
        )
        answers[name] = (response.status_code, response.headers["content-type"], body)
    return answers


def test_the_fast_path_and_the_route_answer_every_case_alike(
    client: TestClient, route_only: TestClient, embedded: Settings
) -> None:
    business = make_business()

    fast = _answers(client, _cases(embedded, business, "f"))
    route = _answers(route_only, _cases(embedded, business, "r"))

    assert fast == route
    assert fast["stored"] == (200, "application/xml", whatsapp_webhook.EMPTY_TWIML)
    assert fast["retried"] == fast["stored"]
    names = ("forged", "unsigned", "as json", "as json, signed", "incomplete", "not utf-8")
    assert [fast[name][0] for name in names] == [403, 403, 403, 415, 400, 403]  # type: ignore[index]
    incomplete = {"code": "bad_request", "detail": "missing form field(s): MessageSid"}
    assert fast["incomplete"][2] == incomplete  # type: ignore[index]
    assert fast["nobody's number"][:1] == (404,)  # type: ignore[index]
    assert fast["too large"][0] == 413 and fast["not utf-8, signed"][0] == 400  # type: ignore[index]
    with tenant_session(business.id) as session:
        stored = session.execute(select(WhatsAppMessage.body)).scalars().all()
    assert stored == ["Hi, is Saturday free?", "Hi, is Saturday free?"]  # one per path


def test_other_requests_pass_through_the_fast_path(client: TestClient) -> None:
    assert client.get(PATH).status_code == 405
    assert client.get("/health").status_code == 200
