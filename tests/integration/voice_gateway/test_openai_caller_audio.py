"""Caller audio reaches OpenAI as it comes, and a slow OpenAI costs dropped frames, not memory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from switchboard.voice_gateway.adapters.openai_realtime import (
    MAX_BATCH_FRAMES,
    MAX_PENDING_FRAMES,
    OpenAIRealtimeConversation,
    OpenAIRealtimeProvider,
)
from switchboard.voice_gateway.ports.ai import CallContext
from tests.fakes.openai_realtime import API_KEY, FakeRealtimeServer
from tests.unit.voice_gateway.wiring import AGENT

CALL = CallContext("CA1", "inbound", "+15557654321", AGENT.phone_number)


def frame(n: int) -> bytes:
    """A 20 ms frame that says which one it is."""
    return n.to_bytes(2, "big") * 80


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer().running() as server:
        yield server


@pytest.fixture
async def conversation(
    fake_openai: FakeRealtimeServer,
) -> AsyncIterator[OpenAIRealtimeConversation]:
    provider = OpenAIRealtimeProvider(API_KEY, fake_openai.url, "gpt-realtime")
    conversation = await provider.open(AGENT, CALL)
    assert isinstance(conversation, OpenAIRealtimeConversation)
    yield conversation
    await conversation.close()


def dropped() -> float:
    value = REGISTRY.get_sample_value(
        "switchboard_gateway_caller_frames_dropped_total", {"provider": "openai"}
    )
    return value or 0.0


async def test_each_caller_frame_is_appended_as_it_comes(
    conversation: OpenAIRealtimeConversation, fake_openai: FakeRealtimeServer
) -> None:
    for n in range(3):
        conversation.push_caller_audio(frame(n))
        await fake_openai.wait_until(lambda n=n: len(fake_openai.appended_audio()) > n)

    assert fake_openai.appended_audio() == [frame(0), frame(1), frame(2)]


async def test_frames_that_pile_up_behind_a_slow_provider_are_dropped_oldest_first_and_counted(
    conversation: OpenAIRealtimeConversation, fake_openai: FakeRealtimeServer
) -> None:
    before = dropped()
    extra = 30
    for n in range(MAX_PENDING_FRAMES + extra):  # faster than any provider could take them
        conversation.push_caller_audio(frame(n))
    assert conversation.pending_frames == MAX_PENDING_FRAMES

    await fake_openai.wait_until(
        lambda: sum(map(len, fake_openai.appended_audio())) == MAX_PENDING_FRAMES * 160
    )
    appends = fake_openai.appended_audio()
    assert b"".join(appends) == b"".join(frame(n) for n in range(extra, MAX_PENDING_FRAMES + extra))
    assert max(map(len, appends)) <= MAX_BATCH_FRAMES * 160
    assert dropped() - before == extra


async def test_the_audio_left_is_sent_before_the_conversation_closes(
    fake_openai: FakeRealtimeServer,
) -> None:
    provider = OpenAIRealtimeProvider(API_KEY, fake_openai.url, "gpt-realtime", append_every_ms=100)
    conversation = await provider.open(AGENT, CALL)
    for n in range(3):  # less than one 100 ms batch
        conversation.push_caller_audio(frame(n))
    await conversation.close()

    await fake_openai.wait_until(lambda: len(fake_openai.appended_audio()) == 1)
    assert fake_openai.appended_audio() == [frame(0) + frame(1) + frame(2)]
