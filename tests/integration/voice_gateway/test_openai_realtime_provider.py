"""The OpenAI Realtime adapter through the real ``openai`` library and a GA-protocol fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from switchboard.voice_gateway.adapters.openai_realtime import OpenAIRealtimeProvider
from switchboard.voice_gateway.domain.codecs import rms_dbfs, split_frames
from switchboard.voice_gateway.domain.speech import speech_ulaw
from switchboard.voice_gateway.ports.ai import (
    AgentAudio,
    AgentText,
    AIConversation,
    AIEvent,
    AnswerDone,
    CallContext,
    CallerSpeechStarted,
    CallerSpeechStopped,
    CallerText,
    ProviderFailed,
    ProviderUnavailable,
)
from tests.fakes.openai_realtime import API_KEY, FakeRealtimeServer
from tests.support.log_capture import capture_logs
from tests.unit.voice_gateway.twilio_messages import SILENCE
from tests.unit.voice_gateway.wiring import AGENT

CALL = CallContext("CA1", "inbound", "+15557654321", AGENT.phone_number)


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer().running() as server:
        yield server


@pytest.fixture
async def conversation(fake_openai: FakeRealtimeServer) -> AsyncIterator[AIConversation]:
    provider = OpenAIRealtimeProvider(API_KEY, fake_openai.url, "gpt-realtime")
    conversation = await provider.open(AGENT, CALL)
    yield conversation
    await conversation.close()


async def events_until(
    conversation: AIConversation, kind: type, timeout_s: float = 10
) -> list[AIEvent]:
    seen: list[AIEvent] = []
    async with asyncio.timeout(timeout_s):
        async for event in conversation.events():
            seen.append(event)
            if isinstance(event, kind):
                return seen
    return seen


async def test_the_session_is_configured_for_ulaw_both_ways_with_the_agents_prompt_and_voice(
    conversation: AIConversation, fake_openai: FakeRealtimeServer
) -> None:
    await fake_openai.wait_for("session.update")
    (session,) = fake_openai.sessions
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["output"]["voice"] == AGENT.voice
    assert AGENT.prompt in session["instructions"]


async def test_asking_for_a_greeting_streams_back_ulaw_audio_and_its_transcript(
    conversation: AIConversation,
) -> None:
    await conversation.say("Hello from Acme Dental")
    seen = await events_until(conversation, AnswerDone)

    audio = b"".join(e.payload for e in seen if isinstance(e, AgentAudio))
    assert rms_dbfs(audio) > -30 and len(audio) > 4000
    texts = [e.text for e in seen if isinstance(e, AgentText)]
    assert texts == ["Hello from Acme Dental"]


async def test_caller_speech_is_detected_transcribed_and_answered(
    conversation: AIConversation, fake_openai: FakeRealtimeServer
) -> None:
    for frame in [*split_frames(speech_ulaw("I need a cleaning next week")), *[SILENCE] * 40]:
        conversation.push_caller_audio(frame)
    seen = await events_until(conversation, AnswerDone)

    kinds = [type(e) for e in seen]
    assert (
        kinds.index(CallerSpeechStarted)
        < kinds.index(CallerSpeechStopped)
        < kinds.index(CallerText)
    )
    assert any(isinstance(e, AgentText) and "booking" in e.text for e in seen)
    assert fake_openai.of_type("input_audio_buffer.append")


async def test_an_interrupted_answer_is_truncated_at_the_played_milliseconds(
    conversation: AIConversation, fake_openai: FakeRealtimeServer
) -> None:
    await conversation.interrupted("item_000042", 1200)
    truncate = await fake_openai.wait_for("conversation.item.truncate")
    assert (truncate["item_id"], truncate["content_index"], truncate["audio_end_ms"]) == (
        "item_000042",
        0,
        1200,
    )


async def test_a_wrong_api_key_makes_the_provider_unavailable(
    fake_openai: FakeRealtimeServer,
) -> None:
    provider = OpenAIRealtimeProvider("sk-wrong-key-000000", fake_openai.url, "gpt-realtime")
    with pytest.raises(ProviderUnavailable):
        await provider.open(AGENT, CALL)


async def test_an_error_event_is_logged_and_the_call_goes_on(
    conversation: AIConversation, fake_openai: FakeRealtimeServer
) -> None:
    await fake_openai.wait_for("session.update")
    await fake_openai.send_raw(
        '{"type": "error", "event_id": "e1", "error": {"type": "invalid_request_error",'
        ' "message": "audio_end_ms is past the end"}}'
    )
    await conversation.say("Still here")
    seen = await events_until(conversation, AnswerDone)
    assert [e.text for e in seen if isinstance(e, AgentText)] == ["Still here"]


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        '{"no_type": 1}',
        '{"type": "response.output_audio.delta", "item_id": "i1", "delta": "#not base64#"}',
    ],
)
async def test_an_event_the_adapter_cannot_read_fails_the_provider_rather_than_the_call(
    conversation: AIConversation, fake_openai: FakeRealtimeServer, message: str
) -> None:
    await fake_openai.wait_for("session.update")
    await fake_openai.send_raw(message)
    (*_, last) = await events_until(conversation, ProviderFailed)
    assert isinstance(last, ProviderFailed) and "not understood" in last.reason


async def test_the_provider_closing_the_call_normally_ends_its_events(
    conversation: AIConversation, fake_openai: FakeRealtimeServer
) -> None:
    await fake_openai.wait_for("session.update")
    await fake_openai.connections[0].close()
    async with asyncio.timeout(5):
        seen = [event async for event in conversation.events()]
    assert not any(isinstance(e, ProviderFailed) for e in seen)


async def test_asking_a_lost_connection_for_an_answer_or_a_cut_leaves_the_failure_to_its_events(
    conversation: AIConversation, fake_openai: FakeRealtimeServer
) -> None:
    # The call's greeting, a silence prompt or a barge-in can come just after the connection
    # is lost: the call must end as the provider's failure (its events say so), not raise
    # out of the session as an internal error.
    await fake_openai.wait_for("session.update")
    await fake_openai.connections[0].close(1011, "Internal error")
    (*_, last) = await events_until(conversation, ProviderFailed)
    assert isinstance(last, ProviderFailed)

    with capture_logs() as logs:
        await conversation.say("Are you still there?")
        await conversation.interrupted("item_1", 400)

    assert [line["event"] for line in logs] == ["openai_send_failed", "openai_send_failed"]
