"""A call's lines name its sid ``call_sid``, whichever code logs them, so that following a call
(``jq 'select(.call_sid == "CA…")'``) finds the lines of placing and ending it; a message's sid
is ``message_sid`` and a recording's ``recording_sid``, never a bare ``sid``."""

from __future__ import annotations

from switchboard.common.integrations.twilio_client import TwilioRestClient
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer, fake_twilio

from .conftest import JsonLines

__all__ = ["fake_twilio"]


def test_placing_and_ending_a_call_log_its_call_sid(
    fake_twilio: FakeTwilioServer, json_lines: JsonLines
) -> None:
    twilio = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url, timeout=5)
    fake_twilio.set_outcome("+15550003333", "live")

    placed = twilio.place_call("+15550003333", "+15559990000", "https://gw.test/o")
    twilio.end_call(placed.sid)

    lines = {line["event"]: line for line in json_lines() if "event" in line}
    for event in ("twilio.call_placed", "twilio.call_ended"):
        assert lines[event]["call_sid"] == placed.sid, event
        assert "sid" not in lines[event], event


def test_a_sent_message_and_a_recording_log_their_sids_by_kind(
    fake_twilio: FakeTwilioServer, json_lines: JsonLines
) -> None:
    twilio = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url, timeout=5)
    fake_twilio.set_outcome("+15550003333", "live")

    sent = twilio.send_whatsapp("+15550001111", "+15559990000", "Hello!")
    call_sid = twilio.place_call("+15550003333", "+15559990000", "https://gw.test/o").sid
    recording_sid = twilio.start_recording(call_sid, recording_status_callback="https://x.test/r")

    lines = {line["event"]: line for line in json_lines() if "event" in line}
    assert lines["twilio.message_sent"]["message_sid"] == sent.sid
    recording = lines["twilio.recording_started"]
    assert (recording["call_sid"], recording["recording_sid"]) == (call_sid, recording_sid)
    assert not [line for line in lines.values() if "sid" in line]
