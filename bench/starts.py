"""How long each HTTP service takes to start, beside an empty FastAPI app started the same way.

A service's start is the time from its spawn to its first ``/health`` 200: what a new process
(a deploy, a scale-out) costs before it takes traffic. The baseline is ``bench/bare_app.py``
under ``python -m uvicorn`` (spawn to its first ``/docs`` 200): the same interpreter, FastAPI
and uvicorn, nothing of ours. Each round starts every service once, the order alternating
between rounds, since the host's speed drifts; the figures are medians.

* ``gateway``: ``switchboard gateway`` as deployed without AI keys or Twilio credentials (the
  offline agent, the sandbox), ``AMQP_URL`` set;
* ``api``: ``switchboard api`` on a migrated PostgreSQL database (``DATABASE_URL``, ``AMQP_URL``).

The worker's start is ``bench/jobs.py``'s (``--start-rounds``), against plain Dramatiq's.
Needs PostgreSQL and RabbitMQ (local defaults).

    uv run python bench/starts.py --rounds 8
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stopping import stop_cleanly_on_sigterm  # noqa: E402
from tests.support import services  # noqa: E402
from tests.support.environment import configured  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

#: Each started thing: the command after the interpreter, the path that answers when it is up.
COMMANDS: dict[str, tuple[list[str], str]] = {
    "bare FastAPI": (["-m", "uvicorn", "bench.bare_app:app", "--log-level", "warning"], "/docs"),
    "gateway": (["-m", "switchboard.cli", "gateway", "--host", "127.0.0.1"], "/health"),
    "api": (["-m", "switchboard.cli", "api", "--host", "127.0.0.1"], "/health"),
}


def start_seconds(name: str, env: dict[str, str], timeout_s: float = 60.0) -> float:
    """Spawn ``name`` on a free port; the seconds until its path answered 200. Stops it."""
    args, path = COMMANDS[name]
    port = free_port()
    url = f"http://127.0.0.1:{port}{path}"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *args, "--port", str(port)],
        cwd=ROOT,
        env={**env, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = started + timeout_s
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} before answering")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
        raise TimeoutError(f"{name}: no 200 from {url} in {timeout_s} s")
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()

    admin_url = services.admin_database_url()
    database_url = services.create_database(admin_url)
    amqp_url, vhost = services.create_vhost(services.broker_url())
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENAI_", "GEMINI_", "TWILIO_", "GOOGLE_STT"))
    }
    env.update({"AMQP_URL": amqp_url, "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)})
    env["VAR_DIR"] = tempfile.mkdtemp(prefix="bench-starts-")  # the gateway's spool and journal
    env.pop("DATABASE_URL", None)  # the gateway has none; the API gets it below
    seconds: dict[str, list[float]] = {name: [] for name in COMMANDS}
    try:
        with configured(database_url=database_url, amqp_url=amqp_url, log_level="WARNING"):
            from switchboard.common.migrate import worker_startup_migrations

            worker_startup_migrations()
        for round_no in range(args.rounds):
            names = list(COMMANDS) if round_no % 2 == 0 else list(COMMANDS)[::-1]
            for name in names:
                with_db = {**env, "DATABASE_URL": database_url} if name == "api" else env
                seconds[name].append(start_seconds(name, with_db))
            print(
                f"round {round_no + 1}: "
                + ", ".join(f"{name} {seconds[name][-1]:.2f} s" for name in COMMANDS),
                flush=True,
            )
    finally:
        services.delete_vhost(vhost)
        services.drop_database(admin_url, database_url)
        shutil.rmtree(env["VAR_DIR"], ignore_errors=True)

    bare = statistics.median(seconds["bare FastAPI"])
    results = {
        name: {
            "median_s": statistics.median(values),
            "min_s": min(values),
            "max_s": max(values),
            "vs_bare": statistics.median(values) / bare,
        }
        for name, values in seconds.items()
    }
    print()
    print(f"{'spawn to first 200, s':28}{'median':>8}{'range':>14}{'÷ bare':>8}")
    for name, figures in results.items():
        spread = f"{figures['min_s']:.2f}–{figures['max_s']:.2f}"
        print(f"{name:28}{figures['median_s']:>8.2f}{spread:>14}{figures['vs_bare']:>8.2f}")
    if args.out is not None:
        args.out.write_text(json.dumps({"rounds": args.rounds, **results}, indent=2))


if __name__ == "__main__":
    stop_cleanly_on_sigterm()
    main()
