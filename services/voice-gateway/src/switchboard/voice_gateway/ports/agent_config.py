"""Where agent configs come from: the API (over internal REST) or, in tests, a dict."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from switchboard.voice_gateway.domain.agent_config import AgentConfig


class AgentConfigUnavailable(RuntimeError):
    """The config could not be fetched (API down, bad token) — not the same as unknown."""


@dataclass(frozen=True, slots=True)
class FetchedConfig:
    """A config as its source gave it, with the validator that asks later "has it changed?"."""

    config: AgentConfig | None
    etag: str | None = None


class AgentConfigSource(ABC):
    """Looks up the agent that answers a phone number."""

    @abstractmethod
    async def get(self, phone_number: str) -> AgentConfig | None:
        """The agent for ``phone_number`` (E.164), or None if no business owns it."""

    async def revalidate(self, phone_number: str, known: FetchedConfig | None) -> FetchedConfig:
        """The current config; a source that can tell "unchanged" cheaply answers ``known``
        (the API's ETag), others fetch it whole."""
        return FetchedConfig(await self.get(phone_number))


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
    """Keeps the last config per number and revalidates it with the source at every lookup
    once it is ``ttl_s`` old (``GATEWAY__AGENT_CONFIG_TTL_S``, default 0: every call start
    asks, so a changed setting or a number moved to another business reaches the next call;
    an unchanged config costs a bodiless 304). Concurrent lookups of a number share one fetch.

    ``prefetch`` starts a lookup without waiting, so the config arrives while the phone
    rings and the media stream finds it ready.
    """

    def __init__(self, inner: AgentConfigSource, ttl_s: float, now: Callable[[], float]) -> None:
        self._inner = inner
        self._ttl_s = ttl_s
        self._now = now
        self._entries: dict[str, tuple[float, FetchedConfig]] = {}
        self._inflight: dict[str, asyncio.Task[AgentConfig | None]] = {}

    async def get(self, phone_number: str) -> AgentConfig | None:
        """The config: revalidated with the inner source, or kept while younger than ttl_s."""
        entry = self._entries.get(phone_number)
        if entry is not None and self._now() - entry[0] < self._ttl_s:
            return entry[1].config
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
            entry = self._entries.get(phone_number)
            fetched = await self._inner.revalidate(phone_number, entry[1] if entry else None)
            self._entries[phone_number] = (self._now(), fetched)
            return fetched.config
        finally:
            self._inflight.pop(phone_number, None)
