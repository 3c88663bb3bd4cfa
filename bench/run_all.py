"""Every benchmark in turn, and one report: ``make bench`` (``make bench ARGS=--full``).

Runs bench/jobs.py, bench/whatsapp.py (with the worker, then the API alone),
bench/whatsapp_path.py (the whole path, beside a naive baseline), bench/gateway.py,
bench/latency.py, bench/fairness.py (fair share between businesses) and
bench/number_lookup.py one after another, each in its own process group,
collects each script's figures and writes one report — ``var/bench/report-<UTC time>.md`` and
its JSON twin, each script's output beside them in ``var/bench/report-<UTC time>/``. A
benchmark that fails is reported as failed with its output's last lines and the run goes on;
the exit code is 0 only if every benchmark ran.

Sizes: the default (quick) halves the figures' sizes for a run of a few minutes; ``--full``
runs the sizes docs/benchmarks.md records; ``--smoke`` runs toy sizes that only check the
scripts still run and report (their figures mean nothing). Needs PostgreSQL, RabbitMQ and
Redis at their local defaults (or TEST_DATABASE_URL, TEST_AMQP_URL, BENCH_REDIS_URL).

    uv run python bench/run_all.py                 # quick
    uv run python bench/run_all.py --full          # the sizes docs/benchmarks.md records
    uv run python bench/run_all.py --only jobs gateway
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import describe_machine, load_average  # noqa: E402
from bench.report import (  # noqa: E402
    Outcome,
    last_json_object,
    number_lookup_figures,
    render_json,
    render_markdown,
)
from bench.report_tables import TABLES, headline  # noqa: E402

JOBS_RESULT = ROOT / "bench" / "results" / "jobs.json"  # where bench/jobs.py writes its figures
INTERRUPTED = "interrupted (Ctrl-C)"


@dataclass(frozen=True)
class Finished:
    """What a script left behind: its stdout, and the file it was told to write (if any)."""

    stdout: str
    out_file: Path
    started_at: float


def _written_file(finished: Finished) -> dict[str, Any]:
    if not finished.out_file.exists():
        raise ValueError(f"it wrote no {finished.out_file.name}")
    value: dict[str, Any] = json.loads(finished.out_file.read_text())
    return value


def _jobs_file(finished: Finished) -> dict[str, Any]:
    # bench/jobs.py always writes to the same path; one older than this run is not its figures.
    if not JOBS_RESULT.exists() or JOBS_RESULT.stat().st_mtime < finished.started_at:
        raise ValueError("it wrote no bench/results/jobs.json")
    value: dict[str, Any] = json.loads(JOBS_RESULT.read_text())
    finished.out_file.write_text(JOBS_RESULT.read_text())  # kept beside the report's logs
    return value


@dataclass(frozen=True)
class Benchmark:
    """One script, its arguments at each size, and how its figures are read."""

    name: str
    kind: str  # which table shows its figures (bench/report_tables.py TABLES)
    script: str
    sizes: dict[str, list[str]]
    collect: Callable[[Finished], dict[str, Any]]
    takes_out: bool = False  # it accepts ``--out FILE`` for its figures


WHATSAPP_SIZES = {
    "smoke": ["--rate", "50", "--seconds", "1", "--connections", "4"],
    "quick": ["--rate", "300", "--seconds", "5"],
    "full": ["--rate", "300", "--seconds", "10"],
}
BENCHMARKS = [
    Benchmark(
        "jobs",
        "jobs",
        "bench/jobs.py",
        {
            "smoke": [
                *("--jobs", "200", "--paced-jobs", "20", "--start-rounds", "1"),
                *("--processes", "1", "--threads", "2", "--compare-fair-share"),
            ],
            "quick": [
                *("--jobs", "5000", "--rounds", "1", "--paced-jobs", "500"),
                *("--start-rounds", "4"),
            ],
            # Fair share off too: the like-for-like job path beside plain Dramatiq.
            "full": [
                *("--jobs", "10000", "--rounds", "3", "--paced-jobs", "500"),
                *("--start-rounds", "10", "--compare-fair-share"),
            ],
        },
        _jobs_file,
    ),
    Benchmark(
        "whatsapp",
        "whatsapp",
        "bench/whatsapp.py",
        WHATSAPP_SIZES,
        lambda finished: last_json_object(finished.stdout),
    ),
    Benchmark(  # the same script without the worker: the API's own cost
        "whatsapp_api_alone",
        "whatsapp",
        "bench/whatsapp.py",
        {size: [*args, "--worker-processes", "0"] for size, args in WHATSAPP_SIZES.items()},
        lambda finished: last_json_object(finished.stdout),
    ),
    Benchmark(  # inbound webhook → reply at Twilio, CPU per message, beside a naive baseline
        "whatsapp_path",
        "whatsapp_path",
        "bench/whatsapp_path.py",
        {
            "smoke": [
                *("--messages", "10", "--rate", "5", "--warmup", "3"),
                *("--openai-delay-ms", "50", "--idle-seconds", "1", "--profile"),
            ],
            "quick": ["--messages", "150", "--rate", "20", "--profile"],
            "full": ["--messages", "300", "--rate", "20", "--profile"],
        },
        _written_file,
        takes_out=True,
    ),
    Benchmark(
        "gateway",
        "gateway",
        "bench/gateway.py",
        {
            "smoke": ["--calls", "4", "--seconds", "2"],
            "quick": ["--calls", "100", "--seconds", "10"],
            "full": ["--calls", "200", "--seconds", "20"],
        },
        _written_file,
        takes_out=True,
    ),
    Benchmark(  # the gateway's own share of each latency, beside its pre-#22 behaviour
        "latency",
        "latency",
        "bench/latency.py",
        {
            "smoke": ["--smoke"],
            "quick": ["--calls", "1", "50", "--seconds", "10"],
            "full": ["--calls", "1", "100", "--seconds", "20"],
        },
        _written_file,
        takes_out=True,
    ),
    Benchmark(  # one business's flood beside another's replies, fair share on and off
        "fairness",
        "fairness",
        "bench/fairness.py",
        {
            "smoke": [
                *("--analysis", "100", "--whatsapp", "20", "--b-alone-seconds", "5"),
                *("--openai-delay-ms", "20"),
            ],
            "quick": ["--short"],
            "full": [],
        },
        _written_file,
        takes_out=True,
    ),
    Benchmark(
        "number_lookup",
        "number_lookup",
        "bench/number_lookup.py",
        {
            "smoke": ["--messages", "50", "--concurrency", "8", "--rounds", "1"],
            "quick": ["--messages", "1000", "--concurrency", "32", "--rounds", "3"],
            "full": ["--messages", "3000", "--concurrency", "32", "--rounds", "6"],
        },
        lambda finished: number_lookup_figures(finished.stdout),
    ),
]


def tail(text: str, lines: int = 30) -> str:
    """The last ``lines`` lines: where a traceback's cause is."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Interrupt the script's whole process group (its workers and servers), as Ctrl-C would.

    SIGINT, not SIGTERM: the script's ``finally`` blocks then stop its workers and drop its
    database and vhost; SIGKILL only if it has not ended within a minute.
    """
    for sig, wait in ((signal.SIGINT, 60), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_one(benchmark: Benchmark, size: str, logs: Path, timeout: float) -> Outcome:
    """Run one script to its end (or its timeout) and read its figures."""
    out_file = logs / f"{benchmark.name}.json"
    args = [benchmark.script, *benchmark.sizes[size]]
    if benchmark.takes_out:
        args += ["--out", str(out_file)]
    stdout_path, stderr_path = logs / f"{benchmark.name}.stdout", logs / f"{benchmark.name}.stderr"
    print(f"→ {benchmark.name}: python {shlex.join(args)}", flush=True)
    started, clock = time.time(), time.monotonic()
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        # Its own session: a timeout stops the script's workers and servers with it.
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, stdout=stdout, stderr=stderr, start_new_session=True
        )
        try:
            exit_code: int | None = process.wait(timeout)
            error = f"exit code {exit_code}" if exit_code else ""
        except subprocess.TimeoutExpired:
            _stop(process)
            exit_code, error = None, f"stopped after its {timeout:.0f} s timeout"
        except KeyboardInterrupt:  # the report still tells what ran before
            _stop(process)
            exit_code, error = None, INTERRUPTED
    seconds = time.monotonic() - clock
    output = stdout_path.read_text(errors="replace")
    errors = stderr_path.read_text(errors="replace")
    outcome = Outcome(
        benchmark.name,
        benchmark.kind,
        ["python", *args],
        seconds,
        exit_code,
        logs=[str(stdout_path), str(stderr_path)],
    )
    if error:
        return _failed(outcome, error, errors or output)
    try:
        result = benchmark.collect(Finished(output, out_file, started))
        # Figures the report cannot show are a failure too (a script changed its output).
        TABLES[benchmark.kind](result)
        headline(benchmark.kind, result)
    except (ValueError, KeyError, TypeError, IndexError, StopIteration) as problem:
        return _failed(outcome, f"its figures could not be read ({problem!r})", output)
    return replace(outcome, result=result)


def _failed(outcome: Outcome, error: str, output: str) -> Outcome:
    return replace(outcome, error=error, output_tail=tail(output))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, write the report; 0 if every benchmark ran."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the sizes docs/benchmarks.md records")
    size.add_argument("--smoke", action="store_true", help="toy sizes: checks the scripts run")
    parser.add_argument(
        "--only", nargs="+", choices=[b.name for b in BENCHMARKS], help="these benchmarks only"
    )
    parser.add_argument("--out-dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds one benchmark may take"
    )
    args = parser.parse_args(argv)
    chosen = "full" if args.full else "smoke" if args.smoke else "quick"
    benchmarks = [b for b in BENCHMARKS if not args.only or b.name in args.only]

    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    logs = args.out_dir / f"report-{stamp}"
    logs.mkdir(parents=True, exist_ok=True)
    machine = describe_machine()
    clock = time.monotonic()
    outcomes: list[Outcome] = []
    for benchmark in benchmarks:
        if any(outcome.error == INTERRUPTED for outcome in outcomes):
            outcomes.append(Outcome(benchmark.name, benchmark.kind, [], 0, None, error="not run"))
        else:
            outcomes.append(run_one(benchmark, chosen, logs, args.timeout))
            done = outcomes[-1]
            print(f"  {'ran' if done.ok else 'FAILED: ' + done.error} ({done.seconds:.0f} s)")
    machine["load_average"] = f"{machine['load_average']} / {load_average()}"
    given = sys.argv[1:] if argv is None else argv
    run = {
        "started_at": now.strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(["python", "bench/run_all.py", *given]),
        "size": chosen,
        "seconds": round(time.monotonic() - clock, 1),
        "machine": machine,
    }
    markdown = args.out_dir / f"report-{stamp}.md"
    markdown.write_text(render_markdown(run, outcomes))
    markdown.with_suffix(".json").write_text(render_json(run, outcomes))
    print(f"report: {markdown} (and {markdown.with_suffix('.json').name})")
    return 0 if all(outcome.ok for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
