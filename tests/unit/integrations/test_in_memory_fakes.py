"""The in-memory Twilio fake behaves like the port promises, for the actors' unit tests."""

from __future__ import annotations

import pytest

from switchboard.common.integrations.twilio_rest import (
    FakeTwilioRest,
    TwilioPermanentError,
    TwilioRetryableError,
)
from tests.support.recordings import downloaded


def test_the_fake_twilio_records_messages_and_calls() -> None:
    twilio = FakeTwilioRest()

    message = twilio.send_whatsapp("+15550001111", "+15559990000", "Hello")
    call = twilio.place_call("+15550001111", "+15559990000", "https://gw.test/o")
    twilio.end_call(call.sid)

    assert twilio.messages[0]["to"] == "whatsapp:+15550001111" and message.sid.startswith("SM")
    assert twilio.calls[0]["sid"] == call.sid and twilio.ended_calls == [call.sid]


def test_the_fake_twilio_fails_as_told() -> None:
    twilio = FakeTwilioRest(invalid_numbers={"+15550000000"})
    twilio.fail_next(1)

    with pytest.raises(TwilioRetryableError):
        twilio.send_whatsapp("+15550001111", "+15559990000", "Hello")
    with pytest.raises(TwilioPermanentError):
        twilio.send_whatsapp("+15550000000", "+15559990000", "Hello")


def test_the_fake_twilio_keeps_recordings_until_deleted() -> None:
    twilio = FakeTwilioRest()
    sid = twilio.start_recording("CA1", recording_status_callback="https://gw.test/r")
    twilio.recordings[sid] = b"audio"

    assert downloaded(twilio, sid) == b"audio"
    assert twilio.delete_recording(sid) is True
    with pytest.raises(TwilioPermanentError):
        downloaded(twilio, sid)
