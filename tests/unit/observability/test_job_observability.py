"""Jobs run by the in-process worker: each line logged while one runs names it (Dramatiq's
own too), and /metrics counts its duration, outcome and queue latency by actor."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from prometheus_client import REGISTRY

from switchboard.common.db import system_session
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.broker import get_broker
from switchboard.common.models import Job
from switchboard.common.settings import Settings
from switchboard.worker.runtime.inprocess import start_worker
from tests.support import actors
from tests.support.factories import make_business
from tests.support.waiting import wait_for

from .conftest import JsonLines


@pytest.fixture
def stub_worker(embedded: Settings) -> Iterator[dramatiq.Worker]:
    broker = get_broker()
    actors.register()
    worker = start_worker(broker, threads=2, worker_timeout_ms=50)
    yield worker
    worker.stop()


def _status(job_id: str) -> str | None:
    with system_session() as session:
        job = session.get(Job, job_id)
        return job.status if job is not None else None


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_job_s_duration_outcome_and_queue_latency_are_counted_by_actor(stub_worker) -> None:
    before = {
        "succeeded": _sample(
            "switchboard_job_outcomes_total", actor="test_noop_job", outcome="succeeded"
        ),
        "durations": _sample("switchboard_job_duration_seconds_count", actor="test_noop_job"),
        "latencies": _sample("switchboard_job_queue_latency_seconds_count", queue="test_jobs"),
    }
    ref = enqueue(actors.NOOP, business_id=make_business().id)
    wait_for(lambda: _status(ref.job_id) == "succeeded", what="the job to succeed")

    wait_for(
        lambda: (
            _sample("switchboard_job_outcomes_total", actor="test_noop_job", outcome="succeeded")
            == before["succeeded"] + 1
        ),
        what="the outcome to be counted",
    )
    assert _sample("switchboard_job_duration_seconds_count", actor="test_noop_job") == (
        before["durations"] + 1
    )
    assert _sample("switchboard_job_queue_latency_seconds_count", queue="test_jobs") >= (
        before["latencies"] + 1
    )
    assert _sample("switchboard_jobs_in_progress", actor="test_noop_job") == 0


def test_a_failing_job_s_lines_name_it_and_its_last_attempt_counts_as_dead(
    stub_worker, json_lines: JsonLines
) -> None:
    dead_before = _sample("switchboard_job_outcomes_total", actor="test_sleepy_job", outcome="dead")
    business = make_business()
    ref = enqueue(actors.SLEEPY, business_id=business.id, seconds=5, timeout=0.2, retry=0)
    wait_for(lambda: _status(ref.job_id) == "dead", timeout=15, what="the job to die")

    wait_for(
        lambda: (
            _sample("switchboard_job_outcomes_total", actor="test_sleepy_job", outcome="dead")
            == dead_before + 1
        ),
        what="the dead outcome to be counted",
    )
    lines = json_lines()
    (dramatiq_line,) = [
        line for line in lines if str(line["event"]).startswith("Failed to process message")
    ]
    assert dramatiq_line["logger"].startswith("dramatiq")
    assert dramatiq_line["job_id"] == ref.job_id
    assert dramatiq_line["actor"] == "test_sleepy_job"
    assert dramatiq_line["business_id"] == business.id
    # Once the job is over, the worker thread's lines no longer name it.
    assert all(line.get("job_id") in (None, ref.job_id) for line in lines)
