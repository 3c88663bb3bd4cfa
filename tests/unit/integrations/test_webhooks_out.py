"""Outgoing webhooks: signatures, the private-address guard, and real deliveries over HTTP.

The address policy itself is tested in ``test_address_policy.py``.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from switchboard.common.integrations.address_policy import AddressPolicy
from switchboard.common.integrations.webhooks_out import (
    DeliveryAttempt,
    FakeWebhookSender,
    HttpWebhookSender,
    WebhookDestinationRefused,
    WebhookPermanentError,
    WebhookRetryableError,
    sign_payload,
    verify_signature,
)
from tests.fakes.flooding_receiver import FloodingReceiver
from tests.fakes.webhook_receiver import SECRET, FakeWebhookReceiver
from tests.support.processes import free_port

EVENT = {"event": "lead.created", "lead": {"id": 7, "name": "Dana"}}


def sender(*allowlist: str) -> HttpWebhookSender:
    return HttpWebhookSender(AddressPolicy(allowlist), timeout=3)


# --- signatures ------------------------------------------------------------------------------


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"s3cret", b"1700000000.{}", hashlib.sha256).hexdigest()

    assert sign_payload("s3cret", b"{}", 1700000000) == f"t=1700000000,v1={expected}"


def test_a_signature_verifies_only_for_the_same_secret_body_and_a_fresh_timestamp() -> None:
    header = sign_payload("s3cret", b'{"a":1}', 1700000000)

    assert verify_signature("s3cret", b'{"a":1}', header, now=1700000010)
    assert not verify_signature("other", b'{"a":1}', header, now=1700000010)
    assert not verify_signature("s3cret", b'{"a":2}', header, now=1700000010)
    assert not verify_signature("s3cret", b'{"a":1}', header, now=1700000000 + 301)
    assert not verify_signature("s3cret", b'{"a":1}', "garbage", now=1700000010)


# --- deliveries over HTTP --------------------------------------------------------------------


def test_a_delivery_is_signed_and_recorded_by_the_receiver(
    webhook_receiver: FakeWebhookReceiver,
) -> None:
    attempt = sender("127.0.0.1").send(
        webhook_receiver.url_for("n8n"), EVENT, SECRET, event_type="lead.created", event_id="evt_1"
    )

    assert attempt.outcome == "delivered" and attempt.status_code == 200
    assert '"received": true' in attempt.response_excerpt
    [received] = webhook_receiver.received
    assert received.signature_valid and received.json() == EVENT
    assert received.headers["X-Switchboard-Event"] == "lead.created"
    assert received.headers["X-Switchboard-Delivery"] == "evt_1"
    attempt.raise_for_outcome()


def test_a_failing_receiver_makes_a_retryable_attempt_with_its_answer(
    webhook_receiver: FakeWebhookReceiver,
) -> None:
    webhook_receiver.fail_next(1)
    send = sender("127.0.0.1")

    failed = send.send(webhook_receiver.url_for(), EVENT, SECRET)
    retried = send.send(webhook_receiver.url_for(), EVENT, SECRET)

    assert (failed.status_code, failed.outcome) == (500, "retryable")
    assert failed.response_excerpt == "internal error: receiver is down"
    with pytest.raises(WebhookRetryableError):
        failed.raise_for_outcome()
    assert retried.outcome == "delivered"


def test_a_wrong_secret_is_rejected_permanently(webhook_receiver: FakeWebhookReceiver) -> None:
    attempt = sender("127.0.0.1").send(webhook_receiver.url_for(), EVENT, "not-the-secret")

    assert (attempt.status_code, attempt.outcome) == (401, "permanent")
    with pytest.raises(WebhookPermanentError):
        attempt.raise_for_outcome()


def test_loopback_is_refused_unless_allow_listed(webhook_receiver: FakeWebhookReceiver) -> None:
    with pytest.raises(WebhookDestinationRefused, match="127.0.0.1, a loopback address"):
        sender().send(webhook_receiver.url_for(), EVENT, SECRET)

    assert webhook_receiver.received == []


def test_an_allow_listed_hostname_keeps_its_host_header(
    webhook_receiver: FakeWebhookReceiver,
) -> None:
    url = webhook_receiver.url_for().replace("127.0.0.1", "localhost")

    attempt = sender("localhost").send(url, EVENT, SECRET)

    assert attempt.outcome == "delivered"
    assert webhook_receiver.received[0].headers["Host"] == url.split("/")[2]


def test_an_unreachable_receiver_is_a_retryable_attempt_without_status() -> None:
    attempt = sender("127.0.0.1").send(f"http://127.0.0.1:{free_port()}/hook", EVENT, SECRET)

    assert attempt.status_code is None and attempt.outcome == "retryable"
    assert attempt.error and "ConnectError" in attempt.error


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(WebhookDestinationRefused, match="only http or https URLs"):
        sender().send("file:///etc/passwd", EVENT, SECRET)
    with pytest.raises(WebhookDestinationRefused, match="not a valid URL"):
        sender().send("http://0177.0.0.1/hook", EVENT, SECRET)


def test_an_endless_answer_is_read_for_its_excerpt_and_the_connection_dropped(
    flooding_receiver: FloodingReceiver,
) -> None:
    attempt = sender("127.0.0.1").send(f"{flooding_receiver.url}/hook", EVENT, SECRET)

    assert attempt.outcome == "delivered" and len(attempt.response_excerpt) <= 200
    flooding_receiver.wait_for(lambda: flooding_receiver.ended)
    assert flooding_receiver.written < flooding_receiver.size // 2


def test_redirects_and_client_errors_are_permanent() -> None:
    assert DeliveryAttempt(302, "", 1).outcome == "permanent"
    assert DeliveryAttempt(404, "", 1).outcome == "permanent"
    assert DeliveryAttempt(408, "", 1).outcome == "retryable"
    assert DeliveryAttempt(429, "", 1).outcome == "retryable"


def test_the_fake_sender_records_deliveries_and_plays_scripted_statuses() -> None:
    fake = FakeWebhookSender(statuses=[500], refused_hosts={"10.0.0.1"})

    assert fake.send("https://hooks.test/a", EVENT, "s").outcome == "retryable"
    assert fake.send("https://hooks.test/a", EVENT, "s").outcome == "delivered"
    with pytest.raises(WebhookDestinationRefused):
        fake.send("http://10.0.0.1/a", EVENT, "s")
    assert [d["payload"] for d in fake.deliveries] == [EVENT, EVENT]
