"""The real Web Push adapter, through ``pywebpush``, against the fake push service."""

from __future__ import annotations

import base64
import os
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from switchboard.common.integrations.address_policy import PUSH_SCHEMES, AddressPolicy
from switchboard.common.integrations.push import (
    FakePushSender,
    PushDestinationRefused,
    PushPermanentError,
    PushRetryableError,
    PushSubscriptionInfo,
    SubscriptionGone,
    WebPushSender,
)
from switchboard.common.integrations.vapid import (
    VapidKeys,
    generate_vapid_keys,
    load_vapid_keys,
    parse_vapid_private_key,
)
from switchboard.common.settings import Settings
from tests.fakes.flooding_receiver import FloodingReceiver
from tests.fakes.web_push import BrowserSubscription, FakePushService
from tests.support.log_capture import capture_logs
from tests.support.processes import free_port

#: The fake push service listens on 127.0.0.1, which only an allow-list admits.
LOCAL = AddressPolicy(["127.0.0.1"])


def as_info(subscription: BrowserSubscription) -> PushSubscriptionInfo:
    info = subscription.as_subscription_info()
    return PushSubscriptionInfo(info["endpoint"], info["keys"]["p256dh"], info["keys"]["auth"])


@pytest.fixture
def keys() -> VapidKeys:
    return generate_vapid_keys("mailto:ops@example.com")


def test_a_push_arrives_encrypted_and_signed_and_decrypts_to_the_payload(
    fake_push_service: FakePushService, keys: VapidKeys
) -> None:
    fake_push_service.expected_vapid_key = keys.public_key
    subscription = fake_push_service.subscribe()

    status = WebPushSender(keys, policy=LOCAL).send(
        as_info(subscription), {"title": "Reminder", "body": "Call Dana"}, ttl=60
    )

    assert status == 201
    [push] = fake_push_service.received
    assert push.json() == {"title": "Reminder", "body": "Call Dana"}
    assert push.ttl == 60
    assert push.claims["sub"] == "mailto:ops@example.com"
    assert push.claims["aud"] == fake_push_service.url


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_raises_subscription_gone(
    fake_push_service: FakePushService, keys: VapidKeys, status: int
) -> None:
    subscription = fake_push_service.subscribe()
    fake_push_service.mark_gone(subscription, status)

    with pytest.raises(SubscriptionGone) as raised:
        WebPushSender(keys, policy=LOCAL).send(as_info(subscription), {"title": "x"})

    assert raised.value.status == status


@pytest.mark.parametrize("retry_after", ["7", "Sun, 06 Dec 2099 00:00:07 GMT"])
def test_a_429_carries_the_push_service_s_retry_after(
    fake_push_service: FakePushService, keys: VapidKeys, retry_after: str
) -> None:
    fake_push_service.throttle_next(retry_after=retry_after)

    with pytest.raises(PushRetryableError) as raised:
        WebPushSender(keys, policy=LOCAL).send(
            as_info(fake_push_service.subscribe()), {"title": "x"}
        )

    assert raised.value.status == 429
    assert raised.value.retry_after is not None and raised.value.retry_after >= 7
    assert fake_push_service.received == []


def test_a_push_signed_with_another_key_is_rejected_permanently(
    fake_push_service: FakePushService, keys: VapidKeys
) -> None:
    """A configuration error: failed at once, and logged as one, without the private key."""
    fake_push_service.expected_vapid_key = generate_vapid_keys().public_key

    with capture_logs() as logs, pytest.raises(PushPermanentError) as raised:
        WebPushSender(keys, policy=LOCAL).send(
            as_info(fake_push_service.subscribe()), {"title": "x"}
        )

    assert raised.value.status == 401 and not isinstance(raised.value, SubscriptionGone)
    assert fake_push_service.rejected == ["unexpected application server key"]
    [refused] = [line for line in logs if line["event"] == "push.vapid_refused"]
    assert refused["log_level"] == "error" and "VAPID_PRIVATE_KEY" in refused["hint"]
    assert "unexpected application server key" in refused["reason"]
    private = keys.private_key_pem().splitlines()[1]
    assert all(private not in str(line) for line in logs)


def test_an_unreachable_push_service_is_retryable(keys: VapidKeys) -> None:
    info = PushSubscriptionInfo(f"http://127.0.0.1:{free_port()}/push/x", *_browser_keys())

    with pytest.raises(PushRetryableError):
        WebPushSender(keys, policy=LOCAL, timeout=2).send(info, {"title": "x"})


def test_a_push_to_a_loopback_endpoint_is_refused_without_a_request(
    fake_push_service: FakePushService, keys: VapidKeys
) -> None:
    info = as_info(fake_push_service.subscribe())
    subscription = replace(info, endpoint=info.endpoint.replace("http:", "https:"))

    with pytest.raises(PushDestinationRefused, match="127.0.0.1, a loopback address"):
        WebPushSender(keys).send(subscription, {"title": "x"})

    assert fake_push_service.received == [] and fake_push_service.rejected == []


def test_a_push_endpoint_rebound_to_a_private_address_is_refused(
    fake_push_service: FakePushService, keys: VapidKeys
) -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    policy = AddressPolicy(resolver=lambda host, port: next(answers))
    endpoint = fake_push_service.subscribe().endpoint.replace("127.0.0.1", "push.rebind.test")
    endpoint = endpoint.replace("http:", "https:")
    policy.require_registrable(endpoint, field="endpoint", schemes=PUSH_SCHEMES)
    info = PushSubscriptionInfo(endpoint, *_browser_keys())

    with pytest.raises(PushDestinationRefused, match="push.rebind.test resolves to 127.0.0.1"):
        WebPushSender(keys, policy=policy).send(info, {"title": "x"})

    assert fake_push_service.received == [] and fake_push_service.rejected == []


def test_a_plain_http_endpoint_is_refused_at_send_time_unless_its_host_is_allow_listed(
    fake_push_service: FakePushService, keys: VapidKeys
) -> None:
    # The name stands for a public push service (its address allow-listed), stored as http
    # some other way than the API, which refuses it.
    policy = AddressPolicy(["127.0.0.1/32"], resolver=lambda host, port: ["127.0.0.1"])
    browser = as_info(fake_push_service.subscribe())
    named = replace(browser, endpoint=browser.endpoint.replace("127.0.0.1", "push.example.test"))

    with pytest.raises(PushDestinationRefused, match="only https URLs"):
        WebPushSender(keys, policy=policy).send(named, {"title": "x"})
    assert WebPushSender(keys, policy=policy).send(browser, {"title": "x"}) == 201

    assert len(fake_push_service.received) == 1 and fake_push_service.rejected == []


def test_an_endless_error_answer_is_read_for_its_start_and_the_connection_dropped(
    keys: VapidKeys,
) -> None:
    with FloodingReceiver.running(status=400) as service:
        info = PushSubscriptionInfo(f"{service.url}/push/x", *_browser_keys())

        with pytest.raises(PushPermanentError, match="HTTP 400 x+$") as raised:
            WebPushSender(keys, policy=LOCAL).send(info, {"title": "x"})

        assert len(str(raised.value)) < 300
        service.wait_for(lambda: service.ended)
        assert service.written < service.size // 2


def test_an_oversized_payload_is_refused_before_sending(keys: VapidKeys) -> None:
    info = PushSubscriptionInfo("http://127.0.0.1:9/push/x", *_browser_keys())

    with pytest.raises(PushPermanentError, match="over the limit"):
        WebPushSender(keys, policy=LOCAL).send(info, {"body": "x" * 5000})


def test_a_dev_key_pair_is_created_once_under_var_dir_and_reused(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)

    first = load_vapid_keys(settings)
    second = load_vapid_keys(settings)

    assert first.public_key == second.public_key
    assert (tmp_path / "vapid_private_key.pem").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("subject", ["ops@example.com", "http://example.com", "mailto:"])
def test_a_vapid_subject_that_no_push_service_accepts_is_refused_at_start(subject: str) -> None:
    with pytest.raises(ValueError, match="vapid_subject"):
        Settings(vapid_subject=subject)


def test_production_without_a_configured_key_refuses_to_invent_one(tmp_path: Path) -> None:
    settings = Settings.model_construct(environment="production", var_dir=tmp_path)

    with pytest.raises(ValueError, match="VAPID_PRIVATE_KEY"):
        load_vapid_keys(settings)


def test_a_private_key_is_accepted_as_pem_or_raw_base64url(keys: VapidKeys) -> None:
    from_pem = parse_vapid_private_key(keys.private_key_pem(), "mailto:a@b.co")
    raw = keys.private_key.private_numbers().private_value.to_bytes(32, "big")
    from_raw = parse_vapid_private_key(_b64url(raw), "mailto:a@b.co")

    assert from_pem.public_key == from_raw.public_key == keys.public_key


def test_the_fake_sender_records_pushes_and_knows_gone_endpoints() -> None:
    fake = FakePushSender(gone_endpoints={"https://push.test/gone"})
    live = PushSubscriptionInfo("https://push.test/live", "k", "a")

    assert fake.send(live, {"title": "hi"}) == 201
    with pytest.raises(SubscriptionGone):
        fake.send(PushSubscriptionInfo("https://push.test/gone", "k", "a"), {"title": "hi"})
    assert fake.sent == [("https://push.test/live", {"title": "hi"})]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _browser_keys() -> tuple[str, str]:
    browser = BrowserSubscription("x", ec.generate_private_key(ec.SECP256R1()), os.urandom(16))
    info = browser.as_subscription_info()
    return info["keys"]["p256dh"], info["keys"]["auth"]
