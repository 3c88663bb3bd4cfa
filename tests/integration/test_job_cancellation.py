"""Cancelling running jobs in real ``switchboard worker`` processes: a running job is asked to
stop, says ``running`` with ``cancel_requested`` until it reaches its next checkpoint, and only
then ``cancelled``; one whose worker dies, or whose attempt fails, is not run again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from switchboard.api.app import create_app
from switchboard.common.db import system_session
from switchboard.common.jobs import enqueue
from switchboard.common.jobs import service as jobs
from switchboard.common.models import Job
from switchboard.common.settings import Settings
from tests.support import actors
from tests.support.factories import make_business
from tests.support.waiting import wait_for


@pytest.fixture
def api(pg_rabbit: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(pg_rabbit)) as client:
        yield client


def job(job_id: str) -> Job:
    with system_session() as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def started(log: Path) -> bool:
    return "started" in lines(log)


def test_a_running_job_cancelled_through_the_api_stops_at_its_checkpoint(
    api: TestClient, start_worker, tmp_path: Path
) -> None:
    start_worker("test_jobs")
    business = make_business()
    auth = {"Authorization": f"Bearer {business.api_key}"}
    log = tmp_path / "gated.log"
    job_id = enqueue(actors.GATED, business_id=business.id, log=str(log)).job_id
    wait_for(lambda: started(log), timeout=30, what="the job to start")

    response = api.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "running" and response.json()["cancel_requested"]
    time.sleep(0.5)  # the job waits at its gate: it has not stopped, and says so
    shown = api.get(f"/api/v1/jobs/{job_id}", headers=auth).json()
    assert (shown["status"], shown["cancel_requested"], shown["finished_at"]) == (
        "running",
        True,
        None,
    )

    Path(f"{log}.gate").touch()
    wait_for(lambda: job(job_id).status == "cancelled", timeout=30, what="the job to stop")
    assert lines(log) == ["started"], "the job went on past its checkpoint"
    ended = job(job_id)
    assert ended.finished_at is not None and ended.last_error is not None
    assert "JobCancelled" in ended.last_error
    again = api.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth)
    assert again.status_code == 409


def test_a_job_asked_to_stop_whose_worker_dies_is_not_run_again(
    pg_rabbit, start_worker, tmp_path: Path
) -> None:
    worker = start_worker("test_jobs")
    business = make_business()
    log = tmp_path / "gated.log"
    job_id = enqueue(actors.GATED, business_id=business.id, log=str(log)).job_id
    wait_for(lambda: started(log), timeout=30, what="the job to start")
    asked = jobs.cancel_job(business.id, job_id)
    assert (asked.status, asked.cancel_requested) == ("running", True)

    worker.kill()  # mid-job: RabbitMQ redelivers the message to the next worker
    Path(f"{log}.gate").touch()  # a second run would pass straight to its checkpoint
    start_worker("test_jobs")
    wait_for(lambda: job(job_id).status == "cancelled", timeout=60, what="the redelivery")
    assert lines(log) == ["started"], "the job ran again after it was asked to stop"
    assert job(job_id).deliveries == 2


def test_a_job_asked_to_stop_whose_attempt_fails_is_cancelled_not_retried(
    pg_rabbit, start_worker, tmp_path: Path
) -> None:
    start_worker("test_jobs")
    business = make_business()
    log = tmp_path / "gated.log"
    job_id = enqueue(actors.GATED, business_id=business.id, log=str(log), then="fail").job_id
    wait_for(lambda: started(log), timeout=30, what="the job to start")
    jobs.cancel_job(business.id, job_id)
    Path(f"{log}.gate").touch()  # the attempt fails, as a retry would be due
    wait_for(lambda: job(job_id).status == "cancelled", timeout=30, what="the job to stop")
    time.sleep(1.5)  # past the retry's backoff (JOB_MAX_BACKOFF_MS is 200 in the tests)
    ended = job(job_id)
    assert ended.status == "cancelled" and lines(log) == ["started"]
    assert ended.last_error is not None and "failed after the gate" in ended.last_error
