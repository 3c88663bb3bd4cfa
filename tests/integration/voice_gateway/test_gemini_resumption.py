"""A Gemini call outlives its Live connection: the adapter resumes the session on a new one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from switchboard.voice_gateway.ports.ai import (
    AgentAudio,
    AgentText,
    AIConversation,
    AIEvent,
    AnswerDone,
    CallerText,
    ProviderFailed,
)
from tests.fakes.gemini_live import FakeGeminiLive, decode_bytes
from tests.integration.voice_gateway.test_gemini_live_provider import CALL, provider_for, speak
from tests.unit.voice_gateway.twilio_messages import SILENCE
from tests.unit.voice_gateway.wiring import AGENT


class Listener:
    """Reads a conversation's events in the background, as the call's bridge does."""

    def __init__(self, conversation: AIConversation) -> None:
        self.events: list[AIEvent] = []
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._listen(conversation))

    async def _listen(self, conversation: AIConversation) -> None:
        async for event in conversation.events():
            self.events.append(event)
            self._changed.set()
        self._changed.set()

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def until(self, predicate: Callable[[], bool], timeout_s: float = 10) -> None:
        async with asyncio.timeout(timeout_s):
            while not predicate():
                assert not self.task.done(), f"events ended: {self.events[-3:]}"
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def fake_gemini() -> AsyncIterator[FakeGeminiLive]:
    async with FakeGeminiLive(playback_pacing=0).running() as server:
        yield server


@pytest.fixture
async def conversation(fake_gemini: FakeGeminiLive) -> AsyncIterator[AIConversation]:
    conversation = await provider_for(fake_gemini).open(AGENT, CALL)
    yield conversation
    await conversation.close()


@pytest.fixture
async def listener(conversation: AIConversation) -> AsyncIterator[Listener]:
    listener = Listener(conversation)
    yield listener
    listener.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listener.task


async def greeted(conversation: AIConversation, listener: Listener, fake: FakeGeminiLive) -> None:
    """One answer on the first connection, which leaves a resumption handle behind."""
    await conversation.say("Hello from Acme Dental")
    await listener.until(lambda: len(listener.of(AnswerDone)) == 1)
    await fake.wait_until(lambda: fake.issued_handles)


def caller_audio_on(fake: FakeGeminiLive, connection: int) -> bytes:
    messages = fake.connections[connection].received
    return b"".join(
        decode_bytes(m["realtimeInput"]["audio"]["data"])
        for m in messages
        if "audio" in m.get("realtimeInput", {})
    )


def dropped() -> float:
    value = REGISTRY.get_sample_value(
        "switchboard_gateway_caller_frames_dropped_total", {"provider": "gemini"}
    )
    return value or 0.0


def resumed_after_go_away() -> float:
    value = REGISTRY.get_sample_value(
        "switchboard_gateway_ai_sessions_resumed_total", {"provider": "gemini", "reason": "goAway"}
    )
    return value or 0.0


async def test_the_session_is_set_up_resumable(
    conversation: AIConversation, fake_gemini: FakeGeminiLive
) -> None:
    (setup,) = fake_gemini.setups
    assert setup["sessionResumption"] == {}


async def test_a_conversation_goes_on_over_a_new_connection_after_go_away(
    conversation: AIConversation, listener: Listener, fake_gemini: FakeGeminiLive
) -> None:
    await greeted(conversation, listener, fake_gemini)
    resumed_before = resumed_after_go_away()

    await fake_gemini.go_away(time_left_s=30)
    await fake_gemini.wait_until(lambda: fake_gemini.resumed_handles)
    speak(conversation, "I need a cleaning next week")
    await listener.until(lambda: len(listener.of(AnswerDone)) == 2)

    assert resumed_after_go_away() - resumed_before == 1

    assert fake_gemini.resumed_handles == fake_gemini.issued_handles[:1]
    first, second = fake_gemini.setups
    assert second["sessionResumption"] == {"handle": fake_gemini.issued_handles[0]}
    assert second["systemInstruction"] == first["systemInstruction"]
    # The caller's speech went to the new connection only; the old one was closed by us,
    # long before its time was up.
    assert caller_audio_on(fake_gemini, 1) and not caller_audio_on(fake_gemini, 0)
    await fake_gemini.wait_until(lambda: fake_gemini.open_connections == 1)
    assert [e.item_id for e in listener.of(AnswerDone)] == ["gemini-1", "gemini-2"]
    assert [e.text for e in listener.of(AgentText)] == [
        "Hello from Acme Dental",
        fake_gemini.answer_text,
    ]
    assert {e.item_id for e in listener.of(AgentAudio)} == {"gemini-1", "gemini-2"}
    (caller,) = listener.of(CallerText)
    assert caller.text.startswith("caller spoke for ")
    assert not listener.of(ProviderFailed)


async def test_caller_audio_pushed_during_the_swap_reaches_the_new_connection_up_to_a_second(
    conversation: AIConversation, listener: Listener, fake_gemini: FakeGeminiLive
) -> None:
    await greeted(conversation, listener, fake_gemini)
    fake_gemini.hold_resumption = asyncio.Event()
    await fake_gemini.go_away(time_left_s=30)
    await fake_gemini.wait_until(lambda: len(fake_gemini.connections) == 2)
    before = dropped()

    for _ in range(60):  # 1.2 s while the new connection is not set up yet
        conversation.push_caller_audio(SILENCE)
    await asyncio.sleep(0)
    fake_gemini.hold_resumption.set()
    # 40 ms batches, each 640 samples of 16 kHz PCM16: the newest second (25 of 30) arrives.
    await fake_gemini.wait_until(lambda: len(caller_audio_on(fake_gemini, 1)) >= 25 * 1280)

    assert len(caller_audio_on(fake_gemini, 1)) == 25 * 1280
    assert dropped() - before == 10
    assert not listener.of(ProviderFailed)


async def test_a_connection_lost_after_a_handle_was_issued_is_resumed(
    conversation: AIConversation, listener: Listener, fake_gemini: FakeGeminiLive
) -> None:
    await greeted(conversation, listener, fake_gemini)

    await fake_gemini.drop_connections(1011, "Internal error encountered.")
    await fake_gemini.wait_until(lambda: fake_gemini.resumed_handles)
    await conversation.say("Anything else?")
    await listener.until(lambda: len(listener.of(AnswerDone)) == 2)

    assert [e.item_id for e in listener.of(AnswerDone)] == ["gemini-1", "gemini-2"]
    assert not listener.of(ProviderFailed)


async def test_an_answer_cut_off_by_a_lost_connection_is_done_with_the_words_that_came(
    fake_gemini: FakeGeminiLive,
) -> None:
    conversation = await provider_for(fake_gemini).open(AGENT, CALL)
    listener = Listener(conversation)
    try:
        await greeted(conversation, listener, fake_gemini)
        fake_gemini.playback_pacing = 10.0  # the next answer stays open until we cut it
        await conversation.say("Our opening hours are nine to five on weekdays")
        # Its second piece of audio comes after its first words.
        await listener.until(
            lambda: [e.item_id for e in listener.of(AgentAudio)].count("gemini-2") >= 2
        )

        await fake_gemini.drop_connections(1011, "Internal error encountered.")
        await listener.until(lambda: len(listener.of(AnswerDone)) == 2)
        await fake_gemini.wait_until(lambda: fake_gemini.resumed_handles)

        assert [e.item_id for e in listener.of(AnswerDone)] == ["gemini-1", "gemini-2"]
        assert "opening hours" in listener.of(AgentText)[-1].text
        assert not listener.of(ProviderFailed)
    finally:
        await conversation.close()
        listener.task.cancel()


async def test_a_refused_resumption_ends_the_conversation_in_provider_failed(
    conversation: AIConversation, listener: Listener, fake_gemini: FakeGeminiLive
) -> None:
    await greeted(conversation, listener, fake_gemini)
    fake_gemini.refuse_resumption = True

    await fake_gemini.go_away(time_left_s=30)
    await listener.task

    (failed,) = listener.of(ProviderFailed)
    assert "resumed" in failed.reason
    assert fake_gemini.resumed_handles == [] and len(fake_gemini.connections) == 2


async def test_closing_during_a_swap_leaves_no_connection_open(
    conversation: AIConversation, listener: Listener, fake_gemini: FakeGeminiLive
) -> None:
    await greeted(conversation, listener, fake_gemini)
    fake_gemini.hold_resumption = asyncio.Event()
    await fake_gemini.go_away(time_left_s=30)
    await fake_gemini.wait_until(
        lambda: len(fake_gemini.connections) == 2 and fake_gemini.connections[1].received
    )

    await conversation.close()

    await fake_gemini.wait_until(lambda: fake_gemini.open_connections == 0)
    await listener.task
    assert not listener.of(ProviderFailed) and fake_gemini.resumed_handles == []


async def test_go_away_during_an_answer_swaps_once_the_answer_is_done_and_from_its_handle(
    conversation: AIConversation, listener: Listener, fake_gemini: FakeGeminiLive
) -> None:
    await greeted(conversation, listener, fake_gemini)
    fake_gemini.playback_pacing = 0.3  # the answer's turn stays open a little while
    await conversation.say("Our opening hours are nine to five on weekdays")
    await listener.until(lambda: "gemini-2" in {e.item_id for e in listener.of(AgentAudio)})

    await fake_gemini.go_away(time_left_s=30)
    await fake_gemini.wait_until(lambda: fake_gemini.resumed_handles)

    # The answer finished on the old connection, once; the session resumed from after it.
    assert [e.item_id for e in listener.of(AnswerDone)] == ["gemini-1", "gemini-2"]
    assert fake_gemini.resumed_handles == fake_gemini.issued_handles[1:2]
    assert not listener.of(ProviderFailed)
