import asyncio

from switchboard.voice_gateway.adapters.offline_agent import OfflineAgentProvider
from switchboard.voice_gateway.domain.codecs import rms_dbfs, split_frames
from switchboard.voice_gateway.domain.speech import speech_ulaw
from switchboard.voice_gateway.ports.ai import (
    AgentAudio,
    AgentText,
    AIEvent,
    AnswerDone,
    CallContext,
    CallerSpeechStarted,
    CallerSpeechStopped,
)
from tests.unit.voice_gateway.twilio_messages import SILENCE
from tests.unit.voice_gateway.wiring import AGENT

CALL = CallContext("CA1", "inbound", "+15557654321", AGENT.phone_number)


async def collect_until_answer_done(events, timeout_s: float = 5) -> list[AIEvent]:
    seen: list[AIEvent] = []
    async with asyncio.timeout(timeout_s):
        async for event in events:
            seen.append(event)
            if isinstance(event, AnswerDone):
                return seen
    return seen


async def test_the_offline_agent_answers_with_real_ulaw_speech_after_the_caller_stops() -> None:
    conversation = await OfflineAgentProvider(end_of_speech_ms=300).open(AGENT, CALL)
    events = conversation.events()
    for frame in split_frames(speech_ulaw("I would like an appointment please")):
        conversation.push_caller_audio(frame)
    for _ in range(20):
        conversation.push_caller_audio(SILENCE)

    seen = await collect_until_answer_done(events)
    kinds = [type(e) for e in seen]
    assert kinds[:3] == [CallerSpeechStarted, CallerSpeechStopped, AgentText]
    assert "offline assistant for Acme Dental" in seen[2].text  # type: ignore[union-attr]
    audio = b"".join(e.payload for e in seen if isinstance(e, AgentAudio))
    assert len(audio) > 8000 and rms_dbfs(audio) > -30  # over a second of audible 8 kHz μ-law
    await conversation.close()


async def test_the_offline_agent_says_its_greeting_word_for_word() -> None:
    conversation = await OfflineAgentProvider().open(AGENT, CALL)
    await conversation.say(AGENT.greeting)
    seen = await collect_until_answer_done(conversation.events())
    assert seen[0] == AgentText("offline_1", AGENT.greeting)
    await conversation.close()


async def test_silence_and_short_noises_get_no_answer() -> None:
    conversation = await OfflineAgentProvider(end_of_speech_ms=200).open(AGENT, CALL)
    for _ in range(100):
        conversation.push_caller_audio(SILENCE)
    click = split_frames(speech_ulaw("a"))[:4]
    for frame in [*click, *[SILENCE] * 20]:
        conversation.push_caller_audio(frame)
    await conversation.close()
    kinds = [type(e) async for e in conversation.events()]
    assert AgentText not in kinds
