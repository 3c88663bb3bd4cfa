"""The worker's ``/health``, ``/ready`` and ``/metrics``: one port for all its processes.

``switchboard worker`` runs several processes (``--processes``); rather than a port each, it
serves one (``WORKER_METRICS_PORT``, ``--metrics-port``, default 8003, 0 for none) from a
process of its own beside the worker processes, which the worker's main process starts, and
restarts if it dies, on the socket it holds (``status_supervisor.py``):

- ``/metrics`` adds up the worker processes' figures with Prometheus' multiprocess mode: each
  process writes its metrics to files in a directory made for this run, which the server
  reads at scrape time. Counters and histograms of a process that exited stay counted; its
  in-progress gauge leaves the sum.
- ``/health`` reads the status file each worker process rewrites every second while its
  consumer loop turns (``runtime/observability.py``): its threads, worker threads alive, the
  jobs it runs, when it last heard from the broker; and checks that the broker accepts a
  connection. 200 when every process is alive and consuming, 503 otherwise, with the reason.
- ``/ready`` (readiness): the database and the broker answer, the database's schema is not
  behind this code's, and a process is consuming.

The server is a plain ``http.server`` in that process's main thread: no thread in the worker
processes, and a stuck worker cannot take its own health check down with it. It exits when its
parent does (a main process killed outright): it would serve a worker that is no more.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from dramatiq.cli import HANDLED_SIGNALS
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

from switchboard.common.health import broker_ready, database_ready, schema_problem
from switchboard.common.logging import get_logger
from switchboard.common.metrics_access import CHALLENGE, metrics_allowed, refused_body
from switchboard.common.service_start import checked_settings
from switchboard.common.settings import get_settings
from switchboard.worker.runtime.status_files import STATUS_INTERVAL_S, status_dir

log = get_logger(__name__)

#: How often the server looks whether its parent (the worker's main process) still runs.
PARENT_CHECK_S = 0.5
#: A process whose consumer loop has not turned for this long is not consuming (the loop
#: turns at least once a second while connected; it stops while the broker is away).
CONSUMING_WITHIN_S = 5 * STATUS_INTERVAL_S


def prepare() -> Path:
    """Before the worker processes are forked: a fresh metrics directory for this run, and
    ``prometheus_client`` switched to values kept in it. Returns the directory (the caller
    removes it when the worker stops)."""
    directory = Path(tempfile.mkdtemp(prefix="switchboard-worker-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)  # the server process reads it too
    # prometheus_client picks its value class when first imported, which this process did
    # long ago (the CLI's imports): choose again, now that the directory is set. Labelled
    # metrics make their values in the worker processes, which inherit this choice.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return directory


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's (not ours, but alive)
        return True
    return True


def _process_health(status: dict[str, Any], now: float) -> dict[str, Any]:
    turned_at = status.get("consumer_turned_at")
    threads = status.get("worker_threads", {})
    consuming = turned_at is not None and now - turned_at < CONSUMING_WITHIN_S
    problems = []
    if not _alive(int(status["pid"])):
        problems.append("process gone")
    if not consuming:
        problems.append("consumer loop stopped (broker unreachable, or the process is stuck)")
    if threads.get("alive", 0) < threads.get("expected", 0):
        problems.append("worker threads died")
    return {
        **status,
        "consuming": consuming,
        "last_consumer_turn_s": None if turned_at is None else round(now - turned_at, 1),
        "problems": problems,
    }


def _processes(directory: Path, now: float) -> list[dict[str, Any]]:
    processes = []
    for path in sorted(directory.glob("status_*.json")):
        try:
            processes.append(_process_health(json.loads(path.read_text()), now))
        except (OSError, ValueError, KeyError):  # being replaced, or its process just exited
            continue
    return processes


def health(directory: Path, broker_reachable: bool) -> tuple[int, dict[str, Any]]:
    """The worker's health from its processes' status files: the HTTP status and the body."""
    now = time.time()
    processes = _processes(directory, now)
    problems = [f"{p['worker_id']}: {reason}" for p in processes for reason in p["problems"]]
    if not processes:
        problems.append("no worker process has reported yet")
    if not broker_reachable:
        problems.append("broker unreachable")
    body = {
        "status": "degraded" if problems else "ok",
        "service": "worker",
        "broker": broker_reachable,
        "processes": processes,
        "problems": problems,
    }
    return (503 if problems else 200), body


def readiness(
    directory: Path,
    *,
    database_reachable: bool,
    broker_reachable: bool,
    schema_reason: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """Ready to take jobs: the database and the broker answer, the schema is not behind
    (``schema_reason``, from :func:`switchboard.common.health.schema_problem`), and a
    process consumes.

    Unlike ``/health`` it asks the database too (every job writes its ledger row), and one
    consuming process is enough: an orchestrator routes nothing to a worker, so readiness
    only tells a rollout when the new pod has begun to work."""
    consuming = sum(1 for process in _processes(directory, time.time()) if process["consuming"])
    schema_current = database_reachable and schema_reason is None
    ready = database_reachable and schema_current and broker_reachable and consuming > 0
    body = {
        "ready": ready,
        "service": "worker",
        "database": database_reachable,
        "schema": schema_current,
        "broker": broker_reachable,
        "consuming_processes": consuming,
        "problems": [schema_reason] if schema_reason else [],
    }
    return (200 if ready else 503), body


def metrics_text(directory: Path) -> bytes:
    """Prometheus exposition of the figures of every worker process of this run."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return bytes(generate_latest(registry))


class _Handler(BaseHTTPRequestHandler):
    directory: Path

    def do_GET(self) -> None:
        if self.path == "/metrics":
            if metrics_allowed(self.headers.get("Authorization"), get_settings().metrics_token):
                self._answer(200, metrics_text(self.directory), CONTENT_TYPE_LATEST)
            else:
                refused = json.dumps(refused_body()).encode()
                self._answer(401, refused, "application/json", challenge=CHALLENGE)
        elif self.path == "/health":
            reachable = asyncio.run(broker_ready(get_settings()))
            status, body = health(self.directory, reachable)
            self._answer(status, json.dumps(body).encode(), "application/json")
        elif self.path == "/ready":
            reachable = database_ready()
            status, body = readiness(
                self.directory,
                database_reachable=reachable,
                broker_reachable=asyncio.run(broker_ready(get_settings())),
                schema_reason=schema_problem() if reachable else None,
            )
            self._answer(status, json.dumps(body).encode(), "application/json")
        else:
            self._answer(404, b'{"detail": "not found"}', "application/json")

    def _answer(
        self, status: int, body: bytes, content_type: str, *, challenge: str | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if challenge is not None:
            self.send_header("WWW-Authenticate", challenge)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("worker.status_request", request=format % args)


class _StatusServer(HTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer (a probe or a scrape that timed out) is a
        debug line; anything else one error line with its traceback, through the logs. Never
        ``socketserver``'s traceback printed straight on stderr."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            log.debug("worker.status_client_gone", error=type(error).__name__)
        else:
            log.exception("worker.status_request_failed")


def make_server(listener: socket.socket, directory: Path) -> HTTPServer:
    """The status server on ``listener`` (already listening), reading ``directory``."""
    handler = type("Handler", (_Handler,), {"directory": directory})
    server = _StatusServer(listener.getsockname()[:2], handler, bind_and_activate=False)
    server.socket.close()
    server.socket, server.timeout = listener, PARENT_CHECK_S
    return server


def serve(listener: socket.socket, parent: int) -> int:
    """Serve ``/health``, ``/ready`` and ``/metrics`` on ``listener`` while this process's
    parent is ``parent`` (the worker's main process)."""
    directory = status_dir()
    if directory is None:
        log.error("worker.status_server_unconfigured")
        return 1
    server = make_server(listener, directory)
    log.info("worker.status_server_listening", port=listener.getsockname()[1])
    with server:
        while os.getppid() == parent:
            server.handle_request()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m switchboard.worker.status_server FD PARENT``: serve on the listening socket
    inherited as file descriptor FD while the process PARENT runs."""
    fd, parent = sys.argv[1:] if argv is None else argv
    checked_settings("switchboard worker status server")
    # The thread that started it blocks the signals that stop the worker, and exec keeps
    # that mask. SIGTERM stops the server; a terminal's Ctrl-C is for the main process, which
    # stops it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)
    return serve(socket.socket(fileno=int(fd)), int(parent))


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    raise SystemExit(main())
