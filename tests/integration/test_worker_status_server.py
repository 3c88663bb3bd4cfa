"""``switchboard worker`` serves /health and /metrics for all its processes on one port, on
PostgreSQL and RabbitMQ."""

from __future__ import annotations

import json

import httpx

from switchboard.common.jobs import enqueue
from tests.support import actors
from tests.support.factories import make_business
from tests.support.processes import free_port
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
