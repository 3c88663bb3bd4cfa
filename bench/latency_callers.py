"""bench/latency.py's Twilio side, in a process of its own: the callers and Twilio's REST API.

Each call rings (the signed ``/twilio/voice/incoming`` webhook), then opens a Media Streams
socket: ``start`` (stamped), a caller frame every 20 ms from one clock for every call (each
stamped as it is sent), marks echoed, and every agent frame and ``clear`` stamped as it comes.
The fake Twilio REST API serves the call recordings from a thread of this process.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

import uvloop
import websockets

from bench.latency_stamps import (
    CALLER_SERIALS_FROM,
    CLEAR,
    CallerStamps,
    CallLog,
    stamped_frame,
    watch_loop,
)
from bench.voice_webhook import ring
from tests.fakes.twilio_calls import FakeCall
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer

BUSINESS_NUMBER = "+15550001111"


class TwilioSide:
    """One call's Media Stream, as Twilio plays it."""

    def __init__(
        self,
        ws: Any,
        index: int,
        log: CallLog,
        stamps: CallerStamps,
        serials: Iterator[int],
        parameters: dict[str, str],
    ) -> None:
        self.ws = ws
        self.log = log
        self.stamps = stamps
        self.serials = serials
        self.parameters = parameters
        self.sid = f"CA{index:032x}"
        self.stream_sid = f"MZ{index:032x}"
        self.sequence = 0

    def message(self, event: str, **body: Any) -> str:
        """A Media Streams message of this stream, numbered."""
        self.sequence += 1
        body.update(event=event, sequenceNumber=str(self.sequence), streamSid=self.stream_sid)
        return json.dumps(body, separators=(",", ":"))

    async def start(self) -> None:
        """``connected``, then ``start`` (stamped)."""
        await self.ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1"}))
        start = {
            "streamSid": self.stream_sid,
            "accountSid": ACCOUNT_SID,
            "callSid": self.sid,
            "tracks": ["inbound"],
            "customParameters": self.parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        message = self.message("start", start=start)
        self.log.started_at = time.monotonic()
        await self.ws.send(message)

    async def send_caller_frame(self) -> None:
        """One 20 ms caller frame, stamped."""
        serial = next(self.serials)
        payload = base64.b64encode(stamped_frame(serial)).decode()
        media = {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": payload}
        message = self.message("media", media=media)
        self.stamps.caller_sent[serial] = time.monotonic()
        await self.ws.send(message)

    async def receive(self) -> None:
        """Stamp agent frames and clears, echo marks, until the socket closes."""
        received = self.log.received
        try:
            async for raw in self.ws:
                now = time.monotonic()
                message = json.loads(raw)
                event = message.get("event")
                if event == "media":
                    audio = base64.b64decode(message["media"]["payload"])
                    received.append((now, int.from_bytes(audio[:4], "big")))
                elif event == "mark":
                    await self.ws.send(self.message("mark", mark=message["mark"]))
                elif event == "clear":
                    received.append((now, CLEAR))
        except websockets.ConnectionClosed:
            return


async def open_call(
    base: str,
    index: int,
    stamps: CallerStamps,
    serials: Iterator[int],
    twilio: FakeTwilioServer,
) -> TwilioSide:
    """The signed voice webhook (the phone rings), then the media stream."""
    log = stamps.calls[index] = CallLog()
    sid = f"CA{index:032x}"
    with twilio.recording():  # the call is live at Twilio: its recording can start
        twilio.calls[sid] = FakeCall(sid=sid, params={}, events=[], status="in-progress")
    form = {"CallSid": sid, "From": f"+1555{index:07d}", "To": BUSINESS_NUMBER}
    parameters = await ring(base, AUTH_TOKEN, form)
    await asyncio.sleep(0.3)  # Twilio connects the stream a moment after the TwiML
    ws = await websockets.connect(
        base.replace("http", "ws", 1) + "/twilio/media", max_size=None, compression=None
    )
    side = TwilioSide(ws, index, log, stamps, serials, parameters)
    await side.start()
    return side


async def run_load(base: str, twilio: FakeTwilioServer, calls: int, seconds: float) -> CallerStamps:
    """``calls`` concurrent calls for ``seconds`` (after a ramp-up); their stamps."""
    stamps = CallerStamps()
    serials = itertools.count(CALLER_SERIALS_FROM)
    sides: list[TwilioSide] = []
    receivers: list[asyncio.Task[None]] = []
    stop = asyncio.Event()

    async def caller_clock() -> None:  # one 20 ms clock for every call's caller audio
        deadline = time.monotonic()
        while not stop.is_set():
            for side in list(sides):
                try:
                    await side.send_caller_frame()
                except websockets.ConnectionClosed:
                    sides.remove(side)
            deadline += 0.020
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))

    clock = asyncio.create_task(caller_clock())
    watch = asyncio.create_task(watch_loop(stamps.loop_lags))

    async def one(index: int) -> None:
        await asyncio.sleep(index * min(0.05, 3 / calls))  # ramp up over at most 3 s
        side = await open_call(base, index, stamps, serials, twilio)
        sides.append(side)
        receivers.append(asyncio.create_task(side.receive()))

    await asyncio.gather(*(one(index) for index in range(calls)))
    await asyncio.sleep(seconds)
    stop.set()
    await clock
    stamps.stopped_at = time.monotonic()
    watch.cancel()
    for side in sides:
        await side.ws.send(side.message("stop", stop={}))
    await asyncio.wait(receivers, timeout=10)
    return stamps


def run_callers(parent: Connection, calls: int, seconds: float) -> None:
    """The callers' process: send the parent Twilio's REST URL, take the gateway's URL, call
    it, and send back the stamps."""
    with FakeTwilioServer.running() as twilio:
        parent.send(twilio.url)
        base = parent.recv()
        parent.send(uvloop.run(run_load(base, twilio, calls, seconds)))
