"""Where agent configs come from: the API (over internal REST) or, in tests, a dict."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable

from switchboard.voice_gateway.domain.agent_config import AgentConfig


class AgentConfigUnavailable(RuntimeError):
    """The config could not be fetched (API down, bad token) — not the same as unknown."""


class AgentConfigSource(ABC):
    """Looks up the agent that answers a phone number."""

    @abstractmethod
    async def get(self, phone_number: str) -> AgentConfig | None:
        """The agent for ``phone_number`` (E.164), or None if no business owns it."""


class InMemoryAgentConfigSource(AgentConfigSource):
    """A fixed set of configs keyed by phone number; counts lookups."""

    def __init__(self, configs: list[AgentConfig] | None = None) -> None:
        self.configs = {config.phone_number: config for config in configs or []}
        self.lookups: list[str] = []

    async def get(self, phone_number: str) -> AgentConfig | None:
        """The stored config for the number."""
        self.lookups.append(phone_number)
        return self.configs.get(phone_number)


class CachedAgentConfigSource(AgentConfigSource):
    """Caches another source for ``ttl_s``; concurrent lookups of a number share one fetch.

    ``prefetch`` starts a lookup without waiting, so the config arrives while the phone
    rings and the media stream finds it ready.
    """

    def __init__(self, inner: AgentConfigSource, ttl_s: float, now: Callable[[], float]) -> None:
        self._inner = inner
        self._ttl_s = ttl_s
        self._now = now
        self._entries: dict[str, tuple[float, AgentConfig | None]] = {}
        self._inflight: dict[str, asyncio.Task[AgentConfig | None]] = {}

    async def get(self, phone_number: str) -> AgentConfig | None:
        """The config, from the cache while fresh, else from the inner source."""
        entry = self._entries.get(phone_number)
        if entry is not None and self._now() - entry[0] < self._ttl_s:
            return entry[1]
        return await asyncio.shield(self._fetch(phone_number))

    def prefetch(self, phone_number: str) -> None:
        """Start fetching the config in the background if it is not cached."""
        entry = self._entries.get(phone_number)
        if entry is None or self._now() - entry[0] >= self._ttl_s:
            self._fetch(phone_number)

    def _fetch(self, phone_number: str) -> asyncio.Task[AgentConfig | None]:
        task = self._inflight.get(phone_number)
        if task is None:
            task = asyncio.create_task(self._load(phone_number), name="agent-config-fetch")
            self._inflight[phone_number] = task
            # A prefetch nobody awaits must not log "exception never retrieved".
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    async def _load(self, phone_number: str) -> AgentConfig | None:
        try:
            config = await self._inner.get(phone_number)
            self._entries[phone_number] = (self._now(), config)
            return config
        finally:
            self._inflight.pop(phone_number, None)
