"""Fair share between businesses: one business's flood beside another's replies.

Business A enqueues ``--analysis`` conversation analyses (10,000) and receives ``--whatsapp``
WhatsApp messages (2,000) at once; business B sends one WhatsApp message every ``1/--b-rate``
seconds. Each scenario runs on fresh ``switchboard api`` + ``switchboard worker`` processes
(``--worker-processes`` × ``--worker-threads``, 1 × 8: two worker processes hold some 90
PostgreSQL connections between them, most of a default server's 100) with
``JOB_BUSINESS_CONCURRENCY=--limit`` (2: A's flood fills two queues, ``whatsapp`` and
``analysis``, so 4 of the 8 threads at most, as docs/architecture.md advises) against a fresh
database and RabbitMQ vhost,
with a fake Twilio (noting when each reply arrives) and a fake OpenAI answering each call
after ``--openai-delay-ms`` (``bench/whatsapp_fakes.py``, each in a process of its own):

1. ``b_alone``: B alone for ``--b-alone-seconds``; fair share on.
2. ``a_alone``: A's flood alone; fair share on.
3. ``flood_fair``: A's flood, B sending throughout; fair share on (the deployment's limits).
4. ``flood_off``: the same with ``JOB_FAIR_SHARE=false``: plain arrival order, the baseline.

Reported: B's inbound → reply-at-Twilio latency p50/p99 (the load generator's and the fake's
wall clocks, one machine), and A's throughput: A's jobs finished (the analyses and the WhatsApp
replies, each of which sends itself) ÷ from the flood's start to A's last job's
end. Targets (issue #24): B's p99 in ``flood_fair`` ≤ 2 × its p99 in ``b_alone``, and A's
throughput in ``flood_fair`` ≥ 0.9 × in ``a_alone``.

    uv run python bench/fairness.py                # the sizes docs/benchmarks.md records
    uv run python bench/fairness.py --short        # a tenth of the flood, for make bench
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.options import add_log_level  # noqa: E402
from bench.stopping import stop_cleanly_on_sigterm  # noqa: E402
from bench.whatsapp import PATH, percentile, wait_http  # noqa: E402
from bench.whatsapp_path import Bench, new_business  # noqa: E402
from bench.whatsapp_phase import fire, received, signed_messages, wait_until  # noqa: E402
from tests.support.environment import configured  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

#: Messages each business answers before its scenario starts (not counted): A's become the
#: conversations its analyses read.
WARMUP = 20


def jobs_of(business_id: int, since: datetime) -> tuple[int, int, datetime | None]:
    """(live jobs, finished jobs, the last end) of the business's jobs enqueued since."""
    from sqlalchemy import case, func, select

    from switchboard.common.db import system_session
    from switchboard.common.models.jobs import LIVE_STATUSES, Job

    query = select(
        func.coalesce(func.sum(case((Job.status.in_(LIVE_STATUSES), 1), else_=0)), 0),
        func.coalesce(func.sum(case((Job.status == "succeeded", 1), else_=0)), 0),
        func.max(Job.finished_at),
    ).where(Job.business_id == business_id, Job.enqueued_at >= since)
    with system_session() as session:
        live, done, last = session.execute(query).one()
    return int(live), int(done), last


def slowest_jobs(business_id: int, since: datetime) -> list[dict[str, Any]]:
    """Where the business's slowest jobs since ``since`` spent their time: queue, seconds
    from ``since`` to its enqueueing, waiting and running, ms."""
    from sqlalchemy import select

    from switchboard.common.db import system_session
    from switchboard.common.models.jobs import Job

    query = select(Job.queue_name, Job.enqueued_at, Job.started_at, Job.finished_at).where(
        Job.business_id == business_id, Job.enqueued_at >= since, Job.started_at.is_not(None)
    )
    with system_session() as session:
        rows = session.execute(query).all()
    found = [
        {
            "queue": queue,
            "at_s": round((enqueued - since).total_seconds(), 1),
            "wait_ms": round((started - enqueued).total_seconds() * 1000, 1),
            "run_ms": round(((finished or started) - started).total_seconds() * 1000, 1),
        }
        for queue, enqueued, started, finished in rows
    ]
    return sorted(found, key=lambda job: -(job["wait_ms"] + job["run_ms"]))[:8]


def conversations_of(business_id: int) -> list[int]:
    from sqlalchemy import select

    from switchboard.common.db import tenant_session
    from switchboard.common.models import WhatsAppConversation

    with tenant_session(business_id) as session:
        query = select(WhatsAppConversation.id).where(
            WhatsAppConversation.business_id == business_id
        )
        return list(session.scalars(query))


def enqueue_analyses(business_id: int, conversations: list[int], n: int) -> None:
    """A's campaign: ``n`` analyses of its conversations, 500 per transaction."""
    from switchboard.common.db import tenant_session
    from switchboard.common.jobs import enqueue
    from switchboard.common.jobs.catalog import ANALYZE_CONVERSATION

    ids = itertools.cycle(conversations)
    for start in range(0, n, 500):
        with tenant_session(business_id):
            for _ in range(min(500, n - start)):
                enqueue(ANALYZE_CONVERSATION, business_id=business_id, conversation_id=next(ids))


class Sender(threading.Thread):
    """B: one signed webhook every ``interval`` seconds until stopped; contact → time sent."""

    def __init__(self, url: str, number: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.url, self.number, self.interval = url, number, interval
        self.sent: dict[str, float] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        begin = time.monotonic()
        for i in itertools.count():
            delay = begin + i * self.interval - time.monotonic()
            if self.halt.wait(max(0.0, delay)):
                return
            message = signed_messages(self.url, self.number, 1)
            self.sent |= uvloop.run(fire(self.url + PATH, message, 0))


def latencies(twilio: str, sent: dict[str, float]) -> dict[str, Any]:
    arrivals = received(twilio, True)["arrivals"]
    values = [(arrivals[c] - at) * 1000 for c, at in sent.items() if c in arrivals]
    begin = min(sent.values(), default=0.0)
    return {
        # (seconds since B's first message, latency ms) of the slowest tenth: when they were
        "b_slowest": sorted(
            (
                (round(at - begin, 1), round((arrivals[c] - at) * 1000, 1))
                for c, at in sent.items()
                if c in arrivals
            ),
            key=lambda pair: -pair[1],
        )[: max(1, len(values) // 10)],
        "b_messages": len(sent),
        "b_answered": len(values),
        "b_p50_ms": round(percentile(values, 0.5), 1),
        "b_p99_ms": round(percentile(values, 0.99), 1),
        "b_max_ms": round(max(values, default=float("nan")), 1),
    }


def scenario(bench: Bench, name: str, *, fair: bool, flood: bool, b: bool) -> dict[str, Any]:
    """One scenario on fresh processes and businesses; its figures."""
    args, twilio = bench.args, bench.urls["twilio"]
    print(f"{name}: fair share {'on' if fair else 'off'} …", flush=True)
    with configured(
        database_url=bench.database_url,
        amqp_url=bench.amqp_url,
        log_level="WARNING",
        job_fair_share="true" if fair else "false",  # enqueue parks too
        job_business_concurrency=str(args.limit),
    ):
        a_id, a_number = new_business(f"A {name}", 64)  # the old WhatsApp guard out of the way
        b_id, b_number = new_business(f"B {name}", 64)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **bench.env("openai", url),
            "JOB_FAIR_SHARE": "true" if fair else "false",
            "JOB_BUSINESS_CONCURRENCY": str(args.limit),
        }
        cli = [sys.executable, "-m", "switchboard.cli"]
        bench.start([*cli, "api", "--host", "127.0.0.1", "--port", str(port)], env)
        workers = ["--processes", str(args.worker_processes), "--threads", str(args.worker_threads)]
        bench.start([*cli, "worker", *workers, "--metrics-port", str(free_port())], env)
        try:
            wait_http(f"{url}/health")
            count = received(twilio)["count"]
            for number in (a_number, b_number):  # warm both paths, and A's conversations
                uvloop.run(fire(url + PATH, signed_messages(url, number, WARMUP), 20))
            count += 2 * WARMUP
            wait_until(lambda: received(twilio)["count"] >= count, 120, "the warm-up replies")
            figures: dict[str, Any] = {"fair_share": fair}
            sender = Sender(url, b_number, 1 / args.b_rate) if b else None
            t0 = datetime.now(UTC)
            began = time.monotonic()
            if sender is not None:
                sender.start()
            if flood:
                flood_run(bench, url, a_id, a_number, t0, figures)
            else:
                time.sleep(args.b_alone_seconds)
            if sender is not None:
                sender.halt.set()
                sender.join()
                expected = count + len(sender.sent) + (args.whatsapp if flood else 0)
                wait_until(lambda: received(twilio)["count"] >= expected, 300, "B's replies")
                figures |= latencies(twilio, sender.sent)
                figures["b_slowest_jobs"] = slowest_jobs(b_id, t0)
            figures["seconds"] = round(time.monotonic() - began, 1)
            return figures
        finally:
            bench.stop_all()


def flood_run(
    bench: Bench, url: str, a_id: int, a_number: str, t0: datetime, figures: dict[str, Any]
) -> None:
    """A's flood: the analyses enqueued and the WhatsApp messages sent at once; returns when
    every job of A's since ``t0`` has finished."""
    args = bench.args
    conversations = conversations_of(a_id)
    messages = signed_messages(url, a_number, args.whatsapp)
    campaign = threading.Thread(
        target=enqueue_analyses, args=(a_id, conversations, args.analysis), daemon=True
    )
    campaign.start()
    uvloop.run(fire(url + PATH, messages, 0))
    campaign.join()
    while jobs_of(a_id, t0)[0]:  # once a second: the count reads every job of A's flood
        time.sleep(1.0)
    _, done, last = jobs_of(a_id, t0)
    elapsed = (last - t0).total_seconds() if last else float("nan")
    figures |= {
        "a_jobs": done,
        "a_seconds": round(elapsed, 1),
        "a_jobs_per_s": round(done / elapsed, 1),
    }


#: Each scenario: fair share on or off, A's flood or not, B sending or not.
SCENARIOS = {
    "b_alone": {"fair": True, "flood": False, "b": True},
    "a_alone": {"fair": True, "flood": True, "b": False},
    "flood_fair": {"fair": True, "flood": True, "b": True},
    "flood_off": {"fair": False, "flood": True, "b": True},
}


def table(result: dict[str, Any]) -> list[str]:
    """The figures as a markdown table, and the targets."""
    rows = [
        ("B alone", "b_alone"),
        ("A's flood alone", "a_alone"),
        ("A's flood + B, fair share", "flood_fair"),
        ("A's flood + B, arrival order (off)", "flood_off"),
    ]
    lines = [
        "| scenario | B p50 ms | B p99 ms | B answered | A jobs/s | A jobs | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, key in rows:
        run = result["scenarios"].get(key, {})
        cells = ["b_p50_ms", "b_p99_ms", "b_answered", "a_jobs_per_s", "a_jobs", "seconds"]
        lines.append(f"| {label} | " + " | ".join(str(run.get(c, "")) for c in cells) + " |")
    return [*lines, "", headline(result)]


def headline(result: dict[str, Any]) -> str:
    s = result["scenarios"]
    if set(s) != set(SCENARIOS):
        return "scenarios run: " + ", ".join(s)
    b_ratio = s["flood_fair"]["b_p99_ms"] / s["b_alone"]["b_p99_ms"]
    off_ratio = s["flood_off"]["b_p99_ms"] / s["b_alone"]["b_p99_ms"]
    a_ratio = s["flood_fair"]["a_jobs_per_s"] / s["a_alone"]["a_jobs_per_s"]
    return (
        f"B's p99 with A's flood {b_ratio:.2f} × alone (target ≤ 2; arrival order "
        f"{off_ratio:.2f} ×); A's throughput beside B {a_ratio:.2f} × alone (target ≥ 0.9)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--analysis", type=int, default=10_000, help="A's analyses")
    parser.add_argument("--whatsapp", type=int, default=2_000, help="A's WhatsApp messages")
    parser.add_argument("--b-rate", type=float, default=1.0, help="B's messages per second")
    parser.add_argument("--b-alone-seconds", type=float, default=120.0)
    parser.add_argument("--openai-delay-ms", type=float, default=50.0)
    parser.add_argument("--worker-processes", type=int, default=1)
    parser.add_argument("--worker-threads", type=int, default=8)
    parser.add_argument(
        "--limit",
        type=int,
        default=2,
        help="JOB_BUSINESS_CONCURRENCY: A floods 3 queues, 3 × 2 of the worker's 8 threads",
    )
    parser.add_argument("--short", action="store_true", help="a tenth of the flood, B for 30 s")
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--out", type=Path, help="also write the figures to this file")
    add_log_level(parser)
    args = parser.parse_args()
    if args.short:
        args.analysis, args.whatsapp, args.b_alone_seconds = 1_000, 200, 30.0
    result: dict[str, Any] = {**vars(args), "out": None, "machine_cpus": os.cpu_count()}
    bench = Bench(args)
    try:
        with configured(database_url=bench.database_url, amqp_url=bench.amqp_url):
            from switchboard.common.migrate import worker_startup_migrations

            worker_startup_migrations()
        result["scenarios"] = {
            name: scenario(bench, name, **SCENARIOS[name])
            for name in SCENARIOS
            if name in args.scenarios
        }
    finally:
        bench.close()
    print("\n".join(table(result)))
    text = json.dumps(result, indent=2, default=str)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    stop_cleanly_on_sigterm()
    main()
