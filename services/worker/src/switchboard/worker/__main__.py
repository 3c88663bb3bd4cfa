"""``python -m switchboard.worker``: Dramatiq's worker with our actors, as its image runs it."""

from __future__ import annotations

import argparse

from switchboard.common.service_start import checked_settings, refusing_unusable_database
from switchboard.common.startup_imports import startup_imports


def main(argv: list[str] | None = None) -> None:
    """Parse the options, check the environment, run the worker; exit with its status."""
    parser = argparse.ArgumentParser(
        prog="python -m switchboard.worker",
        description="Dramatiq's worker running every job, after applying migrations once.",
    )
    parser.add_argument("modules", nargs="*", help="extra modules that declare actors")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per process (default 8)")
    parser.add_argument(
        "--queue", "-Q", dest="queues", action="append", default=[], help="only this queue"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="port of /health and /metrics (default WORKER_METRICS_PORT, 8003; 0 serves none)",
    )
    args = parser.parse_args(argv)
    checked_settings(parser.prog)
    with startup_imports():
        from switchboard.worker.runner import run_worker
    with refusing_unusable_database(parser.prog):  # its start-up migration
        status = run_worker(
            args.processes, args.threads, args.queues, args.modules, args.metrics_port
        )
    raise SystemExit(status)


if __name__ == "__main__":
    main()
