"""The whole WhatsApp path: a signed inbound webhook in → the reply handed to Twilio.

Sets up a fresh PostgreSQL database and RabbitMQ vhost, a fake Twilio that notes when each
reply arrives and a fake OpenAI that answers after ``--openai-delay-ms`` (each in a process
of its own, ``bench/whatsapp_fakes.py``), then, for each agent mode (``offline``: no
``OPENAI_API_KEY``, the rules agent; ``openai``: the fake OpenAI with its delay):

1. Switchboard: ``switchboard api`` and ``switchboard worker`` for the mode. ``--warmup``
   messages answered first (not counted), an ``ANALYZE``, then ``--messages`` signed
   webhooks, each from a new contact, paced at ``--rate`` per second, and the same number
   again at once (the burst). Each phase ends when every reply has reached the fake Twilio
   and the job ledger has nothing queued or running (the conversation analysis each reply
   brings included).
2. The naive baseline (``bench/whatsapp_naive.py``): one process answering each webhook
   inline, one transaction per step, no queue: the same paced and burst phases.
3. Once, the bare FastAPI endpoint (``bench/bare_app.py``) under the paced load: the CPU of
   receiving a webhook and nothing else (the ceiling).

Each phase reports answered messages per second (answered ÷ first webhook sent → last reply
at Twilio), inbound → reply-at-Twilio latency p50/p99 (the load generator's and the fake's
wall clocks, one machine), and CPU per answered message in ms for each process group from
its CPU counters (``bench/whatsapp_cpu.py``): the API, the worker (all its processes),
PostgreSQL's backends for the bench's database, PostgreSQL's own server processes (shared
with any other database), RabbitMQ's ``beam.smp`` (the whole broker), and apart from ours:
the fake Twilio, the fake OpenAI and the load generator. ``total`` is ours.

``--profile``: one more paced offline run with the worker under ``cProfile`` (thread CPU
clock, ``bench/whatsapp_profile.py``), its own time grouped by area. Not part of the CPU
figures above (the profiler slows what it measures).

    uv run python bench/whatsapp_path.py --messages 300 --rate 20 --profile
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.options import add_log_level, positive_seconds  # noqa: E402
from bench.stopping import stop_cleanly_on_sigterm, stop_processes  # noqa: E402
from bench.whatsapp import analyze_tables, wait_http  # noqa: E402
from bench.whatsapp_cpu import CpuMeter, Finder, per_message_ms, servers, tree  # noqa: E402
from bench.whatsapp_fakes import OPENAI_KEY  # noqa: E402
from bench.whatsapp_phase import live_jobs, phase, signed_messages, wait_until  # noqa: E402
from bench.whatsapp_profile import DIR_ENV, by_area  # noqa: E402
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402
from tests.support import services  # noqa: E402
from tests.support.environment import configured  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

#: The shared servers: counted in our total (the naive baseline's: PostgreSQL only).
SHARED = ("postgres", "postgres_server", "rabbitmq")
QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": ROOT}


def service_env(
    *,
    database_url: str,
    amqp_url: str,
    base_url: str,
    twilio_url: str,
    openai_url: str,
    mode: str,
    root: Path,
    threads: int,
    log_level: str = "WARNING",
) -> dict[str, str]:
    """The environment of a measured API and worker (the tree at ``root``; ``threads``: the
    worker's in all) for an agent ``mode``: ``offline`` (no key, the rules agent) or
    ``openai`` (the fake OpenAI)."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "AMQP_URL": amqp_url,
        "API_BASE_URL": base_url,
        "TWILIO_API_BASE_URL": twilio_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "OPENAI_API_KEY": OPENAI_KEY if mode == "openai" else "",
        "OPENAI_BASE_URL": f"{openai_url}/v1",
        "AI_PROVIDER": "openai" if mode == "openai" else "offline",
        "LOG_LEVEL": log_level,
        "PYTHONPATH": str(root),
        # Every message is one business's: its fair-share limit (default 4 jobs at once per
        # queue) would cap the path at 4 model calls at a time, which is the policy
        # bench/fairness.py measures; here the business may use every worker thread.
        "JOB_BUSINESS_CONCURRENCY": str(threads),
    }


class Bench:
    """The run's database, vhost, fakes and the processes of the setup being measured."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.admin_url = services.admin_database_url()
        self.database_url = services.create_database(self.admin_url)
        self.amqp_url, self.vhost = services.create_vhost(services.broker_url())
        self.fakes: dict[str, subprocess.Popen[bytes]] = {}
        self.urls: dict[str, str] = {}
        for name, extra in (("twilio", []), ("openai", ["--delay-ms", str(args.openai_delay_ms)])):
            self.fakes[name] = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "whatsapp_fakes.py"), name, *extra],
                stdout=subprocess.PIPE,
            )
            assert self.fakes[name].stdout is not None
            self.urls[name] = self.fakes[name].stdout.readline().decode().strip()  # type: ignore[union-attr]
        self.procs: list[subprocess.Popen[bytes]] = []

    def env(self, mode: str, base_url: str) -> dict[str, str]:
        """The environment of the measured processes for an agent ``mode``."""
        return service_env(
            database_url=self.database_url,
            amqp_url=self.amqp_url,
            base_url=base_url,
            twilio_url=self.urls["twilio"],
            openai_url=self.urls["openai"],
            mode=mode,
            root=ROOT,
            threads=self.args.worker_processes * self.args.worker_threads,
            log_level=self.args.log_level,
        )

    def start(self, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start one measured process (stopped by :meth:`stop_all`)."""
        process = subprocess.Popen(command, env=env, **QUIET)  # type: ignore[call-overload]
        self.procs.append(process)
        return process  # type: ignore[no-any-return]

    def stop_all(self) -> None:
        """Stop the measured processes, gently first (the worker writes its profile then)."""
        stop_processes(self.procs)
        self.procs = []

    def meter(self, own: dict[str, int]) -> CpuMeter:
        """A meter over ``own`` (part → root pid), the shared servers and the outside world."""
        database = self.database_url.rsplit("/", 1)[1]
        parts: dict[str, Finder] = {part: tree(pid) for part, pid in own.items()}
        parts |= {
            **servers(database),
            "fake_twilio": tree(self.fakes["twilio"].pid),
            "fake_openai": tree(self.fakes["openai"].pid),
            "load_generator": lambda: [psutil.Process()],
        }
        return CpuMeter(parts)

    def close(self) -> None:
        """Stop everything and drop the database and the vhost."""
        self.stop_all()
        for fake in self.fakes.values():
            fake.terminate()
            fake.wait(30)
        services.drop_database(self.admin_url, self.database_url)
        services.delete_vhost(self.vhost)


def new_business(name: str, concurrency: int) -> tuple[int, str]:
    """A business with its prompts built, as create-business leaves it: (id, number)."""
    from sqlalchemy import update

    from switchboard.common.db import tenant_session
    from switchboard.common.models import Business
    from switchboard.domain.businesses.prompts import prebuild_prompts
    from tests.support.factories import make_business

    business = make_business(name)
    prebuild_prompts(business.id)
    with tenant_session(business.id) as session:
        session.execute(
            update(Business)
            .where(Business.id == business.id)
            .values(whatsapp_concurrency=concurrency)
        )
    return business.id, business.phone_number


def measure(
    bench: Bench,
    url: str,
    number: str,
    own: dict[str, int],
    settle: Callable[[], None],
    burst: bool = True,
    broker: bool = True,
) -> dict[str, Any]:
    """Warm up, then the paced phase and (``burst``, unless ``--no-burst``) the burst one."""
    args, twilio = bench.args, bench.urls["twilio"]
    # Without a broker (the naive baseline), RabbitMQ's CPU is only its idle ticking.
    ours = (*own, *(part for part in SHARED if broker or part != "rabbitmq"))
    warmup = signed_messages(url, number, args.warmup)
    figures: dict[str, Any] = {
        "warmup": phase(url, warmup, args.rate, bench.meter(own), ours, twilio, settle)
    }
    analyze_tables()
    # What the setup spends doing nothing: the paced phase's window includes such time.
    meter = bench.meter(own)
    meter.start()
    time.sleep(args.idle_seconds)
    idle = meter.stop()
    per_second = per_message_ms(idle, 1, ours).items()
    figures["idle_cpu_ms_per_s"] = {p: round(ms / args.idle_seconds, 2) for p, ms in per_second}
    for name, rate in (("paced", args.rate), ("burst", 0.0)):
        if name == "burst" and (args.no_burst or not burst):
            continue
        print(f"  {name}: {args.messages} messages …", flush=True)
        messages = signed_messages(url, number, args.messages)
        figures[name] = phase(url, messages, rate, bench.meter(own), ours, twilio, settle)
    return figures


def drained() -> None:
    """Wait until the job ledger has nothing queued or running (the analysis included)."""
    wait_until(lambda: live_jobs() == 0, 120, "the job ledger to drain")


def switchboard(bench: Bench, mode: str, profile_dir: str | None = None) -> dict[str, Any]:
    """``switchboard api`` + ``switchboard worker`` in ``mode``; the phases' figures."""
    args = bench.args
    _, number = new_business(f"Bench {mode}", args.concurrency)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = bench.env(mode, url)
    cli = [sys.executable, "-m", "switchboard.cli"]
    api = bench.start([*cli, "api", "--host", "127.0.0.1", "--port", str(port)], env)
    worker_args = ["--processes", str(args.worker_processes), "--threads", str(args.worker_threads)]
    worker_args += ["--metrics-port", str(free_port())]
    if profile_dir:
        env = {**env, DIR_ENV: profile_dir}
        worker_args.insert(0, "bench.whatsapp_profile")
    worker = bench.start([*cli, "worker", *worker_args], env)
    try:
        wait_http(f"{url}/health")
        own = {"api": api.pid, "worker": worker.pid}
        return measure(bench, url, number, own, drained, burst=not profile_dir)
    finally:
        bench.stop_all()


def naive(bench: Bench, mode: str) -> dict[str, Any]:
    """The naive baseline in ``mode``; the phases' figures."""
    from switchboard.common.db import tenant_session
    from switchboard.domain.businesses.prompts import prompt_for

    business_id, number = new_business(f"Naive {mode}", bench.args.concurrency)
    with tenant_session(business_id) as session:
        prompt = prompt_for(session, business_id, "whatsapp")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**bench.env(mode, url), "NAIVE_BASE_URL": url, "NAIVE_PROMPT": prompt}
    app = "bench.whatsapp_naive:app"
    uvicorn = [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--log-level", "warning"]
    process = bench.start(uvicorn, env)
    try:
        wait_http(f"{url}/health")
        return measure(bench, url, number, {"naive": process.pid}, lambda: None, broker=False)
    finally:
        bench.stop_all()


def bare(bench: Bench, number: str) -> dict[str, Any]:
    """The bare endpoint under the paced load: receiving a webhook and nothing else."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    uvicorn = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(port)]
    process = bench.start([*uvicorn, "--log-level", "warning"], bench.env("offline", url))
    try:
        wait_http(f"{url}/docs")
        own = {"bare": process.pid}
        meter = bench.meter(own)
        phase(
            url, signed_messages(url, number, bench.args.warmup), bench.args.rate, meter, (), None
        )
        messages = signed_messages(url, number, bench.args.messages)
        return phase(url, messages, bench.args.rate, meter, ("bare",), None)
    finally:
        bench.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=300, help="per phase")
    parser.add_argument("--rate", type=float, default=20.0, help="paced phase: webhooks/s")
    parser.add_argument("--warmup", type=int, default=30, help="messages answered first")
    parser.add_argument(
        "--modes", nargs="+", choices=["offline", "openai"], default=["offline", "openai"]
    )
    parser.add_argument("--openai-delay-ms", type=float, default=300.0)
    parser.add_argument("--worker-processes", type=int, default=1)
    parser.add_argument("--worker-threads", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=32, help="business WhatsApp limit")
    parser.add_argument(
        "--idle-seconds",
        type=positive_seconds,
        default=3.0,
        help="CPU of the idle setup, after warm-up (more than 0)",
    )
    parser.add_argument("--no-burst", action="store_true", help="the paced phase only")
    parser.add_argument("--no-naive", action="store_true", help="no naive baseline")
    parser.add_argument("--profile", action="store_true", help="a profiled offline run too")
    parser.add_argument(
        "--profile-out", type=Path, help="--profile: also keep the merged profile (pstats) here"
    )
    parser.add_argument("--out", type=Path, help="also write the figures to this file")
    add_log_level(parser)
    args = parser.parse_args()

    results: dict[str, Any] = {
        **vars(args),
        "out": None,
        "profile_out": None,
        "machine_cpus": os.cpu_count(),
    }
    results["modes"] = {}
    bench = Bench(args)
    try:
        with configured(
            database_url=bench.database_url, amqp_url=bench.amqp_url, log_level="WARNING"
        ):
            from switchboard.common.migrate import worker_startup_migrations

            worker_startup_migrations()
            for mode in args.modes:
                print(f"{mode}: switchboard api + worker …", flush=True)
                figures = {"switchboard": switchboard(bench, mode)}
                if not args.no_naive:
                    print(f"{mode}: naive baseline …", flush=True)
                    figures["naive"] = naive(bench, mode)
                results["modes"][mode] = figures
            print("bare endpoint, paced …", flush=True)
            results["bare"] = bare(bench, "+15550000000")
            if args.profile:
                print("offline, the worker profiled …", flush=True)
                with tempfile.TemporaryDirectory() as directory:
                    run = switchboard(bench, "offline", profile_dir=directory)
                    files = sorted(Path(directory).glob("worker-*.prof"))
                    if not files:
                        raise RuntimeError("the profiled worker wrote no profile")
                    # The profile spans the worker's life: every message it answered counts.
                    answered = run["warmup"]["answered"] + run["paced"]["answered"]
                    results["profile"] = by_area(files, answered, args.profile_out)
    finally:
        bench.close()
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    stop_cleanly_on_sigterm()
    main()
