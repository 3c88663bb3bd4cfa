"""Starting a call recording through the real ``twilio`` library against a fake Twilio REST API."""

from __future__ import annotations

import pytest
from twilio.rest import Client

from switchboard.voice_gateway.adapters.twilio_recorder import TwilioCallRecorder
from switchboard.voice_gateway.ports.recorder import RecordingFailed
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer, fake_twilio

__all__ = ["fake_twilio"]

CALLBACK = "https://voice.example.com/twilio/voice/recording?business_id=7"


def place_live_call(fake: FakeTwilioServer) -> str:
    fake.set_outcome("+15557654321", "live")
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = fake.url
    call = client.calls.create(to="+15557654321", from_="+15550001111", url="https://x/twiml")
    return str(call.sid)


async def test_a_recording_is_started_with_its_status_callback(
    fake_twilio: FakeTwilioServer,
) -> None:
    call_sid = place_live_call(fake_twilio)
    recorder = TwilioCallRecorder(ACCOUNT_SID, AUTH_TOKEN, fake_twilio.url)
    try:
        recording_sid = await recorder.start_recording(call_sid, CALLBACK)
    finally:
        await recorder.aclose()

    assert fake_twilio.recordings[recording_sid].call_sid == call_sid
    assert fake_twilio.calls[call_sid].params["RecordingStatusCallback"] == CALLBACK


async def test_a_refused_recording_raises_recording_failed(fake_twilio: FakeTwilioServer) -> None:
    recorder = TwilioCallRecorder(ACCOUNT_SID, "wrong-token", fake_twilio.url)
    try:
        with pytest.raises(RecordingFailed):
            await recorder.start_recording("CA" + "0" * 32, CALLBACK)
    finally:
        await recorder.aclose()
