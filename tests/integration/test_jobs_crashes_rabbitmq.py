"""Worker processes SIGKILLed under real RabbitMQ: poison jobs, bystanders, executions that
must not run twice. The tests' heartbeat goes stale after ``WORKER_STALE_AFTER_S`` (4 s)."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from switchboard.common.db import system_session, tenant_session
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.outbox import add_to_outbox, relay_outbox
from switchboard.common.models import Job, WorkerHeartbeat
from switchboard.common.settings import Settings
from tests.support import actors
from tests.support.factories import make_business
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def job(job_id: str) -> Job:
    with system_session() as session:
        return session.execute(select(Job).where(Job.id == job_id)).scalar_one()


def runs(marker: Path) -> list[str]:
    return marker.read_text().split() if marker.exists() else []


def test_a_poison_job_is_dead_after_its_own_cap_while_the_rest_of_its_queue_flows(
    pg_rabbit: Settings, start_worker: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    """The poison job's entry allows 3 executions that die (the setting says 2). Each one
    kills its worker; two workers are kept running, so the survivor gets what the dead one
    held at once, while the dead one's heartbeat is still fresh: the poison job is put back
    behind its bystanders, which run once each before it is dead-lettered, and none is
    counted for the crashes it merely waited through.

    (With one worker restarted after each death, whether the bystanders ran before the
    dead-lettering depended on whether the new worker started within the heartbeat's
    staleness period: on a slow host the poison job, first in the queue, took over at once
    three times and the bystanders ran only after it was dead.)"""
    business = make_business()
    marker = tmp_path / "bystanders"
    since = datetime.now(UTC)
    workers = [start_worker("test_crash", threads=1) for _ in range(2)]
    wait_for(lambda: len(beating_since(since)) == 2, timeout=60, what="two running workers")
    poison = enqueue(actors.POISON_CAPPED, business_id=business.id).job_id
    bystanders = [
        enqueue(actors.BYSTANDER, business_id=business.id, marker=str(marker)).job_id
        for _ in range(10)
    ]
    deadline = time.monotonic() + 150
    while job(poison).status != "dead":
        assert time.monotonic() < deadline, f"poison still {job(poison).status}"
        if sum(worker.alive for worker in workers) < 2 and len(workers) < 2 + 3:
            workers.append(start_worker("test_crash", threads=1))
        time.sleep(0.2)

    dead = job(poison)
    assert "without finishing" in (dead.last_error or "")
    assert dead.deliveries == 4, "3 executions that died, then the delivery that ended it"
    assert sum(not w.alive for w in workers) == 3, "each execution killed its worker"
    wait_for(lambda: len(runs(marker)) == len(bystanders), what="every bystander")
    assert sorted(runs(marker)) == sorted(bystanders), "each bystander ran exactly once"
    done = [job(job_id) for job_id in bystanders]
    for bystander in done:
        assert (bystander.status, bystander.deliveries) == ("succeeded", 1), bystander.last_error
    assert dead.finished_at is not None
    assert max(b.finished_at for b in done if b.finished_at) < dead.finished_at, (
        "the bystanders waited for the poison job to be dead-lettered"
    )


def beating_since(since: datetime) -> list[str]:
    """The worker processes that started since ``since`` (their heartbeat rows)."""
    with system_session() as session:
        return list(
            session.scalars(select(WorkerHeartbeat.id).where(WorkerHeartbeat.started_at >= since))
        )


def _worker_name(pid: str) -> str:
    return f"{socket.gethostname()}:{pid}"


def test_a_republished_job_never_runs_twice_while_its_worker_lives_and_is_taken_over_after(
    pg_rabbit: Settings, start_worker: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    business = make_business()
    marker = tmp_path / "runs"
    first = start_worker("test_hold")
    job_id = enqueue(actors.HOLD_FIRST, business_id=business.id, marker=str(marker)).job_id
    wait_for(lambda: len(runs(marker)) == 1, timeout=60, what="the first run")
    [holder] = runs(marker)
    assert job(job_id).worker_id == _worker_name(holder)
    second = start_worker("test_hold")
    # The outbox relay publishes the job again, as it does when a publisher died before it
    # deleted its row (either worker may get the copy).
    with tenant_session(business.id) as session:
        add_to_outbox(session, business.id, job_id, actors.HOLD_FIRST.queue, job(job_id).message)
        session.info.pop("outbox_pending")
    assert relay_outbox(min_age_s=0) >= 1

    time.sleep(10)  # over two staleness periods: the copy came back several times
    assert runs(marker) == [holder], "a second execution started while the first one runs"
    assert (job(job_id).status, job(job_id).worker_id) == ("running", _worker_name(holder))
    assert second.alive

    first.kill()
    wait_for(lambda: job(job_id).status == "succeeded", timeout=60, what="the take-over")
    [_, taker] = runs(marker)
    assert taker != holder
    done = job(job_id)
    assert (done.deliveries, done.worker_id) == (2, _worker_name(taker))
    time.sleep(3)  # the other copy (the killed worker's redelivery or the relay's) is skipped
    assert len(runs(marker)) == 2


def test_a_worker_process_that_dies_before_it_is_ready_stops_its_worker_at_once(
    start_service: Callable[..., ServiceProcess],
) -> None:
    """Dramatiq's main process waits for its processes' ready reports before it watches them:
    30 s by default, during which a process killed by its first job went unnoticed (and the
    bystanders of a poison job waited; its logs too). The wait is bounded (``FORK_TIMEOUT_MS``),
    so the worker stops, with the process's exit code, well within that."""
    worker = start_service("worker", "tests.support.boot_crash", "--processes", "1")
    wait_for(lambda: not worker.alive, timeout=15, what="the worker to stop")
    assert worker.stop() != 0
    assert f"exited unexpectedly (code {-signal.SIGKILL})" in worker.output()
