"""A fake OpenAI Realtime server speaking the GA websocket protocol, for the real ``openai`` client.

It listens on ``ws://127.0.0.1:<port>/v1/realtime?model=…``, checks the bearer key, and:
- answers ``session.update`` with ``session.updated`` (and keeps the session it was sent);
- runs a crude server VAD over ``input_audio_buffer.append`` (μ-law energy):
  ``input_audio_buffer.speech_started`` / ``speech_stopped`` / ``committed``, then the
  caller's ``conversation.item.input_audio_transcription.completed`` and an answer;
- answers ``response.create`` with ``response.created``, ``response.output_audio.delta``
  chunks (8 kHz μ-law, faster than real time like the real service),
  ``response.output_audio_transcript.done``, ``response.output_audio.done``, ``response.done``;
- answers ``conversation.item.truncate`` with ``conversation.item.truncated``.
Every client event is kept in ``received`` for assertions.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from switchboard.voice_gateway.domain.codecs import loud_sample_table
from switchboard.voice_gateway.domain.speech import speech_ulaw

API_KEY = "sk-test-realtime-0123456789"
_LOUD = loud_sample_table(900)


class FakeRealtimeServer:
    """One fake server; ``url`` is the ``OPENAI_BASE_URL`` to give the client."""

    def __init__(self, answer_text: str = "Sure, I can help you with that booking.") -> None:
        self.answer_text = answer_text
        self.received: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []
        self.rejected_keys: list[str] = []
        self.connections: list[ServerConnection] = []
        self.port = 0
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()

    @property
    def url(self) -> str:
        """The base URL (``http://…/v1``); the client derives ``ws://…/v1/realtime``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """Client events of one type."""
        return [event for event in self.received if event.get("type") == kind]

    async def wait_for(self, kind: str, timeout_s: float = 5) -> dict[str, Any]:
        """Wait until the client sent an event of ``kind``; return the first."""
        async with asyncio.timeout(timeout_s):
            while not self.of_type(kind):
                self._changed.clear()
                await self._changed.wait()
        return self.of_type(kind)[0]

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float = 5) -> None:
        """Wait until ``predicate()`` holds, re-checked at each client event."""
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def appended_audio(self) -> list[bytes]:
        """The caller audio of each ``input_audio_buffer.append``, in order."""
        return [base64.b64decode(e["audio"]) for e in self.of_type("input_audio_buffer.append")]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeRealtimeServer]:
        """Serve on a free port for the duration of the block."""
        async with serve(self._handle, "127.0.0.1", 0) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            yield self

    async def send_raw(self, message: str) -> None:
        """Send ``message`` as it is to every client connected (a server's malformed event)."""
        for ws in self.connections:
            await ws.send(message)

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {API_KEY}" or not request.path.startswith("/v1/realtime?model="):
            self.rejected_keys.append(auth)
            await ws.close(4001, "invalid_api_key")
            return
        self.connections.append(ws)
        await self._send(ws, {"type": "session.created", "session": {"type": "realtime"}})
        conversation = _Conversation(self, ws)
        async for raw in ws:
            event = json.loads(raw)
            self.received.append(event)
            self._changed.set()
            await conversation.on_event(event)

    async def _send(self, ws: ServerConnection, event: dict[str, Any]) -> None:
        await ws.send(json.dumps({"event_id": self._id("event"), **event}))


class _Conversation:
    def __init__(self, server: FakeRealtimeServer, ws: ServerConnection) -> None:
        self.server = server
        self.ws = ws
        self.in_speech = False
        self.voiced = 0
        self.silent_ms = 0
        self.speech_ms = 0

    async def send(self, event: dict[str, Any]) -> None:
        await self.server._send(self.ws, event)

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "session.update":
            self.server.sessions.append(event["session"])
            await self.send({"type": "session.updated", "session": event["session"]})
        elif kind == "input_audio_buffer.append":
            await self.on_audio(base64.b64decode(event["audio"]))
        elif kind == "response.create":
            instructions = (event.get("response") or {}).get("instructions", "")
            await self.respond(instructions.split(":", 1)[-1].strip() or self.server.answer_text)
        elif kind == "conversation.item.truncate":
            await self.send(
                {
                    "type": "conversation.item.truncated",
                    "item_id": event["item_id"],
                    "content_index": 0,
                    "audio_end_ms": event["audio_end_ms"],
                }
            )

    async def on_audio(self, audio: bytes) -> None:
        for start in range(0, len(audio), 160):
            frame = audio[start : start + 160]
            loud = frame.translate(_LOUD).count(1) >= 24
            if not self.in_speech:
                self.voiced = self.voiced + 1 if loud else 0
                if self.voiced >= 3:
                    self.in_speech, self.silent_ms, self.speech_ms = True, 0, 60
                    await self.send(
                        {
                            "type": "input_audio_buffer.speech_started",
                            "audio_start_ms": 0,
                            "item_id": self.server._id("item"),
                        }
                    )
                continue
            self.speech_ms += 20
            self.silent_ms = 0 if loud else self.silent_ms + 20
            if self.silent_ms >= 500:
                self.in_speech, self.voiced = False, 0
                item_id = self.server._id("item")
                await self.send(
                    {
                        "type": "input_audio_buffer.speech_stopped",
                        "audio_end_ms": 0,
                        "item_id": item_id,
                    }
                )
                await self.send(
                    {
                        "type": "input_audio_buffer.committed",
                        "item_id": item_id,
                        "previous_item_id": None,
                    }
                )
                await self.send(
                    {
                        "type": "conversation.item.input_audio_transcription.completed",
                        "item_id": item_id,
                        "content_index": 0,
                        "transcript": f"caller spoke for {self.speech_ms - self.silent_ms} ms",
                        "usage": {"type": "duration", "seconds": 1},
                    }
                )
                await self.respond(self.server.answer_text)

    async def respond(self, text: str) -> None:
        response_id, item_id = self.server._id("resp"), self.server._id("item")
        where = {
            "response_id": response_id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
        }
        await self.send(
            {
                "type": "response.created",
                "response": {
                    "id": response_id,
                    "object": "realtime.response",
                    "status": "in_progress",
                },
            }
        )
        audio = speech_ulaw(text)
        for start in range(0, len(audio), 4000):  # 500 ms per delta
            delta = base64.b64encode(audio[start : start + 4000]).decode()
            await self.send({"type": "response.output_audio.delta", "delta": delta, **where})
        await self.send(
            {"type": "response.output_audio_transcript.done", "transcript": text, **where}
        )
        await self.send({"type": "response.output_audio.done", **where})
        await self.send(
            {
                "type": "response.done",
                "response": {
                    "id": response_id,
                    "object": "realtime.response",
                    "status": "completed",
                },
            }
        )
