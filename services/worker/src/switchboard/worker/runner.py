"""``switchboard worker``: migrate once, then hand over to Dramatiq's own worker CLI."""

from __future__ import annotations

import importlib

from dramatiq.cli import main as dramatiq_main
from dramatiq.cli import make_argument_parser

from switchboard.common.db.engine import reset_engine
from switchboard.common.migrate import worker_startup_migrations

WORKER_MODULE = "switchboard.worker.app"


def dramatiq_args(processes: int, threads: int, queues: list[str], modules: list[str]) -> list[str]:
    """Command-line arguments for Dramatiq's worker."""
    # Positionals first: ``--queues`` takes a variable number of values.
    args = [WORKER_MODULE, *modules, "--processes", str(processes), "--threads", str(threads)]
    args.append("--skip-logging")
    return [*args, "--queues", *queues] if queues else args


def run_worker(processes: int, threads: int, queues: list[str], modules: list[str]) -> int:
    """Apply migrations (under the advisory lock) and run Dramatiq's worker until stopped."""
    worker_startup_migrations()
    reset_engine()  # worker processes open their own connections
    # Import the actors (and their libraries) once here: the forked worker processes inherit
    # them instead of each importing everything again on start.
    for module in (WORKER_MODULE, *modules):
        importlib.import_module(module)
    parser = make_argument_parser()  # type: ignore[no-untyped-call]
    parsed = parser.parse_args(dramatiq_args(processes, threads, queues, modules))
    return int(dramatiq_main(parsed) or 0)  # type: ignore[no-untyped-call]
