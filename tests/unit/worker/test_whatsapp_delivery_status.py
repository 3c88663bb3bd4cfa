"""Twilio's delivery reports on the replies sent: every send names the status callback; a reply's
delivery (sent, delivered, read) is kept forward only whatever order the reports come in, and a
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
from tests.support.factories import TestBusiness, make_business
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
    for status in ("queued", "sent"):
        assert _report(client, jobs_env, sent, status) == 204
    reply = _reply(client, business.api_key)
    assert (reply["status"], reply["delivery_status"]) == ("sent", "sent")

    assert _report(client, jobs_env, sent, "undelivered", "63016") == 204

    reply = _reply(client, business.api_key)
    assert (reply["status"], reply["delivery_status"]) == ("failed", "undelivered")
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
    forged_read = {**forged, "MessageStatus": "read"}
    assert client.post(WHATSAPP_STATUS_PATH, data=forged_read).status_code == 403
    reply = _reply(client, business.api_key)
    assert (reply["status"], reply["delivery_status"]) == ("sent", None)


def _sent_reply(
    client: TestClient, settings: Settings, fake_twilio: FakeTwilioServer, business: TestBusiness
) -> dict[str, str]:
    """What Twilio was asked to send: the agent's reply to a customer's first message."""
    params = inbound(business.phone_number)
    assert client.post(PATH, data=params, headers=signed(settings, params)).status_code == 200
    return fake_twilio.wait_for(
        lambda: next(
            (m for m in fake_twilio.messages if m["From"].endswith(business.phone_number)), None
        ),
        timeout=20,
    )


def _delivery(client: TestClient, business: TestBusiness) -> tuple[object, object, object]:
    reply = _reply(client, business.api_key)
    return reply["status"], reply["delivery_status"], reply["delivery_status_at"]


def test_a_reply_s_delivery_moves_forward_only_whatever_order_twilio_reports_in(
    client: TestClient, jobs_env: Settings, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    sent = _sent_reply(client, jobs_env, fake_twilio, business)
    wait_for(lambda: _reply(client, business.api_key)["status"] == "sent")
    assert _delivery(client, business) == ("sent", None, None)  # no report yet

    assert _report(client, jobs_env, sent, "delivered") == 204  # before its ``sent``
    status, delivered, delivered_at = _delivery(client, business)
    assert (status, delivered) == ("sent", "delivered") and delivered_at is not None
    # Twilio's late ``sent`` and a retried ``delivered`` change nothing, not even the time.
    for late in ("sent", "delivered", "queued"):
        assert _report(client, jobs_env, sent, late) == 204
    assert _delivery(client, business) == ("sent", "delivered", delivered_at)

    assert _report(client, jobs_env, sent, "read") == 204
    read = _delivery(client, business)
    assert read[:2] == ("sent", "read")
    # Read is the end: a late ``delivered``, a repeated ``read``, a failure nobody can believe.
    for late in ("delivered", "read", "sent", "undelivered", "failed"):
        assert _report(client, jobs_env, sent, late, "63016") == 204
    assert _delivery(client, business) == read
    assert _reply(client, business.api_key)["error"] is None


def test_a_read_report_before_its_delivered_report_stays_read(
    client: TestClient, jobs_env: Settings, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    sent = _sent_reply(client, jobs_env, fake_twilio, business)
    wait_for(lambda: _reply(client, business.api_key)["status"] == "sent")

    for status in ("read", "delivered", "sent"):
        assert _report(client, jobs_env, sent, status) == 204
    assert _delivery(client, business)[:2] == ("sent", "read")


def test_a_report_on_another_business_s_message_changes_nothing(
    client: TestClient, jobs_env: Settings, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    owner, other = make_business(), make_business()
    owners = _sent_reply(client, jobs_env, fake_twilio, owner)
    others = _sent_reply(client, jobs_env, fake_twilio, other)
    wait_for(lambda: _reply(client, owner.api_key)["status"] == "sent")
    wait_for(lambda: _reply(client, other.api_key)["status"] == "sent")

    # Signed by Twilio, from the owner's number, naming the other business's message.
    for status in ("delivered", "read", "undelivered"):
        assert _report(client, jobs_env, {**owners, "sid": others["sid"]}, status, "63016") == 204
    assert _delivery(client, other) == ("sent", None, None)
    assert _delivery(client, owner) == ("sent", None, None)
