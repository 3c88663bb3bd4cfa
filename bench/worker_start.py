"""Where the worker's start goes, phase by phase, beside plain Dramatiq's imports.

``switchboard worker`` imports everything once in its main process, checks the schema, and
forks its worker processes, which inherit the imports (``worker/runner.py``). This times each
phase of that main process in a new interpreter, ``--rounds`` times (medians; the host's
speed drifts, so the rounds of the two sides alternate):

* ``interpreter``: spawn to the first line of the script (Python's own start);
* ``cli``: ``switchboard.cli.main`` (typer, the settings, logging);
* ``runner``: ``switchboard.worker.runner`` (Dramatiq's CLI, the SQLAlchemy engine and ORM
  base, the job models through the outbox, psycopg);
* ``migration check``: ``worker_startup_migrations()`` on a database at head (one read);
* ``actors``: ``switchboard.worker.app`` and the bench's actors (the broker, the middleware,
  every actor module and the domain code it imports).

Beside it, plain Dramatiq's worker as ``bench/jobs.py`` runs it: its main process imports
``dramatiq.cli``, each worker process ``bench.plain_actors``; both in one interpreter here.
And the stack's floor: the same plain Dramatiq, then only the libraries the stack names for a
worker that keeps its jobs in PostgreSQL and reads its settings with pydantic (SQLAlchemy's
Core, psycopg, pydantic-settings), imported and not used. No worker on this stack starts
faster than that, whatever its own code does; ``switchboard ÷ floor`` is what our code adds.
What follows the imports, the fork to the first job, is ``bench/jobs.py --start-rounds``.

Then, once each with ``-X importtime``, the imports' own time by package (the top-level name;
ours by their second-level room), largest first: what the start would save without each.
Needs PostgreSQL and RabbitMQ (local defaults).

    uv run python bench/worker_start.py --rounds 8
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import services  # noqa: E402
from tests.support.environment import configured  # noqa: E402

#: The worker's main process, phase by phase; prints each phase's end (``time.time()``).
SWITCHBOARD = """
import json, time
marks = {"interpreter": time.time()}
from switchboard.common.startup_imports import startup_imports
with startup_imports():
    import switchboard.cli.main
marks["cli"] = time.time()
with startup_imports():
    import switchboard.worker.runner as runner
marks["runner"] = time.time()
runner.worker_startup_migrations()
marks["migration check"] = time.time()
with startup_imports():
    import switchboard.worker.app, bench.actors
marks["actors"] = time.time()
print(json.dumps(marks))
"""
PLAIN = """
import json, time
marks = {"interpreter": time.time()}
import dramatiq.cli, bench.plain_actors
marks["imports"] = time.time()
print(json.dumps(marks))
"""
#: Plain Dramatiq, then the stack's libraries a worker with a PostgreSQL ledger cannot do
#: without (no ORM, no logging library, no client of an outside service).
FLOOR = """
import json, time
marks = {"interpreter": time.time()}
import dramatiq.cli, bench.plain_actors
marks["dramatiq"] = time.time()
import sqlalchemy, psycopg, pydantic_settings
marks["stack libraries"] = time.time()
print(json.dumps(marks))
"""
SIDES = {"switchboard": SWITCHBOARD, "plain dramatiq": PLAIN, "stack floor": FLOOR}
#: A line of ``-X importtime``: self and cumulative microseconds, the indented module name.
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)")


def phases(code: str, env: dict[str, str]) -> dict[str, float]:
    """Each phase's seconds (from the previous mark; the first from the spawn), and the
    whole (``total``)."""
    spawned = time.time()
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True
    )
    marks = json.loads(done.stdout.decode().strip().splitlines()[-1])
    seconds, previous = {}, spawned
    for name, at in marks.items():
        seconds[name], previous = at - previous, at
    seconds["total"] = previous - spawned
    return seconds


def by_package(code: str, env: dict[str, str]) -> dict[str, float]:
    """Seconds of the imports' own time by package, from one run under ``-X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    own: Counter[str] = Counter()
    for line in done.stderr.decode().splitlines():
        match = _IMPORT_LINE.match(line)
        if match is None:
            continue
        parts = match.group(2).split(".")
        package = ".".join(parts[:3]) if parts[0] == "switchboard" else parts[0]
        own[package] += int(match.group(1)) / 1e6
    return dict(own.most_common())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8, help="starts of each side (median)")
    parser.add_argument("--top", type=int, default=12, help="packages listed per side")
    parser.add_argument("--out", type=Path, help="also write the figures here, as JSON")
    args = parser.parse_args()

    admin_url = services.admin_database_url()
    database_url = services.create_database(admin_url)
    amqp_url, vhost = services.create_vhost(services.broker_url())
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AMQP_URL": amqp_url,
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    try:
        with configured(database_url=database_url, amqp_url=amqp_url, log_level="WARNING"):
            from switchboard.common.migrate import worker_startup_migrations

            worker_startup_migrations()  # the check then finds the schema at head
        runs: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
        for round_no in range(args.rounds):
            for side in SIDES if round_no % 2 == 0 else reversed(SIDES):
                runs[side].append(phases(SIDES[side], env))
        results = {
            side: {name: statistics.median(run[name] for run in rounds) for name in rounds[0]}
            for side, rounds in runs.items()
        }
        packages = {side: by_package(code, env) for side, code in SIDES.items()}
    finally:
        services.drop_database(admin_url, database_url)
        services.delete_vhost(vhost)

    ours, plain, floor = (results[side]["total"] for side in SIDES)
    print(f"\nmedians of {args.rounds} starts each, seconds")
    for side, medians in results.items():
        for name, seconds in medians.items():
            print(f"  {side:<15} {name:<16} {seconds:6.3f}")
    ratios = {
        "switchboard / plain dramatiq": ours / plain,
        "stack floor / plain dramatiq": floor / plain,
        "switchboard / stack floor": ours / floor,
    }
    for name, ratio in ratios.items():
        print(f"  {name}: {ratio:.2f}")
    for side, own in packages.items():
        listed = ", ".join(f"{name} {s * 1000:.0f}" for name, s in list(own.items())[: args.top])
        print(f"\n{side}: imports' own ms by package ({sum(own.values()) * 1000:.0f} in all)")
        print(f"  {listed}")
    if args.out:
        args.out.write_text(
            json.dumps({"medians": results, "ratios": ratios, "rounds": runs, "packages": packages})
        )


if __name__ == "__main__":
    main()
