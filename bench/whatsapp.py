"""Signed WhatsApp webhooks at a fixed rate against ``switchboard api``, with the worker running.

Sets up a fresh PostgreSQL database and RabbitMQ vhost, starts ``switchboard api`` (one
process) and ``switchboard worker``, with a fake Twilio REST API receiving the replies, then:

The worker runs at niceness ``--worker-nice`` (10): on two shared cores the API's requests come
before background jobs, as they would with the worker on machines of its own. ``0`` measures
them competing as equals. The fake Twilio runs at the same niceness: it stands for Twilio's
servers, which are not on our cores.

1. paced: ``--rate`` signed webhooks per second for ``--seconds``, each from a new contact,
   after ``--warmup-seconds`` of the same (connections opened, statements planned; not counted)
   and an ``ANALYZE``, so PostgreSQL plans with statistics as it would in service
   (``--no-analyze``: the new database's first minute);
   reports p50/p99 webhook latency, and inbound-to-reply-enqueued latency (the reply's row
   ``created_at`` minus the inbound message's, both written as they happen);
2. the same paced load against a bare FastAPI endpoint that does nothing (the ceiling);
3. closed loop: each of ``--connections`` (levels of concurrency) against both, for the
   throughput of each: a server's throughput is its best level's (one that is latency-bound
   at 32 connections is not yet saturated there), and each level is reported. In
   ``--closed-rounds`` rounds of ``--seconds``/N per level, the servers' order alternating:
   the host's speed drifts by tens of percent within minutes, and one server measured after
   the other would carry the drift in the ratio; the ratio of each round is reported too.
   With the worker, each server's turn starts once every message before it is answered: the
   worker answers during our turns, never through the bare endpoint's.

The load generator (``http_load.py``) sends requests built and signed before the clock starts.

    uv run python bench/whatsapp.py --rate 300 --seconds 10

``--whole-path`` (first argument) runs ``bench/whatsapp_path.py`` with the arguments after it
instead: the inbound webhook to the reply handed to Twilio, CPU per answered message by
process, beside a naive baseline.

    uv run python bench/whatsapp.py --whole-path --messages 300 --rate 20 --profile
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.http_load import Client, at_rate, build_request  # noqa: E402
from bench.http_load import closed_loop as run_closed_loop  # noqa: E402
from bench.options import add_log_level  # noqa: E402
from bench.stopping import stop_cleanly_on_sigterm, stop_processes  # noqa: E402
from bench.whatsapp_cpu import CpuMeter, Finder, alone, servers, tree  # noqa: E402
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402
from tests.support import services  # noqa: E402
from tests.support.environment import configured  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

PATH = "/webhooks/twilio/whatsapp"
_contacts = itertools.count(1)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def signed_requests(base_url: str, to: str, n: int) -> list[bytes]:
    """``n`` raw requests, each from a new contact, signed for ``base_url``."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    out = []
    for _ in range(n):
        i = next(_contacts)
        form = {
            "MessageSid": f"SM{i:032x}",
            "From": f"whatsapp:+1444{i:07d}",
            "To": f"whatsapp:{to}",
            "Body": "Hi, how much is a haircut on Saturday?",
            "NumMedia": "0",
        }
        signature = validator.compute_signature(base_url + PATH, form)
        out.append(build_request(base_url + PATH, form, {"X-Twilio-Signature": signature}))
    return out


def _freeze_heap() -> None:
    """Keep the load generator's garbage collector off what it built before measuring.

    A full collection over the thousands of signed requests prepared up front stalls this
    process for tens of milliseconds, which would show as the server's latency.
    """
    gc.collect()
    gc.freeze()


async def paced(
    url: str,
    requests: list[bytes],
    rate: float,
    warmup: int,
    after_warmup: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """The first ``warmup`` requests (at the same rate) warm the server and are not counted."""
    _freeze_heap()
    client = Client(url, limit=256)
    await at_rate(client, requests[:warmup], rate)
    after_warmup()
    latencies, elapsed = await at_rate(client, requests[warmup:], rate)
    return {
        "requests": len(latencies),
        "rate_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.5), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2),
    }


async def closed_loop(
    url: str, requests: list[bytes], connections: int, seconds: float, meter: CpuMeter
) -> dict[str, Any]:
    _freeze_heap()
    meter.start()
    done, elapsed = await run_closed_loop(Client(url, connections), requests, connections, seconds)
    cpu = meter.stop()
    return {
        "connections": connections,
        "requests": len(done),
        "seconds": elapsed,
        "throughput_per_s": round(len(done) / elapsed, 1),
        "p50_ms": round(percentile(done, 0.5), 2),
        "p99_ms": round(percentile(done, 0.99), 2),
        "cpu_s": cpu,
    }


def closed_loop_figures(rounds: list[dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """The closed-loop rounds (server → one run per level): each server's levels over all
    rounds (requests ÷ seconds; p50/p99 the rounds' medians), ``throughput_vs_ceiling`` from
    each server's best level, and the same ratio in each round with its median."""
    figures: dict[str, Any] = {}
    for name in ("switchboard", "bare"):
        levels = []
        for index, first in enumerate(rounds[0][name]):
            runs = [each[name][index] for each in rounds]
            requests, seconds = sum(r["requests"] for r in runs), sum(r["seconds"] for r in runs)
            levels.append(
                {
                    "connections": first["connections"],
                    "requests": requests,
                    "throughput_per_s": round(requests / seconds, 1),
                    "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                    "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                    # CPU per request by part, µs, over the rounds: the server's own process
                    # tree, the load generator, and for ours PostgreSQL's backends and server
                    # and RabbitMQ.
                    "cpu_us_per_request": {
                        part: round(sum(r["cpu_s"][part] for r in runs) * 1e6 / requests, 1)
                        for part in first["cpu_s"]
                    },
                    # Every measured part's CPU over the turns' time: 2.0 is both cores of
                    # this machine kind busy (the host's other tenants aside).
                    "cores_busy": round(sum(sum(r["cpu_s"].values()) for r in runs) / seconds, 2),
                }
            )
        figures[f"{name}_closed_loop"] = levels

    def best(levels: list[dict[str, Any]]) -> float:
        return max(float(level["throughput_per_s"]) for level in levels)

    per_round = [best(each["switchboard"]) / best(each["bare"]) for each in rounds]
    figures["throughput_vs_ceiling"] = round(
        best(figures["switchboard_closed_loop"]) / best(figures["bare_closed_loop"]), 2
    )
    figures["throughput_vs_ceiling_per_round"] = [round(ratio, 2) for ratio in per_round]
    figures["throughput_vs_ceiling_median_of_rounds"] = round(statistics.median(per_round), 2)
    return figures


def reply_latencies(business_id: int) -> tuple[int, list[float], float]:
    """(inbound messages, inbound→reply-enqueued ms for each answered one, replies per second
    from the first message in to the last reply out)."""
    from sqlalchemy import select
    from sqlalchemy.orm import aliased

    from switchboard.common.db import tenant_session
    from switchboard.common.models import WhatsAppMessage

    reply = aliased(WhatsAppMessage)
    with tenant_session(business_id) as session:
        inbound = session.execute(
            select(WhatsAppMessage.id).where(WhatsAppMessage.direction == "in")
        ).all()
        rows = session.execute(
            select(WhatsAppMessage.created_at, reply.created_at)
            .join(reply, reply.conversation_id == WhatsAppMessage.conversation_id)
            .where(WhatsAppMessage.direction == "in", reply.direction == "out")
        ).all()
    latencies = [(out - inn).total_seconds() * 1000 for inn, out in rows]
    if not rows:
        return len(inbound), latencies, 0.0
    span = (max(out for _, out in rows) - min(inn for inn, _ in rows)).total_seconds()
    return len(inbound), latencies, round(len(rows) / span, 1)


def analyze_tables() -> None:
    """Statistics for every table, as a database in service has them.

    The bench's database is new, and autovacuum analyzes a new table only a minute or more
    after it starts changing; until then PostgreSQL guesses every selectivity (a business's
    id looks as selective as a conversation's), and the plans it caches meanwhile stay. In
    service the scheduler analyzes such tables within seconds (``db/statistics.py``); the
    bench runs no scheduler and does it here, once. ``--no-analyze`` measures the state
    before.
    """
    from sqlalchemy import text

    from switchboard.common.db import system_session

    with system_session() as session:
        session.execute(text("ANALYZE"))


def wait_answered(business_id: int, timeout_s: float) -> None:
    """Until the worker has answered every inbound message (or ``timeout_s`` has passed)."""
    deadline = time.monotonic() + timeout_s
    while unanswered(business_id) and time.monotonic() < deadline:
        time.sleep(1)


def wait_published(timeout_s: float) -> None:
    """Until the API has published every job it committed (its outbox is empty), or
    ``timeout_s`` has passed: without a worker, the API is still publishing a turn's flood
    when the turn ends."""
    from sqlalchemy import text

    from switchboard.common.db.engine import get_engine

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with get_engine().connect() as connection:
            if not connection.execute(text("SELECT EXISTS (SELECT FROM outbox)")).scalar_one():
                return
        time.sleep(0.5)


def unanswered(business_id: int) -> int:
    """Inbound messages not replied to yet (one cheap count: the bench polls it)."""
    from sqlalchemy import func, select

    from switchboard.common.db import tenant_session
    from switchboard.common.models import WhatsAppMessage

    with tenant_session(business_id) as session:
        query = select(func.count()).where(
            WhatsAppMessage.direction == "in", WhatsAppMessage.status != "replied"
        )
        return int(session.execute(query).scalar_one())


def sent_replies(business_id: int) -> int:
    """Replies Twilio accepted (the fake Twilio runs in its own process)."""
    from sqlalchemy import func, select

    from switchboard.common.db import tenant_session
    from switchboard.common.models import WhatsAppMessage

    with tenant_session(business_id) as session:
        query = select(func.count()).where(
            WhatsAppMessage.direction == "out", WhatsAppMessage.status == "sent"
        )
        return int(session.execute(query).scalar_one())


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


def main() -> None:
    if sys.argv[1:2] == ["--whole-path"]:  # inbound → reply at Twilio: bench/whatsapp_path.py
        from bench.whatsapp_path import main as whole_path

        sys.argv = [sys.argv[0], *sys.argv[2:]]
        whole_path()
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=1.0,
        help="paced requests sent first at the same rate and not counted",
    )
    parser.add_argument(
        "--connections",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[32, 128],
        help="closed-loop phase: the concurrency levels tried (each server's best counts)",
    )
    parser.add_argument(
        "--closed-rounds",
        type=int,
        default=3,
        help="closed-loop phase in this many rounds of --seconds/N per level, alternating",
    )
    parser.add_argument("--api-workers", type=int, default=1, help="switchboard api processes")
    parser.add_argument(
        "--worker-processes", type=int, default=1, help="0: no worker (the API alone)"
    )
    parser.add_argument("--worker-threads", type=int, default=8)
    parser.add_argument(
        "--worker-nice", type=int, default=10, help="the worker's niceness (0: same as the API)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="business WhatsApp limit")
    add_log_level(parser)
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="leave the new database without statistics (see analyze_tables)",
    )
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the fake Twilio's access log

    admin_url = services.admin_database_url()
    database_url = services.create_database(admin_url)
    amqp_url, vhost = services.create_vhost(services.broker_url())
    api_port, bare_port = free_port(), free_port()
    api_url, bare_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
    # The fake Twilio stands in for Twilio's servers, which are not on our cores: it runs at
    # the worker's niceness, so answering the worker's sends never delays a webhook.
    twilio = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "whatsapp_fakes.py"), "twilio"],
        stdout=subprocess.PIPE,
        preexec_fn=lambda: os.nice(args.worker_nice),
    )
    assert twilio.stdout is not None
    twilio_url = twilio.stdout.readline().decode().strip()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AMQP_URL": amqp_url,
        "API_BASE_URL": api_url,
        "TWILIO_API_BASE_URL": twilio_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "OPENAI_API_KEY": "",
        "LOG_LEVEL": args.log_level,
        "PYTHONPATH": str(ROOT),
    }
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[str, Any] = vars(args).copy()
    try:
        with configured(database_url=database_url, amqp_url=amqp_url, log_level="WARNING"):
            from sqlalchemy import update

            from switchboard.common.db import tenant_session
            from switchboard.common.migrate import worker_startup_migrations
            from switchboard.common.models import Business
            from switchboard.domain.businesses.prompts import prebuild_prompts
            from tests.support.factories import make_business

            worker_startup_migrations()
            business = make_business("Bench Salon")
            prebuild_prompts(business.id)  # as create-business does (prebuild_prompt_job)
            with tenant_session(business.id) as session:
                session.execute(
                    update(Business)
                    .where(Business.id == business.id)
                    .values(whatsapp_concurrency=args.concurrency)
                )
            cli = [sys.executable, "-m", "switchboard.cli"]
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": ROOT}
            procs.append(
                subprocess.Popen(
                    [
                        *cli,
                        "api",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(api_port),
                        "--workers",
                        str(args.api_workers),
                    ],
                    env=env,
                    **quiet,
                )
            )  # type: ignore[call-overload]
            if args.worker_processes > 0:  # 0: the API alone, for its own cost
                procs.append(
                    subprocess.Popen(  # type: ignore[call-overload]
                        [
                            *cli,
                            "worker",
                            "--processes",
                            str(args.worker_processes),
                            "--threads",
                            str(args.worker_threads),
                        ],
                        env=env,
                        # Background work yields the CPU to request handling, as separate
                        # machines (or CPU shares) would give it in production.
                        preexec_fn=lambda: os.nice(args.worker_nice),
                        **quiet,
                    )
                )
            procs.append(
                subprocess.Popen(  # type: ignore[call-overload]
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "bench.bare_app:app",
                        "--port",
                        str(bare_port),
                        "--log-level",
                        "warning",
                    ],
                    env=env,
                    **quiet,
                )
            )
            wait_http(f"{api_url}/health")
            wait_http(f"{bare_url}/docs")
            n = int(args.rate * args.seconds)
            warmup = int(args.rate * args.warmup_seconds)
            print(
                f"paced: {n} signed webhooks at {args.rate}/s (after {warmup} to warm up)"
                " → switchboard api …",
                flush=True,
            )
            results["switchboard_paced"] = uvloop.run(
                paced(
                    api_url + PATH,
                    signed_requests(api_url, business.phone_number, warmup + n),
                    args.rate,
                    warmup,
                    (lambda: None) if args.no_analyze else analyze_tables,
                )
            )
            print("paced: same load → bare FastAPI …", flush=True)
            results["bare_paced"] = uvloop.run(
                paced(
                    bare_url + PATH,
                    signed_requests(bare_url, business.phone_number, warmup + n),
                    args.rate,
                    warmup,
                )
            )
            if args.worker_processes > 0:
                # Polled with a cheap count, and the latencies read once: the join that
                # reads them costs PostgreSQL more than the worker it would be waiting for.
                wait_answered(business.id, 120)
                inbound, latencies, per_second = reply_latencies(business.id)
                results["reply_enqueued"] = {
                    "answered": f"{len(latencies)}/{inbound}",
                    "replies_per_s": per_second,
                    "p50_ms": round(percentile(latencies, 0.5), 1),
                    "p99_ms": round(percentile(latencies, 0.99), 1),
                    "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
                }
            # In turns, the order alternating, so the host's drift reaches both servers alike.
            turn_s = args.seconds / args.closed_rounds
            targets = [("switchboard", api_url), ("bare", bare_url)]
            # The load generator (this process) shares the two cores with the servers: its
            # part, with theirs, says how much of the host a turn kept busy (``cores_busy``).
            load = alone(os.getpid())
            api_parts: dict[str, Finder] = {
                "server": tree(procs[0].pid),
                **servers(database_url.rsplit("/", 1)[-1]),
                "load_generator": load,
            }
            if args.worker_processes > 0:  # it answers during our turns, on the same cores
                api_parts["worker"] = tree(procs[1].pid)
            meters = {
                "switchboard": CpuMeter(api_parts),
                "bare": CpuMeter({"server": tree(procs[-1].pid), "load_generator": load}),
            }
            rounds: list[dict[str, list[dict[str, Any]]]] = []
            for round_no in range(args.closed_rounds):
                runs: dict[str, list[dict[str, Any]]] = {}
                for name, url in targets if round_no % 2 == 0 else targets[::-1]:
                    if args.worker_processes > 0:
                        # The worker answers each turn's flood during the turn, and what is
                        # left of it before the next: the bare endpoint's turn never shares
                        # the cores with our backlog (the worker's PostgreSQL work is not
                        # niced), nor ours with the one before.
                        wait_answered(business.id, 300)
                    else:  # nor the bare endpoint's with the API publishing our last turn's
                        wait_published(300)
                    runs[name] = []
                    for connections in args.connections:
                        print(
                            f"closed loop, round {round_no + 1}: {connections} connections"
                            f" → {name} …",
                            flush=True,
                        )
                        requests = signed_requests(url, business.phone_number, int(turn_s * 4000))
                        runs[name].append(
                            uvloop.run(
                                closed_loop(url + PATH, requests, connections, turn_s, meters[name])
                            )
                        )
                rounds.append(runs)
            results.update(closed_loop_figures(rounds))
            results["replies_sent"] = sent_replies(business.id)
    finally:
        stop_processes(procs, wait_s=30)
        twilio.terminate()
        twilio.wait(30)
        services.drop_database(admin_url, database_url)
        services.delete_vhost(vhost)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    stop_cleanly_on_sigterm()
    main()
