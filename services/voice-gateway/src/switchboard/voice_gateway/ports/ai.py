"""The AI provider port: a conversation partner that hears the caller and answers in audio.

Adapters: OpenAI Realtime, the offline agent (no network), and ``ScriptedAIProvider`` for
tests. Audio is 8 kHz μ-law both ways, so nothing on the call path re-encodes it.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from switchboard.voice_gateway.domain.agent_config import AgentConfig


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who is on the call, for the provider's instructions."""

    call_sid: str
    direction: str
    from_number: str
    to_number: str


@dataclass(frozen=True, slots=True)
class AgentAudio:
    """A piece of the agent's spoken answer ``item_id`` (μ-law)."""

    item_id: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class AgentText:
    """The words of the agent's answer ``item_id`` (the whole answer once it is known)."""

    item_id: str
    text: str


@dataclass(frozen=True, slots=True)
class AnswerDone:
    """The provider finished producing answer ``item_id``."""

    item_id: str


@dataclass(frozen=True, slots=True)
class CallerSpeechStarted:
    """The provider heard the caller begin to speak (barge-in if the agent is talking)."""


@dataclass(frozen=True, slots=True)
class CallerSpeechStopped:
    """The caller stopped speaking."""


@dataclass(frozen=True, slots=True)
class CallerText:
    """A final transcript of something the caller said."""

    text: str


@dataclass(frozen=True, slots=True)
class ProviderFailed:
    """The provider cannot go on; the call ends."""

    reason: str


AIEvent = (
    AgentAudio
    | AgentText
    | AnswerDone
    | CallerSpeechStarted
    | CallerSpeechStopped
    | CallerText
    | ProviderFailed
)


class ProviderUnavailable(RuntimeError):
    """The provider could not be reached or refused the conversation."""


class AIConversation(ABC):
    """One live conversation with the provider, for one call."""

    #: True if the provider emits ``CallerText`` itself (else the STT port is used).
    transcribes_caller: bool = False
    #: Which provider this is ("openai", "gemini", …): the label of the latency metrics.
    provider_name: str = "ai"

    @abstractmethod
    def push_caller_audio(self, payload: bytes) -> None:
        """Hand over a frame of caller audio; never blocks (adapters buffer or batch)."""

    @abstractmethod
    def events(self) -> AsyncIterator[AIEvent]:
        """What the provider says and hears, until the conversation closes."""

    @abstractmethod
    async def say(self, instructions: str) -> None:
        """Ask for an answer now (greeting, silence prompt), steered by ``instructions``."""

    @abstractmethod
    async def interrupted(self, item_id: str, played_ms: int) -> None:
        """The caller cut answer ``item_id`` off after hearing ``played_ms`` of it."""

    @abstractmethod
    async def close(self) -> None:
        """End the conversation and release its connection."""


class AIProvider(ABC):
    """Opens conversations."""

    name: str = "ai"

    async def warm_up(self) -> None:  # noqa: B027 (optional: most adapters need none)
        """Build now what the first conversation would build (lazy imports, parsers).

        Called once as the gateway starts, so the first call does not stall the event loop
        (and every other call's audio) doing it. Nothing by default.
        """

    @abstractmethod
    async def open(self, config: AgentConfig, call: CallContext) -> AIConversation:
        """Start a conversation for one call with the business's agent."""


def provider_name(conversation: AIConversation, provider: AIProvider) -> str:
    """The metrics label of a conversation: its own provider name, else its opener's."""
    name = conversation.provider_name
    return name if name != AIConversation.provider_name else provider.name


@dataclass
class ScriptedConversation(AIConversation):
    """A fake conversation: records what it was given; tests push the events it emits."""

    received_audio: list[bytes] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    interruptions: list[tuple[str, int]] = field(default_factory=list)
    closed: bool = False
    transcribes_caller: bool = True
    heard_caller: asyncio.Event = field(default_factory=asyncio.Event)
    _queue: asyncio.Queue[AIEvent | None] = field(default_factory=asyncio.Queue)

    def emit(self, event: AIEvent) -> None:
        """Make the conversation produce ``event``."""
        self._queue.put_nowait(event)

    def push_caller_audio(self, payload: bytes) -> None:
        """Record the frame."""
        self.received_audio.append(payload)
        self.heard_caller.set()

    async def events(self) -> AsyncIterator[AIEvent]:
        """The emitted events, until closed."""
        while (event := await self._queue.get()) is not None:
            yield event

    async def say(self, instructions: str) -> None:
        """Record the request."""
        self.said.append(instructions)

    async def interrupted(self, item_id: str, played_ms: int) -> None:
        """Record the interruption."""
        self.interruptions.append((item_id, played_ms))

    async def close(self) -> None:
        """Stop the event stream."""
        self.closed = True
        self._queue.put_nowait(None)


class ScriptedAIProvider(AIProvider):
    """Hands out ``ScriptedConversation``s and keeps them for the test to drive."""

    name = "scripted"

    def __init__(self) -> None:
        self.conversations: list[ScriptedConversation] = []
        self.opened = asyncio.Event()

    async def open(self, config: AgentConfig, call: CallContext) -> AIConversation:
        """A new scripted conversation."""
        conversation = ScriptedConversation()
        self.conversations.append(conversation)
        self.opened.set()
        return conversation
