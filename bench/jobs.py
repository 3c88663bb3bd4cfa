"""Jobs/s through Switchboard's full job path, side by side with plain Dramatiq.

Both sides drain the same N no-op jobs (one Redis INCR each) from the
same RabbitMQ with the same worker shape (``--processes 2 --threads 8`` by default):

* Switchboard: ``enqueue`` (ledger row + outbox row in one transaction, published with
  confirms after commit) → RabbitMQ → ``switchboard worker`` (ledger middleware: delivery,
  start and outcome recorded per job).
* Plain Dramatiq: ``actor.send`` with confirms → RabbitMQ → ``dramatiq`` worker.

Throughput is measured from the worker's spawn to the last job done (worker start included)
and from the first job to the last (steady state); the worker's start is the time from its
spawn to the first job done. Batched enqueue: Switchboard writes 500 jobs per transaction in
one statement (``enqueue_many``) and publishes them after commit; plain Dramatiq sends one at
a time (it has no batch send). The host's speed
drifts by tens of percent within minutes, so ``--rounds N`` drains both sides N times,
alternating which goes first, and reports each figure's median and the ratio per round. A
second, paced phase enqueues jobs one at a time at a fixed rate into running workers and reports
enqueue-to-start latency. ``--start-rounds N`` times each side's worker start alone N more times
(20 jobs waiting, spawn to the first done), alternating, and reports the median: a drain's
start is one sample. Needs PostgreSQL, RabbitMQ and Redis (local defaults).

    uv run python bench/jobs.py --jobs 20000
    uv run python bench/jobs.py --jobs 10000 --rounds 5 --paced-jobs 1000
    uv run python bench/jobs.py --jobs 2000 --rounds 1 --paced-jobs 0 --start-rounds 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.options import add_log_level  # noqa: E402
from bench.stopping import stop_cleanly_on_sigterm  # noqa: E402
from bench.whatsapp_cpu import CpuMeter, by_name, per_message_ms, servers, tree  # noqa: E402
from tests.support import services  # noqa: E402
from tests.support.environment import configured  # noqa: E402

#: The figures compared side by side, Switchboard's over plain Dramatiq's (for the worker's
#: start, a time: above 1 is slower).
RATIOS = ("jobs_per_s_with_start", "jobs_per_s_steady", "enqueue_per_s", "worker_start_s")
#: The jobs waiting for each worker started by ``--start-rounds`` (its first one times it).
START_JOBS = 20
#: Where a drain's CPU goes (worker start included), per job: the worker's processes, the
#: bench database's PostgreSQL backends, PostgreSQL's own processes (WAL writer …), RabbitMQ
#: and Redis (each job's INCR).
CPU_PARTS = ("worker", "postgres", "postgres_server", "rabbitmq", "redis")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def wait_done(r: redis.Redis, prefix: str, n: int, timeout: float) -> tuple[float, float]:
    """Poll the done counter; return (time of the first job done, time of the last)."""
    first = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = int(r.get(f"{prefix}:done") or 0)
        now = time.perf_counter()
        if done and first is None:
            first = now
        if done >= n:
            return first or now, now
        time.sleep(0.005)
    raise TimeoutError(f"{prefix}: only {r.get(f'{prefix}:done')} of {n} jobs done in {timeout} s")


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the rounds."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


class Side:
    """One system under test: how to enqueue, and the worker command."""

    name: str
    #: What its worker imports before it can run a job (``import_seconds``).
    imports: str

    def enqueue(self, prefix: str) -> None:
        raise NotImplementedError

    def enqueue_batch(self, prefix: str, n: int) -> None:
        for _ in range(n):
            self.enqueue(prefix)

    def worker(self, processes: int, threads: int) -> list[str]:
        raise NotImplementedError

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """The worker's environment."""
        return env


class Switchboard(Side):
    name = "switchboard"
    imports = (
        "from switchboard.common.startup_imports import startup_imports\n"
        "with startup_imports():\n"
        "    import switchboard.cli.main, switchboard.worker.runner, switchboard.worker.app\n"
        "    import bench.actors"
    )
    #: The side whose settings this process holds (``_switch``).
    _active: Switchboard | None = None

    def __init__(self, business_id: int, limit: int, fair_share: bool = True) -> None:
        from bench.actors import BENCH_NOOP
        from switchboard.common.jobs import enqueue
        from switchboard.common.jobs.enqueue import enqueue_many, prepare_job

        self.spec, self.business_id = BENCH_NOOP, business_id
        self._enqueue, self._enqueue_many, self._prepare = enqueue, enqueue_many, prepare_job
        self.fair_share = fair_share
        #: The bench's one business may run a job on every worker thread: fair share's
        #: mechanism is measured (a slot taken and freed per job), not its cap on one
        #: business (bench/fairness.py measures that).
        self.limit = str(limit)
        if not fair_share:
            self.name = "switchboard, fair share off"

    def _switch(self) -> None:
        """This process's settings as the worker's (enqueue parks with fair share on, by the
        business's limit), and the deployment's limits written where the SQL enqueue reads
        them, as a worker with these settings writes them when it boots: else the other
        side's last worker's would decide what a batch parks (with fair share off, all of
        it, then published 500 a second by the sweep)."""
        from switchboard.common.settings import get_settings
        from switchboard.worker.runtime.fair_share import publish_defaults

        if Switchboard._active is self:
            return
        Switchboard._active = self
        os.environ["JOB_FAIR_SHARE"] = "true" if self.fair_share else "false"
        os.environ["JOB_BUSINESS_CONCURRENCY"] = self.limit
        get_settings.cache_clear()
        publish_defaults()

    def env(self, env: dict[str, str]) -> dict[str, str]:
        return {
            **env,
            "JOB_FAIR_SHARE": "true" if self.fair_share else "false",
            "JOB_BUSINESS_CONCURRENCY": self.limit,
        }

    def enqueue(self, prefix: str) -> None:
        self._switch()
        self._enqueue(self.spec, business_id=self.business_id, prefix=prefix)

    def enqueue_batch(self, prefix: str, n: int) -> None:
        """500 jobs per transaction: one statement writes their ledger and outbox rows."""
        self._switch()
        for start in range(0, n, 500):
            self._enqueue_many(
                [
                    self._prepare(self.spec, business_id=self.business_id, prefix=prefix)
                    for _ in range(min(500, n - start))
                ]
            )

    def worker(self, processes: int, threads: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "switchboard.cli",
            "worker",
            "bench.actors",
            "--processes",
            str(processes),
            "--threads",
            str(threads),
            "--queue",
            "bench",
        ]


class PlainDramatiq(Side):
    name = "plain dramatiq"
    imports = "import dramatiq.cli, bench.plain_actors"
    module, queue = "bench.plain_actors", "bench_plain"

    def __init__(self) -> None:
        from bench.plain_actors import plain_noop_job

        self.actor = plain_noop_job

    def enqueue(self, prefix: str) -> None:
        self.actor.send(business_id=1, prefix=prefix)

    def worker(self, processes: int, threads: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "dramatiq",
            self.module,
            "--processes",
            str(processes),
            "--threads",
            str(threads),
            "--queues",
            self.queue,
        ]


class LedgerFloor(PlainDramatiq):
    """Plain Dramatiq whose worker writes each job's outcome to PostgreSQL
    (``bench/floor_actors.py``): the least a job system with a ledger does per job."""

    name = "ledger floor"
    imports = "import dramatiq.cli, bench.floor_actors"
    module, queue = "bench.floor_actors", "bench_floor"

    def __init__(self, database_url: str) -> None:
        #: libpq's form of the bench's database (SQLAlchemy's names the driver).
        self.database_url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        os.environ["BENCH_FLOOR_DATABASE_URL"] = self.database_url
        from bench.floor_actors import create_table, floor_noop_job

        create_table(self.database_url)
        self.actor = floor_noop_job

    def env(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, "BENCH_FLOOR_DATABASE_URL": self.database_url}

    def outcomes(self) -> int:
        """The outcomes its workers wrote so far."""
        from bench.floor_actors import count_outcomes

        return count_outcomes(self.database_url)


def import_seconds(side: Side, env: dict[str, str], times: int = 3) -> float:
    """How long a new interpreter takes to import what the side's worker imports, the bench's
    actors too, as its worker does (median of ``times``): the floor under its worker's start.
    Timed from spawn to the imports' end, not to the interpreter's exit (a third of a second
    more with a heap of this size)."""
    code = f"{side.imports}\nimport os, time\nprint(time.time(), flush=True)\nos._exit(0)\n"
    seconds = []
    for _ in range(times):
        started = time.time()
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=side.env(env),
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        seconds.append(float(done.stdout.split()[-1]) - started)
    return statistics.median(seconds)


def drain(
    side: Side,
    r: redis.Redis,
    env: dict[str, str],
    n: int,
    processes: int,
    threads: int,
    database: str,
) -> dict[str, Any]:
    prefix = f"bench:{side.name}:drain:{time.time_ns()}"
    started = time.perf_counter()
    side.enqueue_batch(prefix, n)
    enqueue_s = time.perf_counter() - started
    spawned = time.perf_counter()
    proc = spawn(side.worker(processes, threads), side.env(env))
    try:
        meter = CpuMeter(
            {"worker": tree(proc.pid), **servers(database), "redis": by_name("redis-server")}
        )
        meter.start()  # the worker's processes count from zero as they start
        first, last = wait_done(r, prefix, n, timeout=600)
        cpu = per_message_ms(meter.stop(), n, CPU_PARTS)
    finally:
        stop(proc)
    return {
        "enqueue_per_s": n / enqueue_s,
        "jobs_per_s_with_start": n / (last - spawned),
        "jobs_per_s_steady": n / (last - first),
        "worker_start_s": first - spawned,
        **{f"cpu_ms_{part}": ms for part, ms in cpu.items()},
    }


def starts(
    sides: list[Side],
    r: redis.Redis,
    env: dict[str, str],
    rounds: int,
    processes: int,
    threads: int,
) -> dict[str, list[float]]:
    """Each side's worker start (spawn to its first job done), ``rounds`` times, the sides'
    order alternating: one drain's start is a single sample of a figure that varies by a
    fifth from one spawn to the next."""
    seconds: dict[str, list[float]] = {side.name: [] for side in sides}
    for round_no in range(rounds):
        for side in sides if round_no % 2 == 0 else sides[::-1]:
            prefix = f"bench:{side.name}:start:{time.time_ns()}"
            side.enqueue_batch(prefix, START_JOBS)
            spawned = time.perf_counter()
            proc = spawn(side.worker(processes, threads), side.env(env))
            try:
                first, _ = wait_done(r, prefix, START_JOBS, timeout=120)
            finally:
                stop(proc)
            seconds[side.name].append(first - spawned)
    return seconds


def paced(
    side: Side,
    r: redis.Redis,
    env: dict[str, str],
    n: int,
    rate: float,
    processes: int,
    threads: int,
) -> dict[str, Any]:
    prefix = f"bench:{side.name}:paced:{time.time_ns()}"
    warm = f"{prefix}:warm"
    proc = spawn(side.worker(processes, threads), side.env(env))
    try:
        side.enqueue(warm)
        wait_done(r, warm, 1, timeout=120)  # the worker is up and consuming
        interval, begin = 1.0 / rate, time.perf_counter()
        for i in range(n):
            delay = begin + i * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            side.enqueue(prefix)
        achieved = n / (time.perf_counter() - begin)
        wait_done(r, prefix, n, timeout=300)
    finally:
        stop(proc)
    latencies = [float(x) for x in r.lrange(f"{prefix}:latency", 0, -1)]
    return {
        "rate_per_s": achieved,
        "latency_p50_ms": percentile(latencies, 0.5),
        "latency_p99_ms": percentile(latencies, 0.99),
        "latency_mean_ms": statistics.fmean(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="drain both sides this many times, alternating which goes first; report medians",
    )
    parser.add_argument(
        "--compare-fair-share",
        action="store_true",
        help="a third side: Switchboard with JOB_FAIR_SHARE=false (its business unlimited)",
    )
    parser.add_argument(
        "--compare-floor",
        action="store_true",
        help="a side more: plain Dramatiq writing each job's outcome to PostgreSQL",
    )
    parser.add_argument(
        "--paced-jobs", type=int, default=2_000, help="paced phase: how many jobs (0: no phase)"
    )
    parser.add_argument(
        "--rate", type=float, default=200.0, help="paced phase: jobs enqueued per second"
    )
    parser.add_argument(
        "--start-rounds",
        type=int,
        default=0,
        help="also time each side's worker start alone this many times, alternating (median)",
    )
    add_log_level(parser)
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()

    admin_url = services.admin_database_url()
    database_url = services.create_database(admin_url)
    database = database_url.rsplit("/", 1)[-1]
    amqp_url, vhost = services.create_vhost(services.broker_url())
    r = redis.Redis.from_url(args.redis_url)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AMQP_URL": amqp_url,
        "LOG_LEVEL": args.log_level,
        "BENCH_REDIS_URL": args.redis_url,
        "PYTHONPATH": str(ROOT),
    }
    results: dict[str, Any] = {
        "jobs": args.jobs,
        "processes": args.processes,
        "threads": args.threads,
    }
    try:
        with configured(database_url=database_url, amqp_url=amqp_url, log_level="WARNING"):
            os.environ["AMQP_URL"] = amqp_url
            from switchboard.common.migrate import worker_startup_migrations
            from tests.support.factories import make_business

            worker_startup_migrations()
            business = make_business("Bench")
            limit = args.processes * args.threads
            sides: list[Side] = [Switchboard(business.id, limit), PlainDramatiq()]
            if args.compare_fair_share:  # the same, fair share off: its overhead
                off = Switchboard(make_business("Bench off").id, limit, fair_share=False)
                sides.insert(1, off)
            if args.compare_floor:  # what any worker with a PostgreSQL ledger costs
                sides.append(LedgerFloor(database_url))
            drains: dict[str, list[dict[str, Any]]] = {side.name: [] for side in sides}
            for round_no in range(args.rounds):
                for side in sides if round_no % 2 == 0 else sides[::-1]:
                    print(
                        f"round {round_no + 1}: draining {args.jobs} jobs through {side.name} ...",
                        flush=True,
                    )
                    drains[side.name].append(
                        drain(side, r, env, args.jobs, args.processes, args.threads, database)
                    )
            for side in sides:
                results[side.name] = median_of(drains[side.name])
                results[side.name]["imports_s"] = import_seconds(side, env)
                if isinstance(side, LedgerFloor):  # it did write them, one per job
                    results[side.name]["outcomes_written"] = side.outcomes()
            results["rounds"] = drains
            for key in RATIOS:
                results[f"ratio_{key}_per_round"] = [
                    ours[key] / plain[key]
                    for ours, plain in zip(
                        drains["switchboard"], drains["plain dramatiq"], strict=True
                    )
                ]
            if args.start_rounds:
                print(f"worker start alone, {args.start_rounds} times each ...", flush=True)
                timed = starts(sides, r, env, args.start_rounds, args.processes, args.threads)
                for side in sides:
                    results[side.name]["worker_start_alone_s"] = timed[side.name]
                    results[side.name]["worker_start_median_s"] = statistics.median(
                        timed[side.name]
                    )
            for side in sides if args.paced_jobs else []:  # 0: no paced phase
                print(
                    f"paced latency: {args.paced_jobs} jobs at {args.rate}/s "
                    f"through {side.name} ...",
                    flush=True,
                )
                results[side.name].update(
                    paced(side, r, env, args.paced_jobs, args.rate, args.processes, args.threads)
                )
    finally:
        services.delete_vhost(vhost)
        services.drop_database(admin_url, database_url)

    ours, plain = results["switchboard"], results["plain dramatiq"]
    for key in (*RATIOS, "worker_start_median_s"):
        if key in ours:
            results[f"ratio_{key}"] = ours[key] / plain[key]
    print()
    print(f"{'':30}{'switchboard':>14}{'plain dramatiq':>16}{'ratio':>8}")
    for key, label in [
        ("jobs_per_s_with_start", "jobs/s (worker start incl.)"),
        ("jobs_per_s_steady", "jobs/s (steady)"),
        ("enqueue_per_s", "enqueue/s (batched)"),
        ("worker_start_s", "worker start s (to 1st job)"),
        ("imports_s", "imports alone s"),
        ("latency_p50_ms", "enqueue→start p50 ms"),
        ("latency_p99_ms", "enqueue→start p99 ms"),
        ("worker_start_median_s", "worker start alone, median s"),
    ]:
        if key not in ours:  # the paced phase's or the starts', when they did not run
            continue
        ratio = f"{results[f'ratio_{key}']:>8.2f}" if f"ratio_{key}" in results else ""
        print(f"{label:30}{ours[key]:>14.2f}{plain[key]:>16.2f}{ratio}")
    print("CPU ms per job, draining (worker start included):")
    for side in results:
        if not isinstance(results[side], dict) or "cpu_ms_total" not in results[side]:
            continue
        parts = ", ".join(f"{part} {results[side][f'cpu_ms_{part}']:.3f}" for part in CPU_PARTS)
        print(f"  {side}: {results[side]['cpu_ms_total']:.3f} ({parts})")
    if args.rounds > 1:
        print(f"medians of {args.rounds} rounds; ratio per round:")
        for key in RATIOS:
            per_round = ", ".join(f"{ratio:.2f}" for ratio in results[f"ratio_{key}_per_round"])
            print(f"  {key}: {per_round}")
    off = results.get("switchboard, fair share off")
    if off:  # fair share's cost: on ÷ off, the same code otherwise
        results["fair_share_ratio"] = {
            key: ours[key] / off[key]
            for key in ("jobs_per_s_with_start", "jobs_per_s_steady", "enqueue_per_s")
        }
        figures = {k: round(v, 1) for k, v in off.items() if isinstance(v, int | float)}
        print(f"fair share off: {json.dumps(figures)}")
        ratios = {k: round(v, 2) for k, v in results["fair_share_ratio"].items()}
        print(f"fair share on ÷ off: {json.dumps(ratios)}")
    floor = results.get(LedgerFloor.name)
    if floor is not None:  # the floor against plain Dramatiq, and Switchboard against the floor
        results["floor_ratio"] = {
            f"{key} {name}": ours_or_floor[key] / base[key]
            for key in ("jobs_per_s_with_start", "jobs_per_s_steady")
            for name, ours_or_floor, base in (
                ("floor / plain", floor, plain),
                ("switchboard / floor", ours, floor),
            )
        }
        floor_rounds = drains[LedgerFloor.name]
        results["floor_ratio_per_round"] = {
            f"{key} {name}": [a[key] / b[key] for a, b in zip(tops, bases, strict=True)]
            for key in ("jobs_per_s_with_start", "jobs_per_s_steady")
            for name, tops, bases in (
                ("floor / plain", floor_rounds, drains[PlainDramatiq.name]),
                ("switchboard / floor", drains[Switchboard.name], floor_rounds),
            )
        }
        print(
            "ledger floor (plain Dramatiq + each outcome written to PostgreSQL): "
            f"{floor['jobs_per_s_with_start']:.0f} jobs/s with start, "
            f"{floor['jobs_per_s_steady']:.0f} steady, worker start {floor['worker_start_s']:.2f} s"
        )
        for name, ratio in results["floor_ratio"].items():
            per_round = ", ".join(f"{r:.2f}" for r in results["floor_ratio_per_round"][name])
            print(f"  {name}: {ratio:.2f} (rounds {per_round})")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "jobs.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    stop_cleanly_on_sigterm()
    main()
