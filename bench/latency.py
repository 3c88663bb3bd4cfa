"""The gateway's own share of a call's latency, against a Realtime provider with a fixed delay.

Three parties, the gateway the only real one, each in a process of its own beside this one
(which starts them, and turns their stamps into figures):

* the gateway process (``switchboard.voice_gateway``, uvicorn + uvloop as ``switchboard
  gateway`` serves it), with the real OpenAI Realtime adapter and the real Twilio recorder;
* a fake OpenAI Realtime provider speaking the GA websocket protocol (``session.update``,
  ``input_audio_buffer.append``, ``response.create``, ``response.output_audio.delta``, …):
  its handshake takes ``--connect-delay-ms`` and its first audio comes ``--provider-delay-ms``
  after it is asked for an answer — a fixed, known delay that is subtracted
  (bench/latency_provider.py);
* Twilio's side: a signed ``/twilio/voice/incoming`` webhook, then a Media Streams client
  sending a caller frame every 20 ms, echoing marks, stamping every frame it gets; and a
  fake Twilio REST API for the call recordings (bench/latency_callers.py).

The provider and the callers are two processes, each on its own uvloop, so that neither the
load generator's own queueing (100 calls' worth of clients and a provider on one loop is most
of a core) nor either side's work delays the other's stamps: what is late is the gateway's.
Both stamp with ``time.monotonic()``, CLOCK_MONOTONIC on Linux, one system-wide clock, so a
stamp from one process compares with a stamp from the other on the same machine. Every audio
frame carries its own serial number in its first 4 bytes (μ-law passes the gateway
untouched), so each frame is matched with the moment it left the other side once both have
sent their stamps here at the end (bench/latency_stamps.py). Figures, p50 / p99 in ms:

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

``cpu``: the cores each process used over the run. Either load process near one core falls
behind, and its lateness is counted as the gateway's (``load_generator_saturated``).

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
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.latency_callers import BUSINESS_NUMBER, run_callers  # noqa: E402
from bench.latency_provider import serve_provider  # noqa: E402
from bench.latency_stamps import lag_p99, report, watch_loop  # noqa: E402
from bench.stopping import stop_cleanly_on_sigterm  # noqa: E402
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

API_KEY = "sk-bench-realtime-000000"
VARIANTS = ("gateway", "pre-fix")


# --- the gateway process -------------------------------------------------------------------


def serve_gateway(
    port: int, provider_url: str, twilio_url: str, variant: str, lag_file: str = ""
) -> None:
    """The real gateway app with the real OpenAI and Twilio adapters pointed at the fakes;
    ``lag_file``: where to write its event loop's lateness, (when, how late) every 10 ms,
    as JSON once it stops."""
    import uvicorn
    import uvloop

    from switchboard.common.logging import configure_logging
    from switchboard.common.settings import Settings
    from switchboard.common.startup_heap import tune_for_serving
    from switchboard.voice_gateway.adapters.openai_realtime import OpenAIRealtimeProvider
    from switchboard.voice_gateway.app import create_app
    from switchboard.voice_gateway.config import GatewaySettings
    from switchboard.voice_gateway.domain.agent_config import AgentConfig
    from switchboard.voice_gateway.ports.agent_config import InMemoryAgentConfigSource
    from switchboard.voice_gateway.ports.event_publisher import InMemoryEventPublisher

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
    tune_for_serving()
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

        async def serve() -> None:
            lags: list[tuple[float, float]] = []
            watch = asyncio.create_task(watch_loop(lags))
            keep = asyncio.create_task(_keep_lags(lags, Path(lag_file))) if lag_file else None
            await uvicorn.Server(config).serve()  # re-raises the SIGTERM that stopped it
            watch.cancel()
            if keep:
                keep.cancel()

        uvloop.run(serve())
        return
    # The stdlib loop in debug mode: it logs every callback that holds the loop > 10 ms.
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.010
    loop.run_until_complete(uvicorn.Server(config).serve())


async def _keep_lags(lags: list[tuple[float, float]], path: Path) -> None:
    """Every second, write the loop lateness measured so far (uvicorn ends the process with
    the signal that stopped it, so nothing runs after it)."""
    while True:
        await asyncio.sleep(1)
        path.write_text(json.dumps(lags))  # noqa: ASYNC240 (a few kB once a second)


@contextmanager
def gateway_process(
    provider_url: str, twilio_url: str, variant: str, lag_file: Path
) -> Iterator[tuple[str, psutil.Process]]:
    """A gateway subprocess serving on a free port; yields its base URL and its process. It
    writes its event loop's lateness to ``lag_file`` when it stops."""
    port = free_port()
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import bench.latency as b; "
        f"b.serve_gateway({port}, {provider_url!r}, {twilio_url!r}, {variant!r}, "
        f"{str(lag_file)!r})"
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


# --- the load processes --------------------------------------------------------------------

#: Fresh interpreters for the load processes: nothing of this one's state comes along.
CONTEXT = multiprocessing.get_context("spawn")


@dataclass
class LoadProcess:
    """A load process: its end of the pipe, the URL it serves, and its counters."""

    pipe: Connection
    url: str
    process: psutil.Process


@contextmanager
def load_process(target: Callable[..., None], *args: Any) -> Iterator[LoadProcess]:
    """``target(pipe, *args)`` in a process of its own, once it has sent the URL it serves."""
    pipe, child_end = CONTEXT.Pipe()
    process = CONTEXT.Process(target=target, args=(child_end, *args), daemon=True)
    process.start()
    child_end.close()  # the child's end lives in the child: its exit reads as EOF here
    try:
        yield LoadProcess(pipe, receive(pipe, 60), psutil.Process(process.pid))
    finally:
        process.terminate()
        process.join(30)


def receive(pipe: Connection, timeout_s: float) -> Any:
    """The next message on ``pipe``, or an error if none comes in ``timeout_s``."""
    if not pipe.poll(timeout_s):
        raise RuntimeError(f"no answer from a load process in {timeout_s:.0f} s")
    return pipe.recv()


def _cpu_seconds(*processes: psutil.Process) -> list[float]:
    """The wall clock, then each process's CPU seconds (every thread's)."""
    return [time.monotonic()] + [sum(p.cpu_times()[:2]) for p in processes]


def _cpu_share(before: list[float], after: list[float]) -> dict[str, Any]:
    """Cores each process used over the run: the gateway, the provider and the callers. A load
    process near one core falls behind, and its lateness is counted as the gateway's —
    figures from such a run say more about the host than about the gateway."""
    wall = after[0] - before[0]
    gateway, provider, callers = (b - a for a, b in zip(before[1:], after[1:], strict=True))
    return {
        "wall_s": round(wall, 2),
        "gateway_cores": round(gateway / wall, 3),
        "provider_cores": round(provider / wall, 3),
        "callers_cores": round(callers / wall, 3),
        "load_generator_saturated": max(provider, callers) / wall >= 0.9,
    }


def bench(
    variant: str, calls: int, seconds: float, provider_delay_s: float, connect_delay_s: float
) -> dict[str, Any]:
    """One gateway process of ``variant`` under ``calls`` concurrent calls."""
    lag_file = Path(tempfile.mkdtemp(prefix="bench-latency-lag-")) / "gateway.json"
    with (
        load_process(serve_provider, provider_delay_s, connect_delay_s) as provider,
        load_process(run_callers, calls, seconds) as callers,
        gateway_process(provider.url, callers.url, variant, lag_file) as (base, gateway),
    ):
        processes = (gateway, provider.process, callers.process)
        before = _cpu_seconds(*processes)
        callers.pipe.send(base)
        caller_stamps = receive(callers.pipe, seconds + 300)
        cpu = _cpu_share(before, _cpu_seconds(*processes))
        provider.pipe.send("done")
        provider_stamps = receive(provider.pipe, 60)
    lags = [tuple(lag) for lag in json.loads(lag_file.read_text())] if lag_file.exists() else []
    gateway_lag = lag_p99(lags, caller_stamps, provider_delay_s)
    return {
        "server": variant,
        "calls": calls,
        "seconds": seconds,
        "provider_delay_ms": round(provider_delay_s * 1000),
        "connect_delay_ms": round(connect_delay_s * 1000),
        **report(provider_stamps, caller_stamps, provider_delay_s),
        "cpu": cpu,
        "gateway_loop_lag": gateway_lag,
    }


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
    stop_cleanly_on_sigterm()
    sys.exit(main())
