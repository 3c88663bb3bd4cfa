"""A NUL character in a signed WhatsApp webhook, on PostgreSQL and its one-statement store: the
customer's text is kept (U+FFFD for the NUL), a broken id or number is a 400, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from switchboard.api.adapters.whatsapp_inbound import PostgresInboundStore
from switchboard.api.app import create_app
from switchboard.common.db import tenant_session
from switchboard.common.integrations.twilio_rest import WHATSAPP_STATUS_PATH
from switchboard.common.models import WhatsAppMessage
from switchboard.common.settings import Settings
from tests.support.factories import make_business, unique_phone

pytestmark = pytest.mark.integration

PATH = "/webhooks/twilio/whatsapp"


@pytest.fixture
def client(pg_rabbit: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(pg_rabbit)) as test_client:
        assert isinstance(test_client.app.state.whatsapp_inbound, PostgresInboundStore)  # type: ignore[attr-defined]
        yield test_client


def _post(client: TestClient, settings: Settings, params: dict[str, str], path: str = PATH) -> Any:
    validator = RequestValidator(settings.twilio_auth_token)
    signature = validator.compute_signature(settings.api_base_url + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def _inbound(to: str, **fields: str) -> dict[str, str]:
    return {
        "MessageSid": f"SM{unique_phone()[1:]}n",
        "From": f"whatsapp:{unique_phone()}",
        "To": f"whatsapp:{to}",
        "Body": "Hi",
        **fields,
    }


def _bodies(business_id: int) -> list[str]:
    with tenant_session(business_id) as session:
        return list(session.execute(select(WhatsAppMessage.body)).scalars())


def test_a_nul_in_the_body_is_stored_as_a_replacement_character(
    client: TestClient, pg_rabbit: Settings
) -> None:
    business = make_business()
    params = _inbound(business.phone_number, Body="Saturday\x00 at 10?")

    assert _post(client, pg_rabbit, params).status_code == 200
    assert _bodies(business.id) == ["Saturday\ufffd at 10?"]


@pytest.mark.parametrize("field", ["MessageSid", "From", "To"])
def test_a_nul_in_the_message_sid_or_a_number_is_a_400_naming_the_field(
    client: TestClient, pg_rabbit: Settings, field: str
) -> None:
    business = make_business()
    params = _inbound(business.phone_number)
    params[field] += "\x00"

    response = _post(client, pg_rabbit, params)

    assert response.status_code == 400 and field in response.json()["detail"]
    assert _bodies(business.id) == []


def test_a_message_sid_longer_than_its_column_is_a_400_naming_it(
    client: TestClient, pg_rabbit: Settings
) -> None:
    business = make_business()
    fits = _inbound(business.phone_number, MessageSid="SM" + "1" * 62)
    assert _post(client, pg_rabbit, fits).status_code == 200
    long = _inbound(business.phone_number, MessageSid="SM" + "2" * 63)

    response = _post(client, pg_rabbit, long)

    assert response.status_code == 400, response.text
    assert response.json() == {
        "code": "bad_request",
        "detail": "MessageSid longer than 64 characters",
    }
    assert len(_bodies(business.id)) == 1


@pytest.mark.parametrize("field", ["MessageSid", "SmsSid", "From"])
def test_a_nul_in_a_delivery_report_s_sid_or_number_is_a_400_naming_the_field(
    client: TestClient, pg_rabbit: Settings, field: str
) -> None:
    # The report's number is looked up before anything else: a NUL in it reached PostgreSQL,
    # which refuses such text, and the report was a 500.
    business = make_business()
    report = {
        "MessageStatus": "failed",
        "ErrorCode": "63016",
        "From": f"whatsapp:{business.phone_number}",
        ("SmsSid" if field == "SmsSid" else "MessageSid"): "SM" + "1" * 32,
    }
    report[field] = report.get(field, "") + "\x00"

    response = _post(client, pg_rabbit, report, WHATSAPP_STATUS_PATH)

    assert response.status_code == 400, response.text
    assert response.json() == {
        "code": "bad_request",
        "detail": f"NUL character in form field(s): {field}",
    }
