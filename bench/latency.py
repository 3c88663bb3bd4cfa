"""The gateway's own share of a call's latency, against a Realtime provider with a fixed delay.

Three parties, the gateway the only real one:

* the gateway process (``switchboard.voice_gateway``, uvicorn + uvloop as ``switchboard
  gateway`` serves it), with the real OpenAI Realtime adapter and the real Twilio recorder;
* a fake OpenAI Realtime provider speaking the GA websocket protocol (``session.update``,
  ``input_audio_buffer.append``, ``response.create``, ``response.output_audio.delta``, …):
  its handshake takes ``--connect-delay-ms`` and its first audio comes ``--provider-delay-ms``
  after it is asked for an answer — a fixed, known delay that is subtracted;
* Twilio's side: a signed ``/twilio/voice/incoming`` webhook, then a Media Streams client
  sending a caller frame every 20 ms, echoing marks, stamping every frame it gets; and a
  fake Twilio REST API for the call recordings.

Provider and Twilio client live in this one process on one clock, and every audio frame
carries its own serial number in its first 4 bytes (μ-law passes the gateway untouched), so
each frame is matched with the moment it left the other side. Figures, p50 / p99 in ms:

* ``provider_to_twilio``: an agent frame's arrival on the Twilio socket minus the moment it
  was due there: when the provider sent its delta, or when the call's previous agent frame
  has played (a player starts a frame when it has arrived and the one before has played,
  20 ms later), whichever is later — the 20 ms pacing is the contract, not a delay, and a
  frame sent ahead of its slot waits in Twilio's buffer;
* ``caller_to_provider``: a caller frame's arrival at the provider in an
  ``input_audio_buffer.append`` minus its send on the Twilio socket;
* ``barge_in``: the provider's ``input_audio_buffer.speech_started`` (sent while the agent
  talks) to the ``clear`` arriving on the Twilio socket;
* ``greeting``: the Twilio ``start`` message to the first greeting frame, minus the
  provider's delay (the provider's handshake is *not* subtracted: hiding it is the gateway's
  job).

Baseline, side by side in the same run: the same gateway code started with the behaviour of
before issue #22 switched back on — no warm-up at startup, no provider session opened while
the phone rings (``preopen_timeout_s=0``: it connects at ``start``), caller audio appended
in 100 ms batches. Same machine, same load, same fakes; only those three switches differ.

    .venv/bin/python bench/latency.py --calls 1 100
    .venv/bin/python bench/latency.py --smoke
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import uvloop
import websockets
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.voice_webhook import ring  # noqa: E402
from tests.fakes.twilio_calls import FakeCall  # noqa: E402
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

API_KEY = "sk-bench-realtime-000000"
BUSINESS_NUMBER = "+15550001111"
FRAME_BYTES = 160
ANSWER_FRAMES = 60  # 1.2 s per answer
DELTA_FRAMES = 5  # 100 ms of audio per output_audio.delta, sent at twice real time
VARIANTS = ("gateway", "pre-fix")
_CALLER_NUMBER = re.compile(r"\+1555(\d{7})")


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile of ``values`` (nearest rank), or None if there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stamped_frame(serial: int) -> bytes:
    """A 20 ms μ-law frame (silence) whose first 4 bytes are its serial number."""
    return serial.to_bytes(4, "big") + b"\xff" * (FRAME_BYTES - 4)


# --- the gateway process -------------------------------------------------------------------


def serve_gateway(port: int, provider_url: str, twilio_url: str, variant: str) -> None:
    """The real gateway app with the real OpenAI and Twilio adapters pointed at the fakes."""
    import uvicorn

    from switchboard.common.logging import configure_logging
    from switchboard.common.settings import Settings
    from switchboard.voice_gateway.adapters.openai_realtime import OpenAIRealtimeProvider
    from switchboard.voice_gateway.app import create_app
    from switchboard.voice_gateway.config import GatewaySettings
    from switchboard.voice_gateway.domain.agent_config import AgentConfig
    from switchboard.voice_gateway.ports.agent_config import InMemoryAgentConfigSource
    from switchboard.voice_gateway.ports.event_publisher import InMemoryEventPublisher
    from switchboard.voice_gateway.server import tune_garbage_collector

    configure_logging("WARNING")
    prefix = variant == "pre-fix"
    agent = AgentConfig(
        business_id=1,
        business_name="Acme Dental",
        phone_number=BUSINESS_NUMBER,
        prompt="Book appointments.",
        greeting="Hello, thanks for calling Acme Dental.",
        recording_enabled=True,
        max_call_seconds=3600,
        silence_timeout_s=600,
    )
    settings = Settings(
        public_base_url=f"http://127.0.0.1:{port}",
        twilio_auth_token=AUTH_TOKEN,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=twilio_url,
        telephony="twilio",
        openai_api_key=API_KEY,
        openai_base_url=provider_url,
        var_dir=Path(tempfile.mkdtemp(prefix="bench-latency-")),
    )
    provider = OpenAIRealtimeProvider(
        API_KEY, provider_url, "gpt-realtime", append_every_ms=100 if prefix else 0
    )
    app = create_app(
        settings,
        event_publisher=InMemoryEventPublisher(),
        agent_config_source=InMemoryAgentConfigSource([agent]),
        ai_factory=provider,
        gateway_settings=GatewaySettings(preopen_timeout_s=0) if prefix else None,
        warm_up=not prefix,
    )
    tune_garbage_collector()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=64 * 1024,
        access_log=False,
        log_level="warning",
        backlog=4096,
    )
    if not os.environ.get("BENCH_LATENCY_DEBUG"):
        uvicorn.Server(config).run()
        return
    # The stdlib loop in debug mode: it logs every callback that holds the loop > 10 ms.
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.010
    loop.run_until_complete(uvicorn.Server(config).serve())


@contextmanager
def gateway_process(
    provider_url: str, twilio_url: str, variant: str
) -> Iterator[tuple[str, psutil.Process]]:
    """A gateway subprocess serving on a free port; yields its base URL and its process."""
    port = free_port()
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import bench.latency as b; "
        f"b.serve_gateway({port}, {provider_url!r}, {twilio_url!r}, {variant!r})"
    )
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), 1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"the {variant} gateway did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(30)


# --- what both fakes record ----------------------------------------------------------------


@dataclass
class Call:
    """One call's stamps, from Twilio's side and the provider's."""

    index: int
    started_at: float = 0.0
    greeting_asked_at: float = 0.0
    first_agent_frame_at: float = 0.0
    #: When the call's previous agent frame started playing (its arrival, or the end of the
    #: one before it if that was later).
    previous_frame_at: float = 0.0
    barge_in_sent_at: float = 0.0
    clear_at: float = 0.0


@dataclass
class Stamps:
    """Every frame's departure, and the figures as they come."""

    provider_delay_s: float
    calls: dict[int, Call] = field(default_factory=dict)
    agent_sent: dict[int, float] = field(default_factory=dict)
    caller_sent: dict[int, float] = field(default_factory=dict)
    serials: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    provider_to_twilio: list[float] = field(default_factory=list)
    caller_to_provider: list[float] = field(default_factory=list)
    barge_in: list[float] = field(default_factory=list)
    greeting: list[float] = field(default_factory=list)
    barge_ins_missed: int = 0
    recording: bool = True

    def agent_frame_arrived(self, call: Call, serial: int, now: float) -> None:
        """A frame of agent audio reached the Twilio socket."""
        sent = self.agent_sent.pop(serial, None)
        if sent is None:
            return
        due = max(sent, call.previous_frame_at + 0.020)
        call.previous_frame_at = max(due, now)
        if not call.first_agent_frame_at:
            call.first_agent_frame_at = now
            if self.recording:
                self.greeting.append(now - call.started_at - self.provider_delay_s)
        if self.recording:
            self.provider_to_twilio.append(max(0.0, now - due))

    def caller_frame_arrived(self, serial: int, now: float) -> None:
        """A caller frame reached the provider."""
        sent = self.caller_sent.pop(serial, None)
        if sent is not None and self.recording:
            self.caller_to_provider.append(now - sent)


# --- the fake OpenAI Realtime provider -----------------------------------------------------


class FakeProvider:
    """GA Realtime protocol with a fixed delay; every agent frame is stamped as it leaves."""

    def __init__(self, stamps: Stamps, connect_delay_s: float) -> None:
        self.stamps = stamps
        self.connect_delay_s = connect_delay_s
        self.port = 0
        self._ids = itertools.count(1)

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
        call: Call | None = None
        tasks: list[asyncio.Task[None]] = []
        try:
            async for raw in ws:
                event = json.loads(raw)
                kind = event.get("type")
                if kind == "input_audio_buffer.append":
                    now = time.monotonic()
                    audio = base64.b64decode(event["audio"])
                    for start in range(0, len(audio) - 3, FRAME_BYTES):
                        serial = int.from_bytes(audio[start : start + 4], "big")
                        self.stamps.caller_frame_arrived(serial, now)
                elif kind == "session.update":
                    match = _CALLER_NUMBER.search(event["session"].get("instructions", ""))
                    if match:
                        call = self.stamps.calls.get(int(match.group(1)))
                    await self._send(ws, {"type": "session.updated", "session": event["session"]})
                elif kind == "response.create" and call is not None:
                    call.greeting_asked_at = time.monotonic()
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

    async def _converse(self, ws: ServerConnection, call: Call) -> None:
        """The greeting, then an answer every ~2 s; every other one is barged in on."""
        try:
            await self._answer(ws)
            for turn in itertools.count():
                await asyncio.sleep(0.8)
                answer = asyncio.create_task(self._answer(ws))
                if turn % 2 == 0:
                    await asyncio.sleep(self.stamps.provider_delay_s + 0.4)  # mid-answer
                    call.barge_in_sent_at, call.clear_at = time.monotonic(), 0.0
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
        await asyncio.sleep(self.stamps.provider_delay_s)
        item = f"item_{next(self._ids)}"
        where = {"response_id": f"resp_{item}", "item_id": item, "output_index": 0}
        await self._send(ws, {"type": "response.created", "response": {"id": where["response_id"]}})
        for _ in range(0, ANSWER_FRAMES, DELTA_FRAMES):
            serials = [next(self.stamps.serials) for _ in range(DELTA_FRAMES)]
            delta = base64.b64encode(b"".join(stamped_frame(s) for s in serials)).decode()
            now = time.monotonic()
            for serial in serials:
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


# --- Twilio's side -------------------------------------------------------------------------


class TwilioSide:
    """One call's Media Stream, as Twilio plays it."""

    def __init__(self, ws: Any, call: Call, stamps: Stamps, parameters: dict[str, str]):
        self.ws = ws
        self.call = call
        self.stamps = stamps
        self.parameters = parameters
        self.sid = f"CA{call.index:032x}"
        self.stream_sid = f"MZ{call.index:032x}"
        self.sequence = 0

    def _message(self, event: str, **body: Any) -> str:
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
        message = self._message("start", start=start)
        self.call.started_at = time.monotonic()
        await self.ws.send(message)

    async def send_caller_frame(self) -> None:
        """One 20 ms caller frame, stamped."""
        serial = next(self.stamps.serials)
        payload = base64.b64encode(stamped_frame(serial)).decode()
        media = {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": payload}
        message = self._message("media", media=media)
        self.stamps.caller_sent[serial] = time.monotonic()
        await self.ws.send(message)

    async def receive(self) -> None:
        """Stamp agent frames and clears, echo marks, until the socket closes."""
        stamps, call = self.stamps, self.call
        try:
            async for raw in self.ws:
                now = time.monotonic()
                message = json.loads(raw)
                event = message.get("event")
                if event == "media":
                    audio = base64.b64decode(message["media"]["payload"])
                    stamps.agent_frame_arrived(call, int.from_bytes(audio[:4], "big"), now)
                elif event == "mark":
                    await self.ws.send(self._message("mark", mark=message["mark"]))
                elif event == "clear" and call.barge_in_sent_at and not call.clear_at:
                    call.clear_at = now
                    call.previous_frame_at = 0.0
                    if stamps.recording:
                        stamps.barge_in.append(now - call.barge_in_sent_at)
        except websockets.ConnectionClosed:
            return


async def open_call(base: str, call: Call, stamps: Stamps, twilio: FakeTwilioServer) -> TwilioSide:
    """The signed voice webhook (the phone rings), then the media stream."""
    sid = f"CA{call.index:032x}"
    with twilio.recording():  # the call is live at Twilio: its recording can start
        twilio.calls[sid] = FakeCall(sid=sid, params={}, events=[], status="in-progress")
    form = {"CallSid": sid, "From": f"+1555{call.index:07d}", "To": BUSINESS_NUMBER}
    parameters = await ring(base, AUTH_TOKEN, form)
    await asyncio.sleep(0.3)  # Twilio connects the stream a moment after the TwiML
    ws = await websockets.connect(
        base.replace("http", "ws", 1) + "/twilio/media", max_size=None, compression=None
    )
    side = TwilioSide(ws, call, stamps, parameters)
    await side.start()
    return side


async def run_load(
    base: str, provider: FakeProvider, twilio: FakeTwilioServer, calls: int, seconds: float
) -> dict[str, Any]:
    """``calls`` concurrent calls for ``seconds`` (after a ramp-up); the figures."""
    stamps = provider.stamps
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

    async def one(index: int) -> None:
        await asyncio.sleep(index * min(0.05, 3 / calls))  # ramp up over at most 3 s
        call = stamps.calls[index] = Call(index)
        side = await open_call(base, call, stamps, twilio)
        sides.append(side)
        receivers.append(asyncio.create_task(side.receive()))

    await asyncio.gather(*(one(index) for index in range(calls)))
    await asyncio.sleep(seconds)
    stop.set()
    await clock
    missed = sum(1 for c in stamps.calls.values() if c.barge_in_sent_at and not c.clear_at)
    for side in sides:
        await side.ws.send(side._message("stop", stop={}))
    await asyncio.wait(receivers, timeout=10)

    def figures(values: list[float]) -> dict[str, Any]:
        return {
            "n": len(values),
            "p50_ms": _ms(percentile(values, 0.50)),
            "p99_ms": _ms(percentile(values, 0.99)),
            "max_ms": _ms(max(values, default=None)),
        }

    return {
        "calls": calls,
        "seconds": seconds,
        "provider_delay_ms": round(stamps.provider_delay_s * 1000),
        "connect_delay_ms": round(provider.connect_delay_s * 1000),
        "provider_to_twilio": figures(stamps.provider_to_twilio),
        "caller_to_provider": figures(stamps.caller_to_provider),
        "barge_in": {**figures(stamps.barge_in), "missed": missed},
        "greeting": figures(stamps.greeting),
        "calls_without_greeting": sum(
            1 for c in stamps.calls.values() if not c.first_agent_frame_at
        ),
    }


def _cpu_now(gateway: psutil.Process) -> tuple[float, float, float]:
    """Wall clock, the gateway's CPU seconds, and this process's (the fakes and clients)."""
    times = gateway.cpu_times()
    return time.monotonic(), times.user + times.system, time.process_time()


def _cpu_share(
    before: tuple[float, float, float], after: tuple[float, float, float]
) -> dict[str, Any]:
    """Cores each side used over the run. The load generator plays every caller and the
    provider in one process: near one core it falls behind, and its lateness is counted as
    the gateway's — figures from such a run say more about the host than about the gateway."""
    wall = after[0] - before[0]
    gateway, load = after[1] - before[1], after[2] - before[2]
    return {
        "wall_s": round(wall, 2),
        "gateway_cores": round(gateway / wall, 3),
        "load_generator_cores": round(load / wall, 3),
        "load_generator_saturated": load / wall >= 0.9,
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def bench(
    variant: str, calls: int, seconds: float, provider_delay_s: float, connect_delay_s: float
) -> dict[str, Any]:
    """One gateway process of ``variant`` under ``calls`` concurrent calls."""

    async def main() -> dict[str, Any]:
        provider = FakeProvider(Stamps(provider_delay_s), connect_delay_s)
        server = await provider.serve()
        try:
            with FakeTwilioServer.running() as twilio:
                with gateway_process(provider.url, twilio.url, variant) as (base, gateway):
                    before = _cpu_now(gateway)
                    figures = await run_load(base, provider, twilio, calls, seconds)
                    return {**figures, "cpu": _cpu_share(before, _cpu_now(gateway))}
        finally:
            server.close()

    return {"server": variant, **uvloop.run(main())}


SMOKE = {"calls": [1, 2], "seconds": 2.0}


def main(argv: list[str] | None = None) -> int:
    """Run every size against both variants; print and write the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--provider-delay-ms", type=float, default=300.0)
    parser.add_argument("--connect-delay-ms", type=float, default=300.0)
    parser.add_argument("--no-baseline", action="store_true", help="the gateway alone")
    parser.add_argument("--smoke", action="store_true", help="1 and 2 calls for 2 s")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latency.json")
    args = parser.parse_args(argv)
    if args.smoke:
        args.calls, args.seconds = SMOKE["calls"], SMOKE["seconds"]
    results = []
    for calls in args.calls:
        for variant in VARIANTS[:1] if args.no_baseline else VARIANTS:
            result = bench(
                variant,
                calls,
                args.seconds,
                args.provider_delay_ms / 1000,
                args.connect_delay_ms / 1000,
            )
            print(json.dumps(result), flush=True)
            results.append(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine_cpus": os.cpu_count(), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
