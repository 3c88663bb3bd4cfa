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
    ProviderUnavailable,
)
from tests.fakes.openai_realtime import API_KEY, FakeRealtimeServer
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
