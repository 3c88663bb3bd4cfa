"""bench/latency.py's fake OpenAI Realtime provider, in a process of its own.

It speaks the GA websocket protocol (``session.update``, ``input_audio_buffer.append``,
``response.create``, ``response.output_audio.delta``, …): its handshake takes the connect
delay, and its first audio comes the provider delay after it is asked for an answer. It
stamps every agent frame as it leaves, every caller frame as it arrives in an append, and
every ``speech_started`` it sends; the parent gets the stamps when it asks for them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import time
from multiprocessing.connection import Connection
from typing import Any

import uvloop
import websockets
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request

from bench.latency_stamps import ProviderStamps, serials, stamped_frame, watch_loop

ANSWER_FRAMES = 60  # 1.2 s per answer
DELTA_FRAMES = 5  # 100 ms of audio per output_audio.delta, sent at twice real time
#: The caller's number in the agent's instructions names the call: +1555 and its index.
_CALLER_NUMBER = re.compile(r"\+1555(\d{7})")


class FakeProvider:
    """GA Realtime protocol with a fixed delay; every agent frame is stamped as it leaves."""

    def __init__(self, provider_delay_s: float, connect_delay_s: float) -> None:
        self.provider_delay_s = provider_delay_s
        self.connect_delay_s = connect_delay_s
        self.stamps = ProviderStamps()
        self.port = 0
        self._ids = itertools.count(1)
        self._serials = itertools.count(1)

    @property
    def url(self) -> str:
        """``OPENAI_BASE_URL`` for the gateway."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handshake(self, connection: ServerConnection, request: Request) -> None:
        await asyncio.sleep(self.connect_delay_s)  # the provider's own connect time

    async def serve(self) -> Any:
        """Start listening (the caller closes the returned server)."""
        server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._handshake, compression=None
        )
        self.port = next(iter(server.sockets)).getsockname()[1]
        return server

    async def _send(self, ws: ServerConnection, event: dict[str, Any]) -> None:
        await ws.send(json.dumps({"event_id": f"event_{next(self._ids)}", **event}))

    async def _handle(self, ws: ServerConnection) -> None:
        await self._send(ws, {"type": "session.created", "session": {"type": "realtime"}})
        call: int | None = None
        tasks: list[asyncio.Task[None]] = []
        try:
            async for raw in ws:
                event = json.loads(raw)
                kind = event.get("type")
                if kind == "input_audio_buffer.append":
                    now = time.monotonic()
                    arrived = self.stamps.caller_arrived
                    for serial in serials(base64.b64decode(event["audio"])):
                        arrived[serial] = now
                elif kind == "session.update":
                    match = _CALLER_NUMBER.search(event["session"].get("instructions", ""))
                    if match:
                        call = int(match.group(1))
                    await self._send(ws, {"type": "session.updated", "session": event["session"]})
                elif kind == "response.create" and call is not None:
                    tasks.append(asyncio.create_task(self._converse(ws, call)))
                elif kind == "conversation.item.truncate":
                    await self._send(
                        ws,
                        {
                            "type": "conversation.item.truncated",
                            "item_id": event["item_id"],
                            "content_index": 0,
                            "audio_end_ms": event["audio_end_ms"],
                        },
                    )
        except websockets.ConnectionClosed:
            pass
        finally:
            for task in tasks:
                task.cancel()

    async def _converse(self, ws: ServerConnection, call: int) -> None:
        """The greeting, then an answer every ~2 s; every other one is barged in on."""
        barge_ins = self.stamps.barge_ins.setdefault(call, [])
        try:
            await self._answer(ws)
            for turn in itertools.count():
                await asyncio.sleep(0.8)
                answer = asyncio.create_task(self._answer(ws))
                if turn % 2 == 0:
                    await asyncio.sleep(self.provider_delay_s + 0.4)  # mid-answer
                    barge_ins.append(time.monotonic())
                    await self._send(
                        ws,
                        {
                            "type": "input_audio_buffer.speech_started",
                            "audio_start_ms": 0,
                            "item_id": f"item_{next(self._ids)}",
                        },
                    )
                await answer
        except websockets.ConnectionClosed:
            return

    async def _answer(self, ws: ServerConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._stream_answer(ws)

    async def _stream_answer(self, ws: ServerConnection) -> None:
        await asyncio.sleep(self.provider_delay_s)
        item = f"item_{next(self._ids)}"
        where = {"response_id": f"resp_{item}", "item_id": item, "output_index": 0}
        await self._send(ws, {"type": "response.created", "response": {"id": where["response_id"]}})
        for _ in range(0, ANSWER_FRAMES, DELTA_FRAMES):
            frames = [next(self._serials) for _ in range(DELTA_FRAMES)]
            delta = base64.b64encode(b"".join(stamped_frame(s) for s in frames)).decode()
            now = time.monotonic()
            for serial in frames:
                self.stamps.agent_sent[serial] = now
            await self._send(
                ws,
                {
                    "type": "response.output_audio.delta",
                    "delta": delta,
                    "content_index": 0,
                    **where,
                },
            )
            await asyncio.sleep(DELTA_FRAMES * 0.020 / 2)
        await self._send(ws, {"type": "response.output_audio.done", "content_index": 0, **where})
        await self._send(ws, {"type": "response.done", "response": {"id": where["response_id"]}})


def serve_provider(parent: Connection, provider_delay_s: float, connect_delay_s: float) -> None:
    """The provider process: send the parent its URL, serve until it asks for the stamps."""

    async def main() -> None:
        provider = FakeProvider(provider_delay_s, connect_delay_s)
        server = await provider.serve()
        watch = asyncio.create_task(watch_loop(provider.stamps.loop_lags))
        parent.send(provider.url)
        await asyncio.to_thread(parent.recv)  # the callers are done
        watch.cancel()
        parent.send(provider.stamps)
        server.close()

    uvloop.run(main())
