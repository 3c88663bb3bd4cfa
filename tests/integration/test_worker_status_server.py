"""``switchboard worker`` serves /health and /metrics for all its processes on one port, on
PostgreSQL and RabbitMQ; its main process restarts the server if it dies, stops it with the
worker, and refuses to start on a port it cannot have."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket

import httpx
import psutil
import pytest

from switchboard.common.jobs import enqueue
from switchboard.worker.status_supervisor import SERVER_MODULE
from tests.support import actors
from tests.support.factories import make_business
from tests.support.processes import ServiceProcess, free_port
from tests.support.waiting import wait_for

SUCCEEDED = 'switchboard_job_outcomes_total{actor="test_noop_job",outcome="succeeded"}'
DURATIONS = 'switchboard_job_duration_seconds_count{actor="test_noop_job"}'
LATENCIES = 'switchboard_job_queue_latency_seconds_count{queue="test_jobs"}'


def _value(metrics: str, sample: str) -> float:
    """The sample's value in Prometheus' text format (0 if absent)."""
    for line in metrics.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _get(url: str) -> httpx.Response | None:
    return _get_with(url, {})


def _get_with(url: str, headers: dict[str, str]) -> httpx.Response | None:
    try:
        return httpx.get(url, headers=headers, timeout=5)
    except httpx.TransportError:
        return None


def test_the_worker_reports_its_processes_and_adds_up_their_metrics(start_service) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = start_service(
        "worker",
        "tests.support.actors",
        "--processes",
        "2",
        "--threads",
        "2",
        "--queue",
        "test_jobs",
        "--metrics-port",
        str(port),
        log_json="true",
        log_level="INFO",
    )

    def healthy() -> httpx.Response | None:
        response = _get(f"{base}/health")
        return response if response is not None and response.status_code == 200 else None

    health = wait_for(healthy, timeout=60, what="the worker's /health to answer 200").json()
    assert health["status"] == "ok" and health["broker"] is True
    assert len(health["processes"]) == 2
    for process in health["processes"]:
        assert process["consuming"] and process["current_jobs"] == []
        assert process["worker_threads"] == {"expected": 2, "alive": 2}
        assert process["consumers"] == {"test_jobs": True, "test_jobs.DQ": True}

    business = make_business()
    for _ in range(3):
        enqueue(actors.NOOP, business_id=business.id)

    def counted() -> str | None:
        response = _get(f"{base}/metrics")
        text = response.text if response is not None else ""
        # At least ours: the shared test queue may hold other tests' leftover messages.
        return text if _value(text, SUCCEEDED) >= 3 else None

    metrics = wait_for(counted, timeout=30, what="three successes on the worker's /metrics")
    assert _value(metrics, DURATIONS) >= 3 and _value(metrics, LATENCIES) >= 3
    # Every line of every process is one JSON object: Dramatiq's and ours, from any thread.
    lines = [json.loads(line) for line in worker.output().splitlines() if line.strip()]
    assert any(line.get("logger", "").startswith("dramatiq.WorkerProcess") for line in lines)
    assert any(line["event"] == "worker.status_server_listening" for line in lines)


def test_with_metrics_token_set_the_worker_s_metrics_need_it(start_service) -> None:
    token = "scrape-token-of-at-least-thirty-two-chars"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    start_service(
        "worker",
        "tests.support.actors",
        "--processes",
        "1",
        "--threads",
        "1",
        "--queue",
        "test_jobs",
        "--metrics-port",
        str(port),
        metrics_token=token,
    )
    health = wait_for(lambda: _get(f"{base}/health"), timeout=60, what="the worker's /health")
    enqueue(actors.NOOP, business_id=make_business().id)  # a job done: figures to show

    def shown() -> httpx.Response | None:
        """The figures, once the worker process has written its job's (an empty page before)."""
        response = _get_with(f"{base}/metrics", {"Authorization": f"Bearer {token}"})
        return response if response is not None and "# TYPE" in response.text else None

    figures = wait_for(shown, timeout=60, what="the worker's figures, with the token")
    refused = _get_with(f"{base}/metrics", {"Authorization": "Bearer wrong"})

    assert health.status_code in (200, 503)  # open, whatever it says
    assert figures.status_code == 200
    assert refused is not None and refused.status_code == 401
    assert refused.json()["code"] == "unauthorized" and "# TYPE" not in refused.text
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'


def _start_worker(start_service, port: int) -> ServiceProcess:
    return start_service(
        "worker",
        "tests.support.actors",
        "--processes",
        "1",
        "--threads",
        "1",
        "--queue",
        "test_jobs",
        "--metrics-port",
        str(port),
        log_json="true",
        log_level="INFO",
    )


def _status_servers(worker: ServiceProcess) -> list[psutil.Process]:
    """The worker's status server processes: children of its main process running the
    server's module (its worker processes run the main program's command line)."""
    found = []
    for child in psutil.Process(worker.proc.pid).children():
        try:
            if SERVER_MODULE in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _gone(process: psutil.Process) -> bool:
    """Exited (a zombie that its new parent has not reaped yet counts as exited)."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _served_by_one(worker: ServiceProcess, base: str) -> psutil.Process | None:
    """The one status server running, once ``/health`` answers (whatever it says)."""
    servers = _status_servers(worker)
    if len(servers) == 1 and _get(f"{base}/health") is not None:
        return servers[0]
    return None


def test_a_killed_status_server_is_started_again_on_the_same_port(start_service) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = _start_worker(start_service, port)
    first = wait_for(lambda: _served_by_one(worker, base), timeout=60, what="the status server")
    enqueue(actors.NOOP, business_id=make_business().id)
    wait_for(
        lambda: _value(getattr(_get(f"{base}/metrics"), "text", ""), SUCCEEDED) >= 1,
        timeout=30,
        what="a success on the worker's /metrics",
    )

    first.send_signal(signal.SIGKILL)

    def another() -> psutil.Process | None:
        server = _served_by_one(worker, base)
        return server if server is not None and server.pid != first.pid else None

    wait_for(another, timeout=30, what="/health answering again from a new status server")
    # The figures are the worker processes' (in their files): the new server still counts them.
    assert _value(_get(f"{base}/metrics").text, SUCCEEDED) >= 1  # type: ignore[union-attr]
    enqueue(actors.NOOP, business_id=make_business().id)  # jobs ran on meanwhile, and still do
    wait_for(
        lambda: _value(getattr(_get(f"{base}/metrics"), "text", ""), SUCCEEDED) >= 2,
        timeout=30,
        what="a second success on the worker's /metrics",
    )
    assert worker.alive
    lines = [json.loads(line) for line in worker.output().splitlines() if line.strip()]
    restarts = [line for line in lines if line["event"] == "worker.status_server_restarted"]
    assert len(restarts) == 1
    assert restarts[0]["exit_code"] == -signal.SIGKILL and restarts[0]["signal"] == "SIGKILL"


@pytest.mark.parametrize("whole_group", [False, True], ids=["main-process", "process-group"])
def test_stopping_the_worker_stops_its_status_server_for_good(
    start_service, whole_group: bool
) -> None:
    """SIGTERM to the main process (``docker stop``), or to every process (a terminal's job
    control): the server stops with the worker and is not started again meanwhile."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = _start_worker(start_service, port)
    server = wait_for(lambda: _served_by_one(worker, base), timeout=60, what="the status server")

    status = worker.stop(whole_group=whole_group)

    # Signalled twice (by the group, then by the main process), Dramatiq's worker process may
    # exit at once, with 1: its own rule.
    assert status == 0 or whole_group

    assert _gone(server)
    assert _get(f"{base}/health") is None  # refused: the port is free again
    assert "worker.status_server_restarted" not in worker.output()


def test_a_status_server_whose_main_process_was_killed_stops(start_service) -> None:
    """It would answer for a worker that is no more, and keep the port from the next one."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = _start_worker(start_service, port)
    server = wait_for(lambda: _served_by_one(worker, base), timeout=60, what="the status server")

    worker.proc.send_signal(signal.SIGKILL)  # the main process only
    try:
        wait_for(lambda: _gone(server), timeout=10, what="the orphaned server to exit")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.proc.pid, signal.SIGKILL)  # its worker process, orphaned too


def test_a_worker_whose_status_port_is_taken_refuses_to_start(start_service) -> None:
    """Rather than run jobs blind: no /health for its probes, no /metrics for the scrape."""
    port = free_port()
    with socket.create_server(("0.0.0.0", port)):
        worker = _start_worker(start_service, port)
        wait_for(lambda: not worker.alive, timeout=60, what="the worker to refuse to start")

    assert worker.proc.returncode == 2
    assert worker.output().splitlines()[-1] == (
        f"error: cannot serve /health and /metrics on port {port}: Address already in use"
        " (choose another with --metrics-port or WORKER_METRICS_PORT)"
    )
