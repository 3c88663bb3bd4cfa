"""Malformed Media Streams messages against a gateway served by uvicorn: the socket that sent
one is closed with a close frame (1008) and a reason, counted on ``/metrics`` by reason, and
a call on another socket of the same process goes on to its normal end."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect

from switchboard.common.settings import Settings
from switchboard.voice_gateway.app import create_app
from switchboard.voice_gateway.domain.frames import ProtocolError
from switchboard.voice_gateway.domain.playback import PlaybackMark
from switchboard.voice_gateway.ports.agent_config import InMemoryAgentConfigSource
from switchboard.voice_gateway.ports.event_publisher import InMemoryEventPublisher
from switchboard.voice_gateway.ports.recorder import InMemoryCallRecorder
from switchboard.voice_gateway.twilio.serializer import TwilioMediaSerializer
from tests.support.waiting import wait_for
from tests.unit.voice_gateway import twilio_messages as twilio
from tests.unit.voice_gateway.served import serving, until_closed
from tests.unit.voice_gateway.wiring import AGENT


def _start(call_sid: str, *, token: str | None = None, sample_rate: object = 8000) -> str:
    message = json.loads(twilio.start(call_sid, token=token))
    message["start"]["mediaFormat"]["sampleRate"] = sample_rate
    return json.dumps(message)


def _media(sequence: int, call_sid: str, timestamp: object) -> str:
    message = json.loads(twilio.media(sequence, call_sid=call_sid))
    message["media"]["timestamp"] = timestamp
    return json.dumps(message)


def _messages(case: str) -> list[str]:
    """What the malformed socket sends (built when the test runs: tokens expire)."""
    match case:
        case "non-numeric sampleRate":
            return [twilio.connected(), _start("CAbad1", sample_rate="eight thousand")]
        case "non-ASCII stream token":
            return [twilio.connected(), _start("CAbad2", token="t\u00f6ken.\u00e9")]
        case "non-numeric media timestamp":
            return [twilio.connected(), _start("CAbad3"), _media(2, "CAbad3", "soon")]
        case "JSON nested too deep":
            return ["[" * 30_000]
        case "connected again and again before start":  # a flood without a token
            return [twilio.connected()] * 1000
        case "media of another stream":  # as Twilio writes it: the session's short path
            message = json.loads(twilio.media(2, call_sid="CAother"))
            message["streamSid"] = message.pop("streamSid")  # last, where Twilio puts it
            compact = json.dumps(message, separators=(",", ":"))
            assert TwilioMediaSerializer.plain_audio(compact) is not None
            return [twilio.connected(), _start("CAbad4"), compact]
        case "media naming no stream":
            message = json.loads(twilio.media(2, call_sid="CAbad5"))
            del message["streamSid"]
            return [twilio.connected(), _start("CAbad5"), json.dumps(message)]
        case _:  # 3 bytes a character: the reason is cut to 123 bytes
            return [json.dumps({"event": "\u8a9e" * 500})]


#: case → (the close reason it starts with, the metric's reason label)
MALFORMED = {
    "non-numeric sampleRate": ("invalid sampleRate", "malformed"),
    "non-ASCII stream token": ("invalid token", "invalid_token"),
    "non-numeric media timestamp": ("invalid media timestamp", "malformed"),
    "JSON nested too deep": ("malformed JSON", "malformed"),
    "connected again and again before start": ("second connected", "out_of_order"),
    "media of another stream": ("CallerAudio of another stream", "wrong_stream_sid"),
    "media naming no stream": ("CallerAudio without streamSid", "wrong_stream_sid"),
    "unknown event with a long non-ASCII name": ("unknown event '\u8a9e", "unknown_event"),
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway (offline agent, in-memory events) served by uvicorn in a thread."""
    settings = Settings(
        public_base_url="https://voice.example.com",
        twilio_auth_token="tw-token",
        media_token_secret=twilio.SECRET,
        amqp_url="",
        var_dir=tmp_path_factory.mktemp("gateway"),
    )
    app = create_app(
        settings,
        event_publisher=InMemoryEventPublisher(),
        agent_config_source=InMemoryAgentConfigSource([AGENT]),
        recorder=InMemoryCallRecorder(),
    )
    with serving(app) as address:
        yield address


def _active_calls(gateway: str) -> int:
    return int(httpx.get(f"http://{gateway}/health").json()["active_calls"])


def _protocol_errors(gateway: str, reason: str) -> float:
    text = httpx.get(f"http://{gateway}/metrics").text
    pattern = rf'^switchboard_gateway_protocol_errors_total\{{reason="{reason}"\}} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_message_closes_its_socket_with_a_reason_and_no_other(
    gateway: str, case: str
) -> None:
    reason, label = MALFORMED[case]
    before = await asyncio.to_thread(_protocol_errors, gateway, label)
    url = f"ws://{gateway}/twilio/media"
    async with connect(url) as healthy:
        for text in (twilio.connected(), twilio.start("CAok"), twilio.media(2, call_sid="CAok")):
            await healthy.send(text)
        first = json.loads(await asyncio.wait_for(healthy.recv(), 10))
        assert first["event"] in ("media", "mark")  # the agent's greeting is playing

        async with connect(url, max_size=None) as bad:
            for text in _messages(case):
                await bad.send(text)
            code, said = await asyncio.wait_for(until_closed(bad), 10)
        assert code == 1008 and said.startswith(reason), (code, said)
        assert len(said.encode()) <= 123

        await asyncio.to_thread(
            wait_for, lambda: _active_calls(gateway) == 1, timeout=10, what="one call left"
        )
        await healthy.send(twilio.media(3, call_sid="CAok"))
        await healthy.send(twilio.stop(4))
        code, said = await asyncio.wait_for(until_closed(healthy), 10)
    assert (code, said) == (1000, "caller_hung_up")
    assert await asyncio.to_thread(_protocol_errors, gateway, label) == before + 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("sequenceNumber", "2x"), ("sequenceNumber", True), ("sequenceNumber", -1)],
)
def test_a_sequence_number_that_is_not_a_count_is_a_protocol_error(
    field: str, value: object
) -> None:
    message = json.loads(twilio.media(2))
    message[field] = value
    with pytest.raises(ProtocolError, match="sequenceNumber"):
        TwilioMediaSerializer().deserialize(json.dumps(message))


def test_a_mark_with_unicode_digits_is_not_ours_and_ends_nothing() -> None:
    assert PlaybackMark.parse("sb:\u00b2:item") is None
    assert PlaybackMark.parse("sb:" + "9" * 5000 + ":item") is None
    assert PlaybackMark.parse("sb:200:item") == PlaybackMark(item_id="item", played_ms=200)
