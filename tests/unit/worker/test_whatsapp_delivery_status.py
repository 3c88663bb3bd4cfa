"""Twilio's delivery reports on the replies sent: every send names the status callback, and a
reply WhatsApp did not deliver (63016, outside the 24-hour window) shows as failed."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from switchboard.api.app import create_app
from switchboard.common.integrations.twilio_rest import WHATSAPP_STATUS_PATH
from switchboard.common.settings import Settings
from tests.fakes.twilio_rest import AUTH_TOKEN, FakeTwilioServer
from tests.support.factories import make_business
from tests.support.waiting import wait_for
from tests.unit.api.rows import auth
from tests.unit.worker.test_whatsapp_jobs import PATH, inbound, signed


@pytest.fixture
def client(jobs_env: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(jobs_env)) as test_client:
        yield test_client


def _report(
    client: TestClient, settings: Settings, sent: dict[str, str], status: str, code: str = ""
) -> int:
    """Twilio's status callback for a message it took, signed as Twilio signs it."""
    params = {
        "MessageSid": sent["sid"],
        "SmsSid": sent["sid"],
        "AccountSid": "AC" + "0" * 32,
        "MessageStatus": status,
        "SmsStatus": status,
        "From": sent["From"],
        "To": sent["To"],
        "ChannelPrefix": "whatsapp",
        **({"ErrorCode": code} if code else {}),
    }
    url = settings.api_base_url + WHATSAPP_STATUS_PATH
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    headers = {"X-Twilio-Signature": signature}
    return client.post(WHATSAPP_STATUS_PATH, data=params, headers=headers).status_code


def _reply(client: TestClient, business_api_key: str) -> dict[str, object]:
    conversations = client.get("/api/v1/conversations", headers=auth(business_api_key)).json()
    [conversation] = conversations["items"]
    messages = client.get(
        f"/api/v1/conversations/{conversation['id']}/messages", headers=auth(business_api_key)
    ).json()["items"]
    [reply] = [m for m in messages if m["direction"] == "out"]
    return reply


def test_a_reply_whatsapp_did_not_deliver_shows_as_failed_with_twilio_s_error(
    client: TestClient, jobs_env: Settings, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    params = inbound(business.phone_number)
    assert client.post(PATH, data=params, headers=signed(jobs_env, params)).status_code == 200
    [sent] = fake_twilio.wait_for(lambda: fake_twilio.messages or None, timeout=20)
    wait_for(lambda: _reply(client, business.api_key)["status"] == "sent")

    # Every send asks Twilio to report on it here.
    assert sent["StatusCallback"] == jobs_env.api_base_url + WHATSAPP_STATUS_PATH
    for status in ("queued", "sent", "delivered"):  # change nothing: still the send's ``sent``
        assert _report(client, jobs_env, sent, status) == 204
    assert _reply(client, business.api_key)["status"] == "sent"

    assert _report(client, jobs_env, sent, "undelivered", "63016") == 204

    reply = _reply(client, business.api_key)
    assert reply["status"] == "failed"
    assert "63016" in str(reply["error"]) and "24 hours" in str(reply["error"])
    # Forward only: a late or repeated report undoes nothing.
    assert _report(client, jobs_env, sent, "read") == 204
    assert _report(client, jobs_env, sent, "failed", "30008") == 204
    assert _reply(client, business.api_key) == reply


def test_a_status_report_not_signed_by_twilio_is_403_and_changes_nothing(
    client: TestClient, jobs_env: Settings, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    params = inbound(business.phone_number)
    assert client.post(PATH, data=params, headers=signed(jobs_env, params)).status_code == 200
    [sent] = fake_twilio.wait_for(lambda: fake_twilio.messages or None, timeout=20)
    wait_for(lambda: _reply(client, business.api_key)["status"] == "sent")
    forged = {"MessageSid": sent["sid"], "MessageStatus": "failed", "From": sent["From"]}

    unsigned = client.post(WHATSAPP_STATUS_PATH, data=forged)
    wrong = client.post(
        WHATSAPP_STATUS_PATH, data=forged, headers={"X-Twilio-Signature": "bm90IGl0"}
    )
    # Signed, but for a message and a number nobody has: answered, nothing changes.
    unknown = _report(client, jobs_env, {**sent, "sid": "SM" + "f" * 32}, "failed", "63016")
    elsewhere = _report(client, jobs_env, {**sent, "From": "whatsapp:+15550000000"}, "failed")

    assert (unsigned.status_code, wrong.status_code, unknown, elsewhere) == (403, 403, 204, 204)
    assert _reply(client, business.api_key)["status"] == "sent"
