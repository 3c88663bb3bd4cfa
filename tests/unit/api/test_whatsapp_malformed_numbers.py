"""A WhatsApp webhook whose ``From`` or ``To`` is not a phone number in E.164 form is refused
with a 400 that says so, by the fast path and the route alike, and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from switchboard.api.errors import install_error_handlers
from switchboard.api.routes import whatsapp_webhook
from switchboard.common.db import tenant_session
from switchboard.common.models import Lead, WhatsAppConversation, WhatsAppMessage
from switchboard.common.settings import Settings
from switchboard.domain.whatsapp.inbound_store import ThreadedInboundStore
from tests.support.factories import make_business, unique_phone

PATH = whatsapp_webhook.PATH
MALFORMED = [
    "12345",
    "whatsapp:12345",
    "not-a-phone",
    "whatsapp:+1",
    "+1",
    "whatsapp:",
    "whatsapp:+1555\u0663\u0663\u06638888",  # Arabic-Indic digits
    "whatsapp:+1555\uff10\uff10\uff10\uff11\uff12\uff13\uff14",  # fullwidth digits
]


@pytest.fixture(params=["fast path", "route"])
def webhook(request: pytest.FixtureRequest, embedded: Settings) -> Iterator[TestClient]:
    """The app's ASGI fast path, or the FastAPI route alone."""
    if request.param == "fast path":
        yield request.getfixturevalue("client")  # the whole app, as served
        return
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(whatsapp_webhook.router)
    app.state.whatsapp_inbound = ThreadedInboundStore()
    with TestClient(app) as test_client:
        yield test_client


def _post(client: TestClient, settings: Settings, params: dict[str, str]) -> tuple[int, object]:
    validator = RequestValidator(settings.twilio_auth_token)
    signature = validator.compute_signature(settings.api_base_url + PATH, params)
    response = client.post(PATH, data=params, headers={"X-Twilio-Signature": signature})
    return response.status_code, response.json() if response.status_code != 200 else None


def _stored(business_id: int) -> tuple[int, int, int]:
    with tenant_session(business_id) as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model))
            for model in (WhatsAppMessage, WhatsAppConversation, Lead)
        )


@pytest.mark.parametrize("sender", MALFORMED)
def test_a_sender_that_is_not_an_e164_number_is_a_400_and_nothing_is_stored(
    webhook: TestClient, embedded: Settings, sender: str
) -> None:
    business = make_business()
    params = {
        "MessageSid": f"SM{unique_phone()[1:]}m",
        "From": sender,
        "To": f"whatsapp:{business.phone_number}",
        "Body": "Hi",
    }

    status, body = _post(webhook, embedded, params)

    assert status == 400
    assert "From must be a phone number in E.164 form" in body["detail"]  # type: ignore[index]
    assert _stored(business.id) == (0, 0, 0)


def test_a_malformed_recipient_is_named_in_the_400_too(
    webhook: TestClient, embedded: Settings
) -> None:
    params = {"MessageSid": "SM" + "2" * 32, "From": "whatsapp:12345", "To": "whatsapp:+1"}

    status, body = _post(webhook, embedded, params)

    assert status == 400
    assert body["detail"].startswith("From and To must be a phone number in E.164 form")  # type: ignore[index]


def test_an_empty_sender_is_a_missing_field(webhook: TestClient, embedded: Settings) -> None:
    business = make_business()
    params = {"MessageSid": "SM" + "3" * 32, "From": "", "To": business.phone_number}

    assert _post(webhook, embedded, params) == (
        400,
        {"code": "bad_request", "detail": "missing form field(s): From"},
    )
    assert _stored(business.id) == (0, 0, 0)


@pytest.mark.parametrize("sender", ["whatsapp:+15557654321", "+15557654321"])
def test_a_sender_in_e164_form_with_or_without_the_whatsapp_prefix_is_stored(
    webhook: TestClient, embedded: Settings, sender: str
) -> None:
    business = make_business()
    params = {
        "MessageSid": f"SM{unique_phone()[1:]}ok",
        "From": sender,
        "To": f"whatsapp:{business.phone_number}",
        "Body": "Hi",
    }

    assert _post(webhook, embedded, params) == (200, None)
    assert _stored(business.id)[:2] == (1, 1)


def test_a_message_sid_longer_than_its_column_is_a_400_naming_it(
    webhook: TestClient, embedded: Settings
) -> None:
    business = make_business()
    params = {
        "MessageSid": "SM" + "4" * 63,
        "From": f"whatsapp:{unique_phone()}",
        "To": f"whatsapp:{business.phone_number}",
        "Body": "Hi",
    }

    assert _post(webhook, embedded, params) == (
        400,
        {"code": "bad_request", "detail": "MessageSid longer than 64 characters"},
    )
    assert _stored(business.id) == (0, 0, 0)
