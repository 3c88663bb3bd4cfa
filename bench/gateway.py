"""N concurrent simulated calls against one gateway process, next to a thread-per-call baseline.

Both servers speak Twilio Media Streams and answer with the offline agent's synthesized
speech; the load is the same: every call sends a 20 ms caller frame every 20 ms (speech
for 2 s every 12 s, else μ-law silence), plays the agent's audio in real time and echoes
its marks. The load generator is one uvloop process with one 20 ms clock for all calls.

* gateway: ``switchboard.voice_gateway`` as ``switchboard gateway`` serves it (uvicorn,
  uvloop, httptools, websockets-sansio), fakes only for the agent config and events.
* baseline: the old design — per call a receive thread, a paced transmit thread
  (``time.sleep`` per frame), an AI thread and a watchdog thread.
* before (``--compare-tree PATH``): the gateway of another checkout (e.g. the code before a
  change, in a clean worktree with its own ``.venv``), served by that tree's own
  ``serve_gateway`` under the same load in the same run, so CPU per call-second of the two
  can be compared side by side (the order of the two alternates from one size to the next).

Transmit jitter is the lateness of each agent frame against its 20 ms slot, measured by the
server (the gateway's histogram; the baseline's samples) and, as a cross-check, on arrival
at the client. CPU and RSS are the server process's, per call.

    .venv/bin/python bench/gateway.py --calls 200 --seconds 30
    .venv/bin/python bench/gateway.py --calls 100 150 200 250 --compare-tree ../base
    .venv/bin/python bench/gateway.py --calls 100 100 100 --seconds 10 --no-baseline \
        --compare-tree ../base      # three pairs at one size: the median CPU ratio

``--profile DIR`` runs this tree's gateway under cProfile and writes ``DIR/gateway-<calls>.prof``
(the figures of a profiled run are not comparable with the others). The ``knee`` in the
output is, per server, the fewest calls at which p99 server jitter exceeded 10 ms, a frame
was dropped or a call was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import queue
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import uvloop
import websockets

from switchboard.voice_gateway.domain.codecs import FRAME_BYTES, loud_sample_table, split_frames
from switchboard.voice_gateway.domain.speech import speech_ulaw
from switchboard.voice_gateway.simulator import MediaStreamDriver

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.stopping import stop_cleanly_on_sigterm  # noqa: E402
from bench.voice_webhook import ring  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

AUTH_TOKEN = "bench-twilio-token"
BUSINESS_NUMBER = "+15550001111"
GREETING = "Hello, thanks for calling Acme Dental. How can I help you today?"
UTTERANCE = "Hi, I would like to book a cleaning for next Tuesday please."
JITTER_BOUNDS_MS = (0.5, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100, 250, 500, 1000)
#: Past this p99 server jitter (or any dropped frame or lost call) a size is beyond the knee.
KNEE_JITTER_P99_MS = 10.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- servers ------------------------------------------------------------------------------


def serve_gateway(port: int) -> None:
    """The real gateway app, with an in-memory agent config and event publisher."""
    import uvicorn

    from switchboard.common.logging import configure_logging
    from switchboard.common.settings import Settings
    from switchboard.common.startup_heap import tune_for_serving
    from switchboard.voice_gateway.app import create_app
    from switchboard.voice_gateway.domain.agent_config import AgentConfig
    from switchboard.voice_gateway.ports.agent_config import InMemoryAgentConfigSource
    from switchboard.voice_gateway.ports.event_publisher import InMemoryEventPublisher
    from switchboard.voice_gateway.ports.recorder import InMemoryCallRecorder

    try:  # served as ``switchboard gateway`` serves it (a tree from before has no such module)
        from switchboard.voice_gateway.media_websocket import MediaWebSocketProtocol

        ws: Any = MediaWebSocketProtocol
    except ImportError:
        ws = "websockets-sansio"

    configure_logging("WARNING")
    agent = AgentConfig(
        business_id=1,
        business_name="Acme Dental",
        phone_number=BUSINESS_NUMBER,
        prompt="Book appointments.",
        greeting=GREETING,
        max_call_seconds=3600,
        silence_timeout_s=60,
    )
    settings = Settings(
        public_base_url=f"http://127.0.0.1:{port}", twilio_auth_token=AUTH_TOKEN, openai_api_key=""
    )
    app = create_app(
        settings,
        event_publisher=InMemoryEventPublisher(),
        agent_config_source=InMemoryAgentConfigSource([agent]),
        recorder=InMemoryCallRecorder(),
    )
    tune_for_serving()
    profile_to = os.environ.get("BENCH_GATEWAY_PROFILE")
    profiler = None
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()

        def dump(signum: int, frame: Any) -> None:
            # uvicorn restores this handler once it has shut down and re-raises SIGTERM.
            profiler.disable()
            profiler.dump_stats(profile_to)
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, dump)
        profiler.enable()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        ws=ws,
        ws_max_size=64 * 1024,
        access_log=False,
        log_level="warning",
        backlog=4096,
    )


_LOUD = loud_sample_table(900)
_BASELINE_JITTER: list[float] = []


def _baseline_call(ws: Any) -> None:
    """The old design, one call: receive here; transmit, AI and watchdog in their own threads."""
    tx: queue.Queue[str | None] = queue.Queue()
    state: dict[str, Any] = {"alive": True, "sid": "", "voiced": 0, "silent": 0, "speech": False}

    def speak(text: str) -> None:
        for frame in split_frames(speech_ulaw(text)):
            payload = base64.b64encode(frame).decode()
            tx.put(
                json.dumps(
                    {"event": "media", "streamSid": state["sid"], "media": {"payload": payload}}
                )
            )

    def tx_loop() -> None:  # one timer per frame per call, the naive design
        deadline = None
        while state["alive"]:
            try:
                message = tx.get(timeout=0.1)
            except queue.Empty:
                deadline = None
                continue
            if message is None:
                return
            deadline = (deadline or time.monotonic()) + 0.02
            time.sleep(max(0.0, deadline - time.monotonic()))
            _BASELINE_JITTER.append(time.monotonic() - deadline)
            try:
                ws.send(message)
            except websockets.ConnectionClosed:
                return

    ai_inbox: queue.Queue[bytes | None] = queue.Queue()

    def ai_loop() -> None:  # a naive realtime loop: VAD, then an answer
        while (frame := ai_inbox.get()) is not None:
            voiced = frame.translate(_LOUD).count(1) >= 24
            if not state["speech"]:
                state["voiced"] = state["voiced"] + 1 if voiced else 0
                if state["voiced"] >= 3:
                    state["speech"], state["silent"] = True, 0
            elif voiced:
                state["silent"] = 0
            else:
                state["silent"] += 1
                if state["silent"] >= 30:
                    state["speech"] = False
                    speak("Thank you. I am the offline assistant. Could you tell me a bit more?")

    def watchdog_loop() -> None:
        while state["alive"]:
            time.sleep(1)

    threads = [threading.Thread(target=f, daemon=True) for f in (tx_loop, ai_loop, watchdog_loop)]
    for message in ws:
        data = json.loads(message)
        if data["event"] == "start":
            state["sid"] = data["start"]["streamSid"]
            for thread in threads:
                thread.start()
            speak(GREETING)
        elif data["event"] == "media":
            ai_inbox.put(base64.b64decode(data["media"]["payload"]))
        elif data["event"] == "stop":
            break
    state["alive"] = False
    tx.put(None)
    ai_inbox.put(None)


def serve_baseline(port: int) -> None:
    """A thread-per-call Media Streams server; ``/stats`` returns the transmit lateness."""
    from websockets.sync.server import serve

    def handler(ws: Any) -> None:
        if ws.request.path.startswith("/stats"):
            samples, _BASELINE_JITTER[:] = list(_BASELINE_JITTER), []
            ws.send(json.dumps(samples))
            return
        _baseline_call(ws)

    with serve(handler, "127.0.0.1", port, max_size=64 * 1024, compression=None) as server:
        server.serve_forever()


# --- load generator -----------------------------------------------------------------------


async def open_call(base: str, n: int, baseline: bool) -> MediaStreamDriver:
    call_sid = f"CA{n:032x}"
    parameters: dict[str, str] = {}
    ws_url = base.replace("http", "ws", 1) + "/twilio/media"
    if not baseline:
        form = {"CallSid": call_sid, "From": f"+1555{n:07d}", "To": BUSINESS_NUMBER}
        parameters = await ring(base, AUTH_TOKEN, form)
    ws = await websockets.connect(ws_url, max_size=None, compression=None, open_timeout=60)
    driver = MediaStreamDriver(
        ws, call_sid=call_sid, stream_sid=f"MZ{n:032x}", parameters=parameters
    )
    await driver.open_stream()
    return driver


async def run_load(
    base: str, calls: int, seconds: float, baseline: bool, server: psutil.Process
) -> dict[str, Any]:
    speech = speech_ulaw(UTTERANCE, voice="high")
    drivers: list[MediaStreamDriver] = []
    receivers: list[asyncio.Task[None]] = []
    tick_lateness: list[float] = []
    stop = asyncio.Event()

    async def clock() -> None:
        deadline, tick = time.monotonic(), 0
        while not stop.is_set():
            tick += 1
            for index, driver in enumerate(list(drivers)):
                if (tick + index * 37) % 600 == 100:  # speak 2 s of every 12 s, staggered
                    driver.speak(speech)
                await driver.tick()
            deadline += 0.02
            delay = deadline - time.monotonic()
            tick_lateness.append(-delay if delay < 0 else 0.0)
            await asyncio.sleep(max(0.0, delay))

    ticker = asyncio.create_task(clock())
    for n in range(calls):  # ramp up over ~5 s
        driver = await open_call(base, n, baseline)
        drivers.append(driver)
        receivers.append(asyncio.create_task(driver.receive()))
        await asyncio.sleep(5 / calls)
    await asyncio.sleep(5)  # warm-up: greetings and first answers
    for driver in drivers:
        driver.arrivals = []
    before = await server_counters(base, baseline, server)
    tick_lateness.clear()
    await asyncio.sleep(seconds)
    after = await server_counters(base, baseline, server)
    arrivals = [list(driver.arrivals or []) for driver in drivers]
    lost = sum(1 for driver in drivers if driver.receiving_done.is_set())
    stop.set()
    await ticker
    for driver in drivers:
        try:
            await driver.stop()
            await driver.ws.close()
        except websockets.ConnectionClosed:
            pass
    await asyncio.wait(receivers, timeout=10)
    return summarize(calls, seconds, before, after, arrivals, tick_lateness, lost)


async def server_counters(base: str, baseline: bool, server: psutil.Process) -> dict[str, Any]:
    cpu = server.cpu_times()
    loadgen = psutil.Process().cpu_times()
    counters: dict[str, Any] = {
        "host_cpu_s": sum(psutil.cpu_times()[:3]),
        "loadgen_cpu_s": loadgen.user + loadgen.system,
        "cpu_s": cpu.user + cpu.system,
        "cpu_system_s": cpu.system,
        "at": time.monotonic(),
        "rss": server.memory_info().rss,
        "threads": server.num_threads(),
    }
    if baseline:
        stats_url = base.replace("http", "ws", 1) + "/stats"
        async with websockets.connect(stats_url, max_size=None) as ws:
            counters["jitter_samples"] = json.loads(await ws.recv())
        return counters
    async with httpx.AsyncClient(timeout=60) as http:
        text = (await http.get(base + "/metrics")).text
    for line in text.splitlines():
        if line.startswith("switchboard_gateway_tx_jitter_seconds_bucket"):
            bound = line.split('le="')[1].split('"')[0]
            counters.setdefault("buckets", {})[bound] = float(line.rsplit(" ", 1)[1])
        for name in ("frames_out", "frames_late", "frames_dropped", "frames_in"):
            if line.startswith(f"switchboard_gateway_{name}_total "):
                counters[name] = float(line.rsplit(" ", 1)[1])
    return counters


def histogram_percentile(buckets: dict[str, float], q: float) -> float:
    """Interpolated percentile (ms) from cumulative Prometheus buckets."""
    items = sorted(((float(b), c) for b, c in buckets.items()), key=lambda item: item[0])
    total = items[-1][1]
    target, lower_bound, lower_count = q * total, 0.0, 0.0
    for bound, count in items:
        if count >= target:
            if bound == float("inf"):
                return lower_bound * 1000
            share = (target - lower_count) / max(count - lower_count, 1e-9)
            return (lower_bound + (bound - lower_bound) * share) * 1000
        lower_bound, lower_count = bound, count
    return lower_bound * 1000


def client_jitter(arrivals: list[list[float]]) -> list[float]:
    """Lateness (ms) of each received frame against its playout time: a player starts a
    talk-burst when its first frame arrives and plays a frame every 20 ms from then on, so
    frame i is late by how much it arrives after first + 20 ms × i. A frame that arrives
    ahead of its time waits in the player's buffer: 0, not late."""
    lateness: list[float] = []
    for times in arrivals:
        burst: list[float] = []
        for t in [*times, float("inf")]:
            if burst and t - burst[-1] > 0.2:
                lateness.extend(
                    max(0.0, x - burst[0] - 0.02 * i) * 1000 for i, x in enumerate(burst)
                )
                burst = []
            burst.append(t)
    return lateness


def summarize(
    calls: int,
    seconds: float,
    before: dict[str, Any],
    after: dict[str, Any],
    arrivals: list[list[float]],
    tick_lateness: list[float],
    lost: int,
) -> dict[str, Any]:
    wall = after["at"] - before["at"]
    result: dict[str, Any] = {
        "calls": calls,
        "seconds": round(wall, 1),
        "calls_lost": lost,
        "cpu_percent": round(100 * (after["cpu_s"] - before["cpu_s"]) / wall, 1),
        "cpu_ms_per_call_second": round(
            1000 * (after["cpu_s"] - before["cpu_s"]) / wall / calls, 2
        ),
        # The kernel's share (socket reads and writes, epoll): what the code cannot cut.
        "cpu_system_ms_per_call_second": round(
            1000 * (after["cpu_system_s"] - before["cpu_system_s"]) / wall / calls, 2
        ),
        "rss_mb": round(after["rss"] / 2**20, 1),
        "loadgen_cpu_percent": round(
            100 * (after["loadgen_cpu_s"] - before["loadgen_cpu_s"]) / wall, 1
        ),
        # Everything else on the box: other people's tests make the figures noisy.
        "other_cpu_percent": round(
            100
            * (
                (after["host_cpu_s"] - before["host_cpu_s"])
                - (after["cpu_s"] - before["cpu_s"])
                - (after["loadgen_cpu_s"] - before["loadgen_cpu_s"])
            )
            / wall,
            1,
        ),
        "threads": after["threads"],
    }
    if "buckets" in after:
        delta = {b: after["buckets"][b] - before["buckets"].get(b, 0) for b in after["buckets"]}
        result.update(
            server_jitter_p50_ms=round(histogram_percentile(delta, 0.50), 2),
            server_jitter_p99_ms=round(histogram_percentile(delta, 0.99), 2),
            server_jitter_max_ms_at_most=min(
                float(b) * 1000 for b, c in delta.items() if c >= delta["+Inf"]
            ),
            frames_out=int(after["frames_out"] - before["frames_out"]),
            frames_late=int(after["frames_late"] - before["frames_late"]),
            frames_dropped=int(after["frames_dropped"] - before["frames_dropped"]),
        )
    else:
        samples = [s * 1000 for s in after["jitter_samples"]]
        result.update(
            server_jitter_p50_ms=round(percentile(samples, 0.50), 2),
            server_jitter_p99_ms=round(percentile(samples, 0.99), 2),
            server_jitter_max_ms=round(max(samples, default=0), 1),
            frames_out=len(samples),
            frames_late=sum(1 for s in samples if s > 20),
            frames_dropped=0,
        )
    lateness = client_jitter(arrivals)
    result.update(
        client_jitter_p50_ms=round(percentile(lateness, 0.50), 2),
        client_jitter_p99_ms=round(percentile(lateness, 0.99), 2),
        client_jitter_max_ms=round(max(lateness, default=0), 1),
        client_frames_received=len(lateness),
        loadgen_tick_late_p99_ms=round(1000 * percentile(tick_lateness, 0.99), 2),
    )
    return result


def server_command(kind: str, port: int, compare_tree: Path | None) -> tuple[list[str], Path]:
    """How to start one server, and in which directory."""
    if kind == "before":
        assert compare_tree is not None
        tree = compare_tree.resolve()
        code = (
            f"import sys; sys.path.insert(0, {str(tree)!r}); "
            f"import bench.gateway as g; g.serve_gateway({port})"
        )
        return [str(tree / ".venv" / "bin" / "python"), "-c", code], tree
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        f"import bench.gateway as g; g.serve_{kind}({port})"
    )
    command = [sys.executable, "-c", code]
    if kind == "gateway" and os.environ.get("BENCH_GATEWAY_COMMAND"):
        command = [*os.environ["BENCH_GATEWAY_COMMAND"].split(), str(port)]
    return command, ROOT


@contextlib.contextmanager
def started(
    kind: str, compare_tree: Path | None = None, profile_to: Path | None = None
) -> Iterator[tuple[str, psutil.Process]]:
    """One server of ``kind`` listening: its base URL and process; stopped on leaving."""
    port = free_port()
    command, cwd = server_command(kind, port, compare_tree)
    env = dict(os.environ)
    if profile_to is not None and kind == "gateway":
        env["BENCH_GATEWAY_PROFILE"] = str(profile_to)
    process = subprocess.Popen(command, cwd=cwd, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), 1):
                    break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, (
                    f"{kind} did not start"
                )
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(60 if profile_to is not None else 20)


def bench(
    kind: str,
    calls: int,
    seconds: float,
    compare_tree: Path | None = None,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    with started(kind, compare_tree, profile_to) as (base, server):
        idle_rss = server.memory_info().rss
        result = uvloop.run(run_load(base, calls, seconds, kind == "baseline", server))
    result["rss_kb_per_call"] = round((result["rss_mb"] * 2**20 - idle_rss) / 1024 / calls, 1)
    return {"server": kind, **result}


def bench_together(calls: int, seconds: float, compare_tree: Path) -> list[dict[str, Any]]:
    """This tree's gateway and the compared tree's, each under ``calls`` calls, at the same
    time: whatever else the host does in those seconds weighs on both alike."""
    kinds = ("gateway", "before")
    with started("gateway") as ours, started("before", compare_tree) as theirs:
        servers = dict(zip(kinds, (ours, theirs), strict=True))
        idle = {kind: server.memory_info().rss for kind, (_, server) in servers.items()}

        async def both() -> list[dict[str, Any]]:
            return list(
                await asyncio.gather(
                    *(
                        run_load(base, calls, seconds, False, server)
                        for base, server in servers.values()
                    )
                )
            )

        results = uvloop.run(both())
    for kind, result in zip(kinds, results, strict=True):
        rss_kb = (result["rss_mb"] * 2**20 - idle[kind]) / 1024 / calls
        result.update(server=kind, rss_kb_per_call=round(rss_kb, 1), together=True)
    return [{"server": r.pop("server"), **r} for r in results]


def beyond_knee(result: dict[str, Any]) -> bool:
    """True if this run missed the real-time target: jitter, a dropped frame or a lost call."""
    return bool(
        result["server_jitter_p99_ms"] > KNEE_JITTER_P99_MS
        or result["frames_dropped"]
        or result["calls_lost"]
    )


def knees(results: list[dict[str, Any]]) -> dict[str, int | None]:
    """Per server, the fewest calls that missed the target (None: every size met it)."""
    found: dict[str, int | None] = {}
    for result in sorted(results, key=lambda r: int(r["calls"])):
        server = result["server"]
        found.setdefault(server, None)
        if found[server] is None and beyond_knee(result):
            found[server] = int(result["calls"])
    return found


def comparisons(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size measured on both (per pair, where a size is given more than once, the two
    run back to back), this tree's gateway ÷ the compared tree's."""
    compared = []
    for ours in results:
        if ours["server"] != "gateway":
            continue
        before = next(
            (
                r
                for r in results
                if r["server"] == "before"
                and r["calls"] == ours["calls"]
                and r.get("pair") == ours.get("pair")
            ),
            None,
        )
        if before is None:
            continue
        compared.append(
            {
                "calls": ours["calls"],
                "cpu_ms_per_call_second": [
                    ours["cpu_ms_per_call_second"],
                    before["cpu_ms_per_call_second"],
                ],
                "cpu_ratio": round(
                    ours["cpu_ms_per_call_second"] / max(before["cpu_ms_per_call_second"], 1e-9),
                    3,
                ),
                "server_jitter_p99_ms": [
                    ours["server_jitter_p99_ms"],
                    before["server_jitter_p99_ms"],
                ],
                "frames_dropped": [ours["frames_dropped"], before["frames_dropped"]],
            }
        )
    return compared


def median_ratios(compared: list[dict[str, Any]]) -> dict[str, float]:
    """Per size, the median of its pairs' CPU ratios (``--calls 100 100 100``: three pairs,
    each run back to back, so a drift of the host's speed hits both sides of a pair)."""
    by_size: dict[int, list[float]] = {}
    for line in compared:
        by_size.setdefault(int(line["calls"]), []).append(float(line["cpu_ratio"]))
    return {str(size): round(statistics.median(ratios), 3) for size, ratios in by_size.items()}


def order(index: int, compare: bool, baseline: bool) -> list[str]:
    """The servers to run at the ``index``-th size: the two gateways alternate who goes first."""
    gateways = ["before", "gateway"] if compare else ["gateway"]
    if index % 2:
        gateways.reverse()
    return [*gateways, *(["baseline"] if baseline else [])]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, nargs="+", default=[200])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--compare-tree",
        type=Path,
        help="also serve the gateway of this checkout (with its own .venv) under the same load",
    )
    parser.add_argument(
        "--together",
        action="store_true",
        help="with --compare-tree: load both gateways at the same time (half the calls' "
        "worth of host each), so the host's drift weighs on both alike",
    )
    parser.add_argument("--profile", type=Path, help="cProfile this tree's gateway into DIR")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gateway.json")
    args = parser.parse_args()
    random.seed(1)
    results = []
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    for index, calls in enumerate(args.calls):
        if args.together:
            assert args.compare_tree is not None, "--together needs --compare-tree"
            for result in bench_together(calls, args.seconds, args.compare_tree):
                result["pair"] = index
                print(json.dumps(result), flush=True)
                results.append(result)
            if args.no_baseline:
                continue
        for kind in order(index, args.compare_tree is not None, not args.no_baseline):
            if args.together and kind != "baseline":
                continue
            profile_to = args.profile and args.profile.resolve() / f"gateway-{calls}.prof"
            result = bench(kind, calls, args.seconds, args.compare_tree, profile_to)
            result["pair"] = index
            print(json.dumps(result), flush=True)
            results.append(result)
    summary: dict[str, Any] = {
        "machine_cpus": os.cpu_count(),
        "frame_bytes": FRAME_BYTES,
        "results": results,
        "knee": knees(results),
    }
    if args.compare_tree is not None:
        summary["compare_tree"] = str(args.compare_tree.resolve())
        summary["compared"] = comparisons(results)
        for line in summary["compared"]:
            print(json.dumps(line), flush=True)
        summary["cpu_ratio_median"] = median_ratios(summary["compared"])
        print(json.dumps({"cpu_ratio_median": summary["cpu_ratio_median"]}), flush=True)
    print(json.dumps({"knee": summary["knee"]}), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    stop_cleanly_on_sigterm()
    main()
