"""``switchboard worker``: migrate once, then hand over to Dramatiq's own worker CLI."""

from __future__ import annotations

import importlib
import os
import shutil
import sys

from dramatiq.cli import main as dramatiq_main
from dramatiq.cli import make_argument_parser

from switchboard.common.db.engine import reset_engine
from switchboard.common.health import broker_refusal
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import declared_queues
from switchboard.common.logging import get_logger
from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.settings import get_settings
from switchboard.common.startup_imports import startup_imports
from switchboard.worker import status_server
from switchboard.worker.limits import MAX_PROCESSES, MAX_THREADS
from switchboard.worker.status_supervisor import StatusSupervisor

WORKER_MODULE = "switchboard.worker.app"
#: How long Dramatiq's main process waits for its worker processes to report ready before it
#: starts its fork processes (we have none) and its log watcher, in milliseconds. Its
#: default, 30 s, is also how long it would take to notice a worker process that died before
#: reporting ready (a job that kills its process can run before then: consumers start first)
#: and how long that process's logs would wait in their pipe.
FORK_TIMEOUT_MS = 2_000


def dramatiq_args(processes: int, threads: int, queues: list[str], modules: list[str]) -> list[str]:
    """Command-line arguments for Dramatiq's worker."""
    # Positionals first: ``--queues`` takes a variable number of values.
    args = [WORKER_MODULE, *modules, "--processes", str(processes), "--threads", str(threads)]
    args += ["--skip-logging", "--worker-fork-timeout", str(FORK_TIMEOUT_MS)]
    return [*args, "--queues", *queues] if queues else args


def run_worker(
    processes: int,
    threads: int,
    queues: list[str],
    modules: list[str],
    metrics_port: int | None = None,
) -> int:
    """Apply migrations (under the advisory lock) and run Dramatiq's worker until stopped,
    with ``/health`` and ``/metrics`` on ``metrics_port`` (default ``WORKER_METRICS_PORT``;
    0 serves none). A port it cannot listen on refuses the start: a worker without them
    would look dead to its probes, or go unseen by its scrape, while it runs jobs."""
    if processes < 1 or threads < 1:
        # Dramatiq would start no worker process and exit 0, or processes with no thread
        # that look alive and run nothing.
        return _refuse(f"--processes and --threads must be at least 1 (got {processes}, {threads})")
    if processes > MAX_PROCESSES or threads > MAX_THREADS:
        return _refuse(
            f"--processes and --threads may be at most {MAX_PROCESSES} and {MAX_THREADS} "
            f"(got {processes}, {threads})"
        )
    port = get_settings().worker_metrics_port if metrics_port is None else metrics_port
    # Before the actors' modules are imported: their broker reads where to write its status.
    metrics_dir = status_server.prepare() if port else None
    supervisor: StatusSupervisor | None = None
    try:
        if port:
            try:
                supervisor = StatusSupervisor(port)
            except OSError as exc:
                reason = os.strerror(exc.errno) if exc.errno else str(exc)
                return _refuse(
                    f"cannot serve /health and /metrics on port {port}: {reason}"
                    " (choose another with --metrics-port or WORKER_METRICS_PORT)"
                )
        if (refusal := broker_refusal(get_settings())) is not None:
            return _refuse(refusal)  # it would refuse every consumer, a few times a second
        # Outside the pause: a migration's garbage is collected, not frozen for good.
        worker_startup_migrations()
        reset_engine()  # worker processes open their own connections
        with startup_imports():
            # Import the actors (and their libraries) once here: the forked worker processes
            # inherit them (frozen, ``startup_heap``) instead of each importing them again.
            for module in (WORKER_MODULE, *modules):
                importlib.import_module(module)
        known = _known_queues()
        unknown = [queue for queue in dict.fromkeys(queues) if queue not in known]
        if unknown:
            listed, typos = ", ".join(sorted(known)), ", ".join(unknown)
            return _refuse(f"no actor uses the queue {typos}; the queues are: {listed}")
        parser = make_argument_parser()  # type: ignore[no-untyped-call]
        args = parser.parse_args(dramatiq_args(processes, threads, queues, modules))
        if supervisor is not None:
            supervisor.start()
        code = int(dramatiq_main(args) or 0)  # type: ignore[no-untyped-call]
        # Its processes stopped (SIGTERM or SIGINT to this one: their jobs finished), or one
        # died and Dramatiq stopped the others: said once here, as the other services do.
        stopped = get_logger(__name__).info if code == 0 else get_logger(__name__).warning
        stopped("worker.stopped", exit_code=code)
        return code
    finally:
        if supervisor is not None:
            supervisor.stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _known_queues() -> set[str]:
    """The queues the imported actors use: a ``--queue`` outside them is a typo, which would
    start a worker that consumes nothing while the queue it was meant for waits. Ours are
    declared through the catalog; a module's own ``dramatiq.actor`` only on the broker."""
    return declared_queues() | set(get_broker().get_declared_queues())


def _refuse(reason: str) -> int:
    """Say why the worker does not start, on one line on stderr; exit status 2."""
    sys.stderr.write(f"error: {reason}\n")
    return 2
