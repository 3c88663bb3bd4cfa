import asyncio

from switchboard.voice_gateway.ports.agent_config import (
    CachedAgentConfigSource,
    InMemoryAgentConfigSource,
)
from switchboard.voice_gateway.ports.clock import FakeClock
from tests.unit.voice_gateway.wiring import AGENT


async def test_a_config_is_fetched_once_while_fresh_and_again_when_stale() -> None:
    inner, clock = InMemoryAgentConfigSource([AGENT]), FakeClock()
    cache = CachedAgentConfigSource(inner, ttl_s=60, now=clock.now)
    assert await cache.get(AGENT.phone_number) == AGENT
    assert await cache.get(AGENT.phone_number) == AGENT
    assert len(inner.lookups) == 1
    clock._now += 61
    await cache.get(AGENT.phone_number)
    assert len(inner.lookups) == 2


async def test_an_unknown_number_is_cached_as_unknown() -> None:
    inner = InMemoryAgentConfigSource([])
    cache = CachedAgentConfigSource(inner, ttl_s=60, now=FakeClock().now)
    assert await cache.get("+1000") is None
    assert await cache.get("+1000") is None
    assert inner.lookups == ["+1000"]


async def test_a_prefetch_while_the_phone_rings_is_shared_with_the_later_lookup() -> None:
    inner = InMemoryAgentConfigSource([AGENT])
    cache = CachedAgentConfigSource(inner, ttl_s=60, now=FakeClock().now)
    cache.prefetch(AGENT.phone_number)
    results = await asyncio.gather(cache.get(AGENT.phone_number), cache.get(AGENT.phone_number))
    assert results == [AGENT, AGENT]
    assert inner.lookups == [AGENT.phone_number]
