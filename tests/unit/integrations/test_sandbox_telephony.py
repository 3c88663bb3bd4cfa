"""The sandbox adapter of the Twilio REST port: when it is chosen, its inbox, its errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from switchboard.common.bootstrap import adapters
from switchboard.common.integrations.sandbox import inbox
from switchboard.common.integrations.sandbox.calls import INVALID_NUMBER
from switchboard.common.integrations.sandbox.mode import telephony_mode
from switchboard.common.integrations.sandbox.rest import SandboxTwilioRest
from switchboard.common.integrations.twilio_rest import TwilioPermanentError, TwilioRetryableError
from switchboard.common.settings import Settings
from tests.support.environment import configured
from tests.support.factories import make_business, unique_phone
from tests.support.processes import free_port
from tests.support.recordings import downloaded


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Settings]:
    from switchboard.common.migrate import worker_startup_migrations

    with configured(
        database_url="",
        amqp_url="",
        var_dir=str(tmp_path / "var"),
        telephony="",
        # Nothing listens there: the calls' tests see the gateway unreachable.
        public_base_url=f"http://127.0.0.1:{free_port()}",
    ) as settings:
        worker_startup_migrations()
        yield settings


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "sandbox"),  # embedded
        ({"database_url": "postgresql://db/x", "amqp_url": "amqp://mq"}, "sandbox"),  # dev token
        (
            {"database_url": "postgresql://db/x", "twilio_auth_token": "a-real-token"},
            "twilio",
        ),
        ({"twilio_api_base_url": "http://127.0.0.1:9999"}, "twilio"),  # a Twilio-speaking fake
        ({"telephony": "twilio"}, "twilio"),
        (
            {"telephony": "sandbox", "database_url": "postgresql://db/x", "twilio_auth_token": "t"},
            "sandbox",
        ),
    ],
)
def test_telephony_is_the_sandbox_without_real_twilio_credentials_unless_set(
    env: dict[str, str], expected: str
) -> None:
    assert telephony_mode(Settings(**env)) == expected  # type: ignore[arg-type]


def test_the_process_adapters_choose_the_sandbox_in_the_embedded_mode(embedded) -> None:
    assert isinstance(adapters().twilio, SandboxTwilioRest)


def test_a_whatsapp_message_lands_in_the_sending_business_inbox_and_nowhere_else(
    embedded,
) -> None:
    sender, other = make_business(), make_business()
    customer = unique_phone()
    twilio = adapters().twilio

    sent = twilio.send_whatsapp(customer, f"whatsapp:{sender.phone_number}", "See you at 9")

    assert sent.sid.startswith("SM") and sent.status == "delivered"
    [message] = inbox.recent(sender.id)
    assert (message.sid, message.to, message.from_, message.body) == (
        sent.sid,
        customer,
        sender.phone_number,
        "See you at 9",
    )
    assert inbox.recent(other.id) == []


def test_a_sent_message_is_found_again_as_twilio_lists_it(embedded) -> None:
    business, customer = make_business(), unique_phone()
    twilio = adapters().twilio
    since = datetime.now(UTC) - timedelta(seconds=1)
    sent = twilio.send_whatsapp(customer, business.phone_number, "Your table is booked")

    assert twilio.find_whatsapp(
        customer, business.phone_number, "Your table is booked", created_after=since
    ) == [sent.sid]
    assert twilio.find_whatsapp(customer, business.phone_number, "other", created_after=since) == []


def test_a_sender_that_is_no_business_number_is_refused_as_twilio_refuses_it(embedded) -> None:
    with pytest.raises(TwilioPermanentError) as refused:
        adapters().twilio.send_whatsapp(unique_phone(), unique_phone(), "Hello")
    assert refused.value.code == 21606


def test_twilio_s_invalid_test_number_fails_a_message_and_a_call_at_once(embedded) -> None:
    business = make_business()
    twilio = adapters().twilio
    with pytest.raises(TwilioPermanentError) as message:
        twilio.send_whatsapp(INVALID_NUMBER, business.phone_number, "Hello")
    with pytest.raises(TwilioPermanentError) as call:
        twilio.place_call(INVALID_NUMBER, business.phone_number, "http://gw/twilio/voice/outbound")
    assert message.value.code == call.value.code == 21211


def test_a_call_while_the_gateway_is_down_is_refused_for_now_and_never_placed(embedded) -> None:
    business = make_business()
    with pytest.raises(TwilioRetryableError) as refused:
        adapters().twilio.place_call(
            unique_phone(), business.phone_number, "http://gw/twilio/voice/outbound"
        )
    # The dialer may try again: nothing reached the callee, so nobody is called twice.
    assert refused.value.outcome_known


def test_a_recording_is_a_short_wav_and_deleting_it_succeeds(embedded) -> None:
    twilio = adapters().twilio
    audio = downloaded(twilio, "RE" + "a" * 32)
    assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
    assert twilio.delete_recording("RE" + "a" * 32)
    with pytest.raises(TwilioPermanentError):
        downloaded(twilio, "../../etc/passwd")
