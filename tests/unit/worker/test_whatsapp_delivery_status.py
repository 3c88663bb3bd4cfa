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
from switchboard.common.db import tenant_session
from switchboard.common.integrations.twilio_rest import WHATSAPP_STATUS_PATH
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import PROCESS_WHATSAPP_WEBHOOK, SEND_WHATSAPP_MESSAGE
from switchboard.common.models import Job, WhatsAppMessage
from switchboard.common.settings import Settings
from switchboard.domain.whatsapp.delivery import delivery_error
from tests.fakes.twilio_rest import AUTH_TOKEN, FakeTwilioServer
from tests.support.factories import TestBusiness, make_business
from tests.support.waiting import wait_for
from tests.unit.api.rows import auth
from tests.unit.worker.jobs import finished, jobs_of
from tests.unit.worker.test_whatsapp_jobs import PATH, inbound, signed
from tests.unit.worker.world import make_world


@pytest.fixture
def client(jobs_env: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(jobs_env)) as test_client:
        yield test_client


def _report(
    client: TestClient,
    settings: Settings,
    sent: dict[str, str],
    status: str,
    code: str = "",
    *,
    callback: str | None = None,
    error_message: str = "",
) -> int:
    """Twilio's status callback for a message it took, signed as Twilio signs it: to the
    ``StatusCallback`` the send named (``callback``: to another, e.g. the plain path that the
    messages sent before the id was named have)."""
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
        **({"ErrorMessage": error_message} if error_message else {}),
    }
    url = callback or sent["StatusCallback"]
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    headers = {"X-Twilio-Signature": signature}
    path = url.removeprefix(settings.api_base_url)
    return client.post(path, data=params, headers=headers).status_code


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

    # Every send asks Twilio to report on it here, naming the message.
    reply_id = _reply(client, business.api_key)["id"]
    assert sent["StatusCallback"] == (
        f"{jobs_env.api_base_url}{WHATSAPP_STATUS_PATH}?message_id={reply_id}"
    )
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


def _held_reply(
    client: TestClient, settings: Settings, fake_twilio: FakeTwilioServer, business: TestBusiness
) -> tuple[dict[str, str], Job]:
    """The agent's reply, taken by Twilio but not yet answered: its sid is not recorded."""
    params = inbound(business.phone_number)
    fake_twilio.hold_next("create_message", to=params["From"])
    assert client.post(PATH, data=params, headers=signed(settings, params)).status_code == 200
    sent = fake_twilio.wait_for(
        lambda: next((m for m in fake_twilio.messages if m["To"] == params["From"]), None),
        timeout=20,
    )
    [job] = jobs_of(business.id, PROCESS_WHATSAPP_WEBHOOK.name)
    return sent, job


def test_a_report_before_the_send_heard_back_is_kept_and_outlives_the_send_s_record(
    client: TestClient, jobs_env: Settings, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    sent, job = _held_reply(client, jobs_env, fake_twilio, business)
    assert _reply(client, business.api_key)["message_sid"] is None  # Twilio has not answered

    # Twilio reports before it answers the send: outside the 24-hour window.
    assert _report(client, jobs_env, sent, "undelivered", "63016") == 204
    reply = _reply(client, business.api_key)
    assert (reply["status"], reply["delivery_status"]) == ("failed", "undelivered")
    assert reply["message_sid"] == sent["sid"] and "63016" in str(reply["error"])

    fake_twilio.release()  # the send hears back and records the sid: the failure stays
    assert finished(business.id, job.id).status == "succeeded"
    assert _reply(client, business.api_key) == reply
    assert len([m for m in fake_twilio.messages if m["To"] == sent["To"]]) == 1


def test_a_delivery_reported_before_the_send_heard_back_stays_once_it_is_sent(
    client: TestClient, jobs_env: Settings, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    sent, job = _held_reply(client, jobs_env, fake_twilio, business)

    for status in ("delivered", "read"):
        assert _report(client, jobs_env, sent, status) == 204
    assert _delivery(client, business)[:2] == ("sending", "read")

    fake_twilio.release()
    assert finished(business.id, job.id).status == "succeeded"
    reply = _reply(client, business.api_key)
    assert (reply["status"], reply["delivery_status"], reply["message_sid"]) == (
        "sent",
        "read",
        sent["sid"],
    )
    assert reply["error"] is None


def test_a_send_whose_answer_was_lost_after_its_report_came_finds_its_own_sid(
    client: TestClient, jobs_env: Settings, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    """The message the API queued: Twilio took it and reported on it, then the answer to the
    send was lost. The lookup finds the sid the report recorded: this message's, not sent
    again."""
    world = make_world()
    fake_twilio.hold_next("create_message")
    fake_twilio.lose_answer_next("create_message")
    ref = enqueue(SEND_WHATSAPP_MESSAGE, business_id=world.id, message_id=world.outbound_id)
    [sent] = fake_twilio.wait_for(lambda: fake_twilio.messages or None, timeout=20)
    assert _report(client, jobs_env, sent, "delivered") == 204

    fake_twilio.release()

    assert finished(world.id, ref.job_id).status == "succeeded"
    assert len(fake_twilio.messages) == 1
    with tenant_session(world.id) as session:
        message = session.get(WhatsAppMessage, world.outbound_id)
        assert message is not None
        assert (message.status, message.delivery_status, message.message_sid) == (
            "sent",
            "delivered",
            sent["sid"],
        )


def test_a_report_naming_another_business_s_message_changes_nothing(
    client: TestClient, jobs_env: Settings, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    owner, other = make_business(), make_business()
    owners = _sent_reply(client, jobs_env, fake_twilio, owner)
    wait_for(lambda: _reply(client, owner.api_key)["status"] == "sent")
    others, job = _held_reply(client, jobs_env, fake_twilio, other)  # no sid recorded yet
    others_id = _reply(client, other.api_key)["id"]
    callback = f"{jobs_env.api_base_url}{WHATSAPP_STATUS_PATH}?message_id="

    # Signed by Twilio, from the owner's number, naming the other business's message; and
    # naming a message nobody has.
    for sid, message_id in (
        (others["sid"], others_id),
        (owners["sid"], others_id),
        (owners["sid"], 9_000_000_000_000_000_000),
    ):
        for status in ("delivered", "undelivered"):
            report = {**owners, "sid": sid}
            assert (
                _report(
                    client, jobs_env, report, status, "63016", callback=callback + str(message_id)
                )
                == 204
            )
    # Not an id at all: unsigned, 403 before anything else; signed for it, refused naming it.
    unsigned = client.post(WHATSAPP_STATUS_PATH + "?message_id=x", data={})
    assert unsigned.status_code == 403
    not_an_id = callback + "x"
    signed = {
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(not_an_id, {}),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    refused = client.post(WHATSAPP_STATUS_PATH + "?message_id=x", content=b"", headers=signed)
    assert refused.status_code == 422 and "message_id" in refused.text

    assert _delivery(client, other) == ("sending", None, None)
    assert _reply(client, other.api_key)["message_sid"] is None
    assert _delivery(client, owner) == ("sent", None, None)
    fake_twilio.release()
    assert finished(other.id, job.id).status == "succeeded"
    assert _delivery(client, other) == ("sent", None, None)


def test_a_report_without_the_message_id_finds_its_message_by_sid(
    client: TestClient, jobs_env: Settings, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    """A message sent before the callback named its id: the report names only Twilio's sid."""
    business = make_business()
    sent = _sent_reply(client, jobs_env, fake_twilio, business)
    wait_for(lambda: _reply(client, business.api_key)["status"] == "sent")
    plain = jobs_env.api_base_url + WHATSAPP_STATUS_PATH

    assert _report(client, jobs_env, sent, "delivered", callback=plain) == 204
    assert _delivery(client, business)[:2] == ("sent", "delivered")
    assert _report(client, jobs_env, sent, "undelivered", "63016", callback=plain) == 204
    assert _delivery(client, business)[:2] == ("sent", "delivered")  # forward only
    other = {**sent, "sid": "SM" + "e" * 32}
    assert _report(client, jobs_env, other, "read", callback=plain) == 204
    assert _delivery(client, business)[:2] == ("sent", "delivered")


def test_a_message_reported_undelivered_keeps_twilio_s_code_and_its_retried_dead_job_leaves_it(
    client: TestClient, jobs_env: Settings, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    """Twilio's ``undelivered`` with 63016 is final: the code is shown on its own field, and
    retrying the send's dead job through the API neither reopens nor resends the message (the
    retry hook used to make it ``sending`` again without its error, to be sent unless Twilio
    listed it); a later ``delivered`` does not move it back.

    The job dies as it can: Twilio took the message but its answer was lost, the report came
    meanwhile, and the lookup at Twilio failed on the one-shot job's only try."""
    world = make_world()
    fake_twilio.hold_next("create_message")
    fake_twilio.lose_answer_next("create_message")
    fake_twilio.fail_next("list_messages", status=503)
    ref = enqueue(SEND_WHATSAPP_MESSAGE, business_id=world.id, message_id=world.outbound_id)
    [sent] = fake_twilio.wait_for(lambda: fake_twilio.messages or None, timeout=20)
    assert _report(client, jobs_env, sent, "undelivered", "63016") == 204
    fake_twilio.release()
    assert finished(world.id, ref.job_id).status == "dead"

    message = _reply(client, world.business.api_key)
    assert (message["status"], message["delivery_status"]) == ("failed", "undelivered")
    assert message["error_code"] == "63016" and "24 hours" in str(message["error"])

    answer = client.post(f"/api/v1/jobs/{ref.job_id}/retry", headers=auth(world.business.api_key))
    assert answer.status_code == 200, answer.text
    assert finished(world.id, ref.job_id).status == "succeeded"

    assert _reply(client, world.business.api_key) == message
    assert len(fake_twilio.messages) == 1
    # Forward only: a late ``delivered`` (or ``read``) does not bring it back.
    for late in ("delivered", "read"):
        assert _report(client, jobs_env, sent, late) == 204
    assert _reply(client, world.business.api_key) == message


def test_twilio_s_error_message_is_kept_short_and_without_numbers_or_addresses() -> None:
    """Twilio's own text, for a code we do not describe, never carries a phone number, a
    WhatsApp or email address, or more than a short line into the message's error."""
    said = "Message to whatsapp:+15551234567 (+1 555-123-4567, dana@example.com) failed\n" + (
        "x" * 500
    )
    error = delivery_error("failed", "30008", said)

    assert error.startswith("Twilio: failed, error 30008 (Message to … (…, …) failed x")
    assert "555" not in error and "@" not in error and "\n" not in error
    assert len(error) < 220
    assert delivery_error("undelivered", "not-a-code", "") == "Twilio: undelivered, error none"
    assert "24 hours" in delivery_error("undelivered", "63016", "Twilio's text")
