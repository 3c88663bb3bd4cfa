"""Plays Twilio's side of one Media Stream: paced caller audio in, agent audio "played" out.

Every 20 ms the driver sends one caller frame (speech if the script queued some, else
μ-law silence, as a phone line does) and plays one received agent frame; a mark is
echoed once the audio before it has been played, and ``clear`` drops what is queued
and echoes its marks at once — what Twilio does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from switchboard.voice_gateway.domain.codecs import FRAME_BYTES, ULAW_SILENCE, split_frames
from switchboard.voice_gateway.domain.playback import text_from_mark

_SILENCE_FRAME = bytes([ULAW_SILENCE]) * FRAME_BYTES
_SILENCE_B64 = base64.b64encode(_SILENCE_FRAME).decode()


class MediaStreamDriver:
    """Twilio's half of one stream over an open websocket (``websockets`` client)."""

    def __init__(
        self,
        websocket: Any,
        *,
        call_sid: str,
        stream_sid: str,
        parameters: dict[str, str],
        record_arrivals: bool = False,
    ) -> None:
        self.ws = websocket
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.parameters = parameters
        self._sequence = 0
        self._chunk = 0
        self._caller: deque[str] = deque()  # base64 payloads queued to "speak"
        self._playback: deque[str | None] = deque()  # None = one frame, str = a mark name
        self.agent_said: list[str] = []
        self.frames_sent = 0
        self.frames_received = 0
        self.frames_played = 0
        self.marks_echoed = 0
        self.clears = 0
        self.closed_by_gateway = False
        self.hung_up = False
        self.last_agent_frame_at = 0.0
        self.arrivals: list[float] | None = [] if record_arrivals else None
        self.receiving_done = asyncio.Event()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Wait (re-checking every 20 ms step) until ``predicate()``; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.receiving_done.is_set():
                return predicate()
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    def _next_sequence(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    async def send_json(self, message: dict[str, Any]) -> None:
        """Send one Twilio message."""
        await self.ws.send(json.dumps(message, separators=(",", ":")))

    async def open_stream(self) -> None:
        """Send ``connected`` and ``start``."""
        await self.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self.send_json(
            {
                "event": "start",
                "sequenceNumber": self._next_sequence(),
                "streamSid": self.stream_sid,
                "start": {
                    "streamSid": self.stream_sid,
                    "accountSid": "AC" + "0" * 32,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": self.parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )

    def speak(self, audio: bytes) -> None:
        """Queue caller speech (μ-law) to be sent in 20 ms frames."""
        self._caller.extend(base64.b64encode(f).decode() for f in split_frames(audio))

    @property
    def caller_speaking(self) -> bool:
        """True while queued caller speech is still being sent."""
        return bool(self._caller)

    @property
    def agent_playing(self) -> bool:
        """True while received agent audio is waiting to be "played"."""
        return any(entry is None for entry in self._playback)

    async def tick(self) -> None:
        """One 20 ms step: send a caller frame, play an agent frame, echo due marks."""
        payload = self._caller.popleft() if self._caller else _SILENCE_B64
        self._chunk += 1
        await self.ws.send(
            '{"event":"media","sequenceNumber":"'
            + self._next_sequence()
            + '","media":{"track":"inbound","chunk":"'
            + str(self._chunk)
            + '","timestamp":"'
            + str(self._chunk * 20)
            + '","payload":"'
            + payload
            + '"},"streamSid":"'
            + self.stream_sid
            + '"}'
        )
        self.frames_sent += 1
        self._changed.set()
        played = False
        while self._playback:
            head = self._playback[0]
            if head is None:
                if played:
                    break
                self._playback.popleft()
                self.frames_played += 1
                played = True
            else:
                self._playback.popleft()
                await self._echo_mark(head)

    async def _echo_mark(self, name: str) -> None:
        self.marks_echoed += 1
        await self.send_json(
            {
                "event": "mark",
                "sequenceNumber": self._next_sequence(),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    def _agent_frame(self) -> None:
        self.frames_received += 1
        self.last_agent_frame_at = time.monotonic()
        if self.arrivals is not None:
            self.arrivals.append(self.last_agent_frame_at)
        self._playback.append(None)

    async def receive(self) -> None:
        """Take in the gateway's messages until it closes the socket."""
        try:
            async for message in self.ws:
                if message.startswith('{"event":"media"'):
                    self._agent_frame()
                    continue
                data = json.loads(message)
                if data.get("event") == "mark":
                    name = data["mark"]["name"]
                    text = text_from_mark(name)
                    if text is not None:
                        self.agent_said.append(text)
                    self._playback.append(name)
                elif data.get("event") == "clear":
                    self.clears += 1
                    marks = [e for e in self._playback if e is not None]
                    self._playback.clear()
                    for name in marks:
                        await self._echo_mark(name)
                elif data.get("event") == "media":
                    self._agent_frame()
            self.closed_by_gateway = True
        except (ConnectionClosed, OSError):
            self.closed_by_gateway = True
        finally:
            self.receiving_done.set()

    async def stop(self) -> None:
        """Send ``stop`` (the caller hung up)."""
        self.hung_up = True
        await self.send_json(
            {
                "event": "stop",
                "sequenceNumber": self._next_sequence(),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": "AC" + "0" * 32, "callSid": self.call_sid},
            }
        )

    async def run_paced(self, until: Callable[[], Awaitable[None]], period_s: float = 0.02) -> None:
        """Tick every ``period_s`` until ``until()`` finishes or the gateway hangs up (a
        tick that finds the socket closed, before ``receive`` has seen it, ends it too)."""
        script = asyncio.ensure_future(until())
        deadline = time.monotonic()
        try:
            while not script.done() and not self.receiving_done.is_set():
                try:
                    await self.tick()
                except ConnectionClosed:
                    self.closed_by_gateway = True
                    return
                deadline += period_s
                await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        finally:
            if not script.done():
                script.cancel()
            await asyncio.gather(script, return_exceptions=True)
