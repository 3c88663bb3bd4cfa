"""OpenAI Realtime through the official ``openai`` library (GA protocol, ``audio/pcmu``).

μ-law goes in and out untouched, so there is no resampling on the call path. Caller
audio is appended as it comes (each 20 ms frame, or ``append_every_ms`` batches) by one
sender task, so the receive path never waits on OpenAI; when OpenAI does not keep up, the
oldest waiting frames are dropped and counted rather than queued without bound. Server-side
VAD decides turns; its ``speech_started`` drives our barge-in.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any, Union, cast

import orjson
from openai import AsyncOpenAI, OpenAIError
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake

from switchboard.common.logging import get_logger, redact
from switchboard.voice_gateway import metrics
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

_FRAME_MS = 20
#: Caller audio waiting for a slow provider beyond this (1 s) is dropped, oldest first.
MAX_PENDING_FRAMES = 50
#: The most caller audio one append carries when frames have piled up (40 ms).
MAX_BATCH_FRAMES = 2
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
    provider_name = "openai"

    def __init__(self, connection: AsyncRealtimeConnection, append_every_ms: int = 0) -> None:
        self._connection = connection
        #: Frames per append while the provider keeps up (1: each frame as it comes).
        self._batch = max(1, append_every_ms // _FRAME_MS)
        self._pending: deque[tuple[bytes, float]] = deque()
        self._waiting = asyncio.Event()
        self._closing = False
        self._latency = metrics.CALLER_AUDIO_LATENCY.labels(provider=self.provider_name)
        self._dropped = metrics.CALLER_FRAMES_DROPPED.labels(provider=self.provider_name)
        self._sender = asyncio.create_task(self._send_audio(), name="openai-audio-sender")

    @property
    def pending_frames(self) -> int:
        """Caller frames received and not yet appended."""
        return len(self._pending)

    def push_caller_audio(self, payload: bytes) -> None:
        """Queue a caller frame for the sender task; beyond 1 s waiting the oldest is dropped."""
        pending = self._pending
        pending.append((payload, time.monotonic()))
        if len(pending) > MAX_PENDING_FRAMES:
            pending.popleft()
            self._dropped.inc()
        if len(pending) >= self._batch:
            self._waiting.set()

    async def _send_audio(self) -> None:
        pending, waiting, connection = self._pending, self._waiting, self._connection
        batch = self._batch
        while True:
            if len(pending) < batch and not (self._closing and pending):
                if self._closing:
                    return
                waiting.clear()
                await waiting.wait()
                continue
            # Frames that piled up while the last append was out go together (≤ 40 ms).
            take = min(len(pending), max(batch, MAX_BATCH_FRAMES))
            frames = [pending.popleft() for _ in range(take)]
            audio = base64.b64encode(b"".join(frame for frame, _ in frames)).decode("ascii")
            try:
                # Raw JSON: the event is fixed, and the library's per-event type walk would
                # cost more than the send itself 50 times a second per call.
                await connection.send_raw(
                    json.dumps({"type": "input_audio_buffer.append", "audio": audio})
                )
            except (ConnectionClosed, OpenAIError) as exc:
                log.warning("openai_append_failed", error=redact(repr(exc)))
                return
            self._latency.observe(time.monotonic() - frames[0][1])

    async def events(self) -> AsyncIterator[AIEvent]:
        """Provider events mapped to the port's events, until the connection closes.

        Read raw and parsed with orjson: the library's ``recv`` builds a pydantic model of the
        whole server-event union for each message (~25 µs apiece on this machine kind, for
        every 20 ms of agent audio of every call), where only six kinds and a field or two of
        each matter here."""
        recv = self._connection.recv_bytes
        try:
            while True:
                mapped = _mapped(orjson.loads(await recv()))
                if mapped is not None:
                    yield mapped
        except ConnectionClosedOK:
            return
        except (ConnectionClosed, OpenAIError) as exc:
            yield ProviderFailed(f"realtime connection lost: {type(exc).__name__}")
        except (orjson.JSONDecodeError, KeyError, TypeError, binascii.Error) as exc:
            yield ProviderFailed(f"realtime event not understood: {type(exc).__name__}")

    async def say(self, instructions: str) -> None:
        """Ask for an answer that says ``instructions`` in the agent's voice."""
        with _send_failures_logged():
            await self._connection.response.create(
                response={"instructions": f"Say this to the caller, naturally: {instructions}"}
            )

    async def interrupted(self, item_id: str, played_ms: int) -> None:
        """Truncate the answer at what the caller heard (OpenAI drops the unheard text)."""
        with _send_failures_logged():
            await self._connection.conversation.item.truncate(
                item_id=item_id, content_index=0, audio_end_ms=played_ms
            )

    async def close(self) -> None:
        """Send what is left of the caller's audio, stop sending and close the websocket."""
        self._closing = True
        self._waiting.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._sender, 2)
        with contextlib.suppress(*_CONNECT_ERRORS):
            await self._connection.close()


@contextlib.contextmanager
def _send_failures_logged() -> Iterator[None]:
    """A request on a lost connection is logged, not raised: ``events`` reports the loss
    (``ProviderFailed``), which ends the call as the provider's failure."""
    try:
        yield
    except (ConnectionClosed, OpenAIError) as exc:
        log.warning("openai_send_failed", error=redact(repr(exc)))


def _mapped(event: Any) -> AIEvent | None:
    """A server event (parsed JSON) as the port's event; None for the kinds we do not use."""
    kind = event["type"]
    if kind == "response.output_audio.delta":
        return AgentAudio(event["item_id"], base64.b64decode(event["delta"]))
    if kind == "response.output_audio_transcript.done":
        return AgentText(event["item_id"], event["transcript"])
    if kind == "response.output_audio.done":
        return AnswerDone(event["item_id"])
    if kind == "input_audio_buffer.speech_started":
        return CallerSpeechStarted()
    if kind == "input_audio_buffer.speech_stopped":
        return CallerSpeechStopped()
    if kind == "conversation.item.input_audio_transcription.completed":
        return CallerText(event["transcript"])
    if kind == "error":
        # Most errors concern one request (a truncate past the end, say); the call goes on.
        log.warning("openai_error_event", error=redact(str(event.get("error", ""))))
    return None


class OpenAIRealtimeProvider(AIProvider):
    """Opens Realtime conversations; ``base_url`` is ``OPENAI_BASE_URL`` (``…/v1``)."""

    name = "openai"

    def __init__(
        self, api_key: str, base_url: str, model: str, *, append_every_ms: int = 0
    ) -> None:
        self._client = AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0)
        self._model = model
        # One TLS context for every call: left to ``websockets``, each connect builds its
        # own, loading the CA store in the event loop (tens of ms) at every call's start.
        self._websocket_options: dict[str, Any] = (
            {"ssl": ssl.create_default_context()} if base_url.startswith("https:") else {}
        )
        #: 0: each caller frame is appended as it comes; else batches of this many ms (the
        #: behaviour before issue #22 was 100, kept as a switch for the latency benchmark).
        self._append_every_ms = append_every_ms

    async def open(self, config: AgentConfig, call: CallContext) -> AIConversation:
        """Connect, configure the session for μ-law phone audio, and return the conversation."""
        try:
            connect = self._client.realtime.connect(
                model=self._model,
                websocket_connection_options=cast(Any, self._websocket_options),
            )
            connection = await asyncio.wait_for(connect.enter(), 10)
            await connection.session.update(session=session_config(config, call))  # type: ignore[arg-type]
        except _CONNECT_ERRORS as exc:
            raise ProviderUnavailable(f"OpenAI Realtime: {type(exc).__name__}") from exc
        return OpenAIRealtimeConversation(connection, self._append_every_ms)

    async def warm_up(self) -> None:
        """Load and build now what the library loads and builds on its first call.

        The ``openai`` library imports its websocket client at the first connect, asks
        ``anyio`` (whose backend loads on first use) at every send, and builds its request
        transformer at the first request of each kind; on the first call, in the event loop,
        that held every call's audio for tens of milliseconds. (Server events are parsed
        here, not by the library: ``_mapped``.)
        """
        import anyio

        try:  # the library's own helpers: if a release renames them, start cold, not fail
            import openai.lib._websocket  # noqa: F401 (the library imports it at first connect)
            from openai._utils import async_maybe_transform
            from openai.types.realtime.realtime_client_event_param import (
                RealtimeClientEventParam,
            )
            from openai.types.realtime.response_create_event_with_references_param import (
                ResponseCreateEventWithReferencesParam,
            )
        except ImportError as exc:
            log.warning("openai_warm_up_skipped", error=repr(exc))
            return
        self._client.realtime  # noqa: B018 (a cached property: built on first use)
        anyio.get_current_task()
        # Spelled as the library spells it: its transformer caches per type object.
        client_event = Union[RealtimeClientEventParam, ResponseCreateEventWithReferencesParam]  # noqa: UP007
        for request in _warm_up_client_events():
            await async_maybe_transform(request, client_event)


def _warm_up_client_events() -> list[dict[str, Any]]:
    config = AgentConfig(
        business_id=0,
        business_name="warm-up",
        phone_number="+10000000000",
        prompt=".",
        greeting=".",
    )
    call = CallContext("CA0", "inbound", "+10000000001", "+10000000000")
    return [
        {"type": "session.update", "session": session_config(config, call)},
        {"type": "response.create", "response": {"instructions": "."}},
        {
            "type": "conversation.item.truncate",
            "item_id": "i",
            "content_index": 0,
            "audio_end_ms": 0,
        },
    ]
