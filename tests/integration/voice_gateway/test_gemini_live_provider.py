"""The Gemini Live adapter through the real ``google-genai`` library and a Live-protocol fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from switchboard.voice_gateway.adapters.gemini_live import GeminiLiveProvider
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
from tests.fakes.gemini_live import API_KEY, FakeGeminiLive, decode_bytes
from tests.unit.voice_gateway.twilio_messages import SILENCE
from tests.unit.voice_gateway.wiring import AGENT

CALL = CallContext("CA1", "inbound", "+15557654321", AGENT.phone_number)
MODEL = "gemini-2.5-flash-native-audio-preview-09-2025"


@pytest.fixture
async def fake_gemini() -> AsyncIterator[FakeGeminiLive]:
    # Answers "play" for no time at all, so turns complete at once (barge-in tests set it).
    async with FakeGeminiLive(playback_pacing=0).running() as server:
        yield server


def provider_for(fake: FakeGeminiLive, api_key: str = API_KEY) -> GeminiLiveProvider:
    return GeminiLiveProvider(api_key, fake.url, MODEL, ssl_context=fake.client_ssl_context())


@pytest.fixture
async def conversation(fake_gemini: FakeGeminiLive) -> AsyncIterator[AIConversation]:
    conversation = await provider_for(fake_gemini).open(AGENT, CALL)
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


def speak(conversation: AIConversation, text: str, silence_frames: int = 40) -> None:
    for frame in [*split_frames(speech_ulaw(text, voice="high")), *[SILENCE] * silence_frames]:
        conversation.push_caller_audio(frame)


async def test_the_session_asks_for_audio_with_both_transcriptions_and_the_agents_prompt(
    conversation: AIConversation, fake_gemini: FakeGeminiLive
) -> None:
    (setup,) = fake_gemini.setups
    assert setup["model"] == f"models/{MODEL}"
    assert setup["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert "inputAudioTranscription" in setup and "outputAudioTranscription" in setup
    (instructions,) = setup["systemInstruction"]["parts"]
    assert AGENT.prompt in instructions["text"] and AGENT.business_name in instructions["text"]
    assert conversation.provider_name == "gemini" and conversation.transcribes_caller


async def test_a_gemini_voice_is_asked_for_by_name_and_an_openai_one_is_left_to_gemini(
    fake_gemini: FakeGeminiLive,
) -> None:
    provider = provider_for(fake_gemini)
    for voice in ("kore", "alloy"):
        conversation = await provider.open(AGENT.model_copy(update={"voice": voice}), CALL)
        await conversation.close()
    first, second = fake_gemini.setups
    speech = first["generationConfig"]["speechConfig"]
    assert speech["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"] == "Kore"
    assert "speechConfig" not in second["generationConfig"]


async def test_asking_for_a_greeting_streams_back_8_khz_ulaw_and_the_whole_transcript(
    conversation: AIConversation, fake_gemini: FakeGeminiLive
) -> None:
    await conversation.say("Hello from Acme Dental")
    seen = await events_until(conversation, AnswerDone)

    audio = b"".join(e.payload for e in seen if isinstance(e, AgentAudio))
    # 24 kHz PCM in, a third as many μ-law bytes out: same duration at 8 kHz.
    expected = len(b"".join(fake_gemini.sent_audio)) // 2 // 3
    assert abs(len(audio) - expected) <= 31 and rms_dbfs(audio) > -30
    assert [e.text for e in seen if isinstance(e, AgentText)] == ["Hello from Acme Dental"]
    assert len({e.item_id for e in seen if isinstance(e, AgentAudio | AgentText)}) == 1
    (text_turn,) = [m for m in fake_gemini.of_type("realtimeInput") if "text" in m]
    assert text_turn["text"].endswith("Hello from Acme Dental")


async def test_caller_audio_goes_out_as_16_khz_pcm_and_the_caller_is_transcribed_and_answered(
    conversation: AIConversation, fake_gemini: FakeGeminiLive
) -> None:
    speak(conversation, "I need a cleaning next week")
    seen = await events_until(conversation, AnswerDone)

    kinds = [type(e) for e in seen]
    assert kinds.index(CallerSpeechStarted) < kinds.index(AgentAudio)
    assert kinds.count(CallerSpeechStarted) == 1
    # The caller's words are committed at the end of the turn, before the answer's words.
    assert (
        kinds.index(CallerSpeechStopped)
        < kinds.index(CallerText)
        < kinds.index(AgentText)
        < kinds.index(AnswerDone)
    )
    (caller,) = [e.text for e in seen if isinstance(e, CallerText)]
    assert caller.startswith("caller spoke for ")
    assert any(isinstance(e, AgentText) and "booking" in e.text for e in seen)
    audio_in = fake_gemini.of_type("realtimeInput")[0]["audio"]
    assert audio_in["mimeType"] == "audio/pcm;rate=16000"
    pcm = np.frombuffer(decode_bytes(audio_in["data"]), dtype="<i2")
    assert pcm.size == 2 * 160 * 2  # 40 ms batches, two samples per phone sample


async def test_caller_speech_over_an_answer_is_an_interruption_with_the_words_so_far(
    fake_gemini: FakeGeminiLive,
) -> None:
    fake_gemini.playback_pacing = 1.0  # the answer stays open while it would play
    conversation = await provider_for(fake_gemini).open(AGENT, CALL)
    try:
        await conversation.say("Our opening hours are nine to five on weekdays")
        before = await events_until(conversation, AgentAudio)
        speak(conversation, "Wait, one more thing", silence_frames=0)
        seen = await events_until(conversation, CallerSpeechStarted)
        (answer,) = {e.item_id for e in before if isinstance(e, AgentAudio)}
        texts = [e for e in seen if isinstance(e, AgentText)]
        assert [t.item_id for t in texts] == [answer] and "opening hours" in texts[0].text
        assert not any(isinstance(e, AnswerDone) for e in seen)

        await conversation.interrupted(answer, 400)
        for _ in range(40):
            conversation.push_caller_audio(SILENCE)
        after = await events_until(conversation, AnswerDone)
        new_ids = {e.item_id for e in after if isinstance(e, AgentAudio | AnswerDone)}
        assert answer not in new_ids and len(new_ids) == 1
        assert not any(isinstance(e, CallerSpeechStarted) for e in after)
        assert fake_gemini.interruptions == 1
    finally:
        await conversation.close()


async def test_an_answer_cut_while_still_arriving_plays_no_more_and_is_never_done(
    conversation: AIConversation,
) -> None:
    await conversation.say("Our opening hours are nine to five on weekdays")
    (first,) = await events_until(conversation, AgentAudio)
    assert isinstance(first, AgentAudio)

    await conversation.interrupted(first.item_id, 0)
    await conversation.say("Anything else?")
    after = await events_until(conversation, AnswerDone)

    ids = {e.item_id for e in after if isinstance(e, AgentAudio | AgentText | AnswerDone)}
    assert first.item_id not in ids and len(ids) == 1
    assert [e.text for e in after if isinstance(e, AgentText)] == ["Anything else?"]


async def test_words_transcribed_after_the_answer_began_join_the_callers_sentence(
    conversation: AIConversation, fake_gemini: FakeGeminiLive
) -> None:
    fake_gemini.late_caller_words = " on Tuesday"
    speak(conversation, "I need a cleaning next week")
    seen = await events_until(conversation, AnswerDone)

    (caller,) = [e.text for e in seen if isinstance(e, CallerText)]
    assert caller.startswith("caller spoke for ") and caller.endswith("ms on Tuesday")
    assert [type(e) for e in seen].count(CallerSpeechStarted) == 1  # late words start nothing


async def test_a_wrong_api_key_makes_the_provider_unavailable(
    fake_gemini: FakeGeminiLive,
) -> None:
    with pytest.raises(ProviderUnavailable):
        await provider_for(fake_gemini, "wrong-key-000000").open(AGENT, CALL)
    assert fake_gemini.rejected_keys == ["wrong-key-000000"]


async def test_an_unreachable_service_makes_the_provider_unavailable(
    fake_gemini: FakeGeminiLive,
) -> None:
    provider = GeminiLiveProvider(API_KEY, "https://127.0.0.1:1", MODEL)
    with pytest.raises(ProviderUnavailable):
        await provider.open(AGENT, CALL)


async def test_a_session_the_service_drops_ends_in_provider_failed(
    conversation: AIConversation, fake_gemini: FakeGeminiLive
) -> None:
    await fake_gemini.drop_connections(1011, "Internal error encountered.")
    seen = await events_until(conversation, ProviderFailed)
    assert isinstance(seen[-1], ProviderFailed)


async def test_closing_the_conversation_ends_its_events_quietly(
    conversation: AIConversation,
) -> None:
    await conversation.close()
    assert await events_until(conversation, ProviderFailed) == []
