"""OpenAI Realtime through the official ``openai`` library (GA protocol, ``audio/pcmu``).

μ-law goes in and out untouched, so there is no resampling on the call path. Caller
audio is sent in 100 ms batches by one sender task, so the receive path never waits on
OpenAI. Server-side VAD decides turns; its ``speech_started`` drives our barge-in.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from openai import AsyncOpenAI, OpenAIError
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from switchboard.common.logging import get_logger, redact
from switchboard.voice_gateway.domain.agent_config import AgentConfig
from switchboard.voice_gateway.ports.ai import (
    AgentAudio,
    AgentText,
    AIConversation,
    AIEvent,
    AIProvider,
    AnswerDone,
    CallContext,
    CallerSpeechStarted,
    CallerSpeechStopped,
    CallerText,
    ProviderFailed,
    ProviderUnavailable,
)

log = get_logger(__name__)

_BATCH_FRAMES = 5  # 100 ms of caller audio per input_audio_buffer.append
_CONNECT_ERRORS = (OpenAIError, OSError, InvalidHandshake, TimeoutError, ConnectionClosed)


def session_config(config: AgentConfig, call: CallContext) -> dict[str, Any]:
    """The ``session.update`` payload for a phone call with this agent."""
    return {
        "type": "realtime",
        "instructions": (
            f"{config.prompt}\n\nYou are on a phone call for {config.business_name} "
            f"({call.direction}; the caller's number is "
            f"{call.from_number if call.direction == 'inbound' else call.to_number})."
        ),
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcmu"},
                "turn_detection": {"type": "server_vad"},
                "transcription": {
                    "model": "gpt-4o-mini-transcribe",
                    "language": config.language[:2],
                },
            },
            "output": {"format": {"type": "audio/pcmu"}, "voice": config.voice},
        },
    }


class OpenAIRealtimeConversation(AIConversation):
    """One Realtime websocket for one call."""

    transcribes_caller = True

    def __init__(self, connection: AsyncRealtimeConnection) -> None:
        self._connection = connection
        self._pending = bytearray()
        self._pending_frames = 0
        self._outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._sender = asyncio.create_task(self._send_audio(), name="openai-audio-sender")

    def push_caller_audio(self, payload: bytes) -> None:
        """Batch caller audio; every 100 ms the sender task appends it."""
        self._pending += payload
        self._pending_frames += 1
        if self._pending_frames >= _BATCH_FRAMES:
            self._outbox.put_nowait(bytes(self._pending))
            self._pending.clear()
            self._pending_frames = 0

    async def _send_audio(self) -> None:
        while (chunk := await self._outbox.get()) is not None:
            try:
                await self._connection.input_audio_buffer.append(
                    audio=base64.b64encode(chunk).decode("ascii")
                )
            except (ConnectionClosed, OpenAIError) as exc:
                log.warning("openai_append_failed", error=redact(repr(exc)))
                return

    async def events(self) -> AsyncIterator[AIEvent]:
        """Provider events mapped to the port's events."""
        try:
            async for event in self._connection:
                mapped = self._map(event)
                if mapped is not None:
                    yield mapped
        except (ConnectionClosed, OpenAIError) as exc:
            yield ProviderFailed(f"realtime connection lost: {type(exc).__name__}")

    @staticmethod
    def _map(event: Any) -> AIEvent | None:
        kind = event.type
        if kind == "response.output_audio.delta":
            return AgentAudio(event.item_id, base64.b64decode(event.delta))
        if kind == "response.output_audio_transcript.done":
            return AgentText(event.item_id, event.transcript)
        if kind == "response.output_audio.done":
            return AnswerDone(event.item_id)
        if kind == "input_audio_buffer.speech_started":
            return CallerSpeechStarted()
        if kind == "input_audio_buffer.speech_stopped":
            return CallerSpeechStopped()
        if kind == "conversation.item.input_audio_transcription.completed":
            return CallerText(event.transcript)
        if kind == "error":
            # Most errors concern one request (a truncate past the end, say); the call goes on.
            log.warning("openai_error_event", error=redact(str(getattr(event, "error", ""))))
        return None

    async def say(self, instructions: str) -> None:
        """Ask for an answer that says ``instructions`` in the agent's voice."""
        await self._connection.response.create(
            response={"instructions": f"Say this to the caller, naturally: {instructions}"}
        )

    async def interrupted(self, item_id: str, played_ms: int) -> None:
        """Truncate the answer at what the caller heard (OpenAI drops the unheard text)."""
        await self._connection.conversation.item.truncate(
            item_id=item_id, content_index=0, audio_end_ms=played_ms
        )

    async def close(self) -> None:
        """Stop sending and close the websocket."""
        self._outbox.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._sender, 2)
        with contextlib.suppress(*_CONNECT_ERRORS):
            await self._connection.close()


class OpenAIRealtimeProvider(AIProvider):
    """Opens Realtime conversations; ``base_url`` is ``OPENAI_BASE_URL`` (``…/v1``)."""

    name = "openai"

    def __init__(self, api_key: str, base_url: str, model: str) -> None:
        self._client = AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0)
        self._model = model

    async def open(self, config: AgentConfig, call: CallContext) -> AIConversation:
        """Connect, configure the session for μ-law phone audio, and return the conversation."""
        try:
            connection = await asyncio.wait_for(
                self._client.realtime.connect(model=self._model).enter(), 10
            )
            await connection.session.update(session=session_config(config, call))  # type: ignore[arg-type]
        except _CONNECT_ERRORS as exc:
            raise ProviderUnavailable(f"OpenAI Realtime: {type(exc).__name__}") from exc
        return OpenAIRealtimeConversation(connection)
