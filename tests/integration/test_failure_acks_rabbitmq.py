"""A failed attempt's mark reaches the ledger before RabbitMQ retries or dead-letters its message.

The worker's consumer thread writes every outcome, then settles the delivery (``consumer.py``):
the retry Dramatiq's ``Retries`` asks for is published, or the message dead-lettered, only
once the ledger says so. Here PostgreSQL refuses every connection to the test database at the
moment the failure is marked (``refusing_connections``), as it did out of connection slots.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.common.jobs import enqueue
from switchboard.common.jobs.service import list_jobs, retry_job
from tests.integration.test_jobs_rabbitmq import job, queue_depth
from tests.support import actors
from tests.support.database import refusing_connections
from tests.support.factories import make_business
from tests.support.queues import drain
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

QUEUE = actors.GATED.queue


def _starts(log: Path) -> int:
    return log.read_text().count("started") if log.exists() else 0


def _refused(output: str) -> bool:
    """The worker met PostgreSQL's refusal of a mark: to try again (or, before the fix, lost)."""
    return "jobs.success_marks_failed" in output or "failure in after_process_message" in output


def _fail_while_postgresql_refuses(
    admin_database_url: str, database_url: str, amqp_url: str, worker, log: Path
) -> None:
    """Let the gated job fail while PostgreSQL refuses connections; check that its message is
    neither retried nor dead-lettered meanwhile; allow connections again."""
    wait_for(lambda: _starts(log) == 1, what="the job to start")
    drain(amqp_url, f"{QUEUE}.XQ")  # what earlier tests dead-lettered
    with refusing_connections(admin_database_url, database_url):
        Path(f"{log}.gate").touch()  # the job fails now
        wait_for(lambda: _refused(worker.output()), what="the failure's mark refused")
        for queue in (QUEUE, f"{QUEUE}.DQ", f"{QUEUE}.XQ"):
            assert queue_depth(amqp_url, queue) == 0, f"{queue} got the message unrecorded"
        assert _starts(log) == 1


def test_a_dead_job_whose_mark_postgresql_refused_is_dead_in_the_ledger_then_dead_lettered(
    pg_rabbit, admin_database_url: str, start_worker, tmp_path: Path
) -> None:
    business = make_business()
    log = tmp_path / "gated.log"
    worker = start_worker(QUEUE)
    job_id = enqueue(
        actors.GATED, business_id=business.id, retry=0, log=str(log), then="fail"
    ).job_id
    _fail_while_postgresql_refuses(
        admin_database_url, pg_rabbit.database_url, pg_rabbit.amqp_url, worker, log
    )

    wait_for(lambda: job(job_id).status == "dead", what="the mark, once PostgreSQL answers")
    wait_for(lambda: queue_depth(pg_rabbit.amqp_url, f"{QUEUE}.XQ") == 1, what="dead-lettered")
    assert [message.message_id for message in drain(pg_rabbit.amqp_url, f"{QUEUE}.XQ")] == [job_id]
    dead = job(job_id)
    assert (dead.attempts, dead.failures, dead.deliveries) == (1, 1, 1)
    assert "failed after the gate" in (dead.last_error or "")
    assert [row.id for row in list_jobs(business.id, status="dead").items] == [job_id]
    assert _starts(log) == 1  # nothing ran twice

    retry_job(business.id, job_id)  # what `switchboard jobs retry` asks the API for
    wait_for(lambda: _starts(log) == 2, what="the retried job to run")
    wait_for(
        lambda: job(job_id).status == "dead", what="its new attempt to fail (the gate is open)"
    )


def test_a_retry_whose_failure_postgresql_refused_is_published_once_the_failure_is_recorded(
    pg_rabbit, admin_database_url: str, start_worker, tmp_path: Path
) -> None:
    business = make_business()
    log = tmp_path / "gated.log"
    worker = start_worker(QUEUE)
    job_id = enqueue(
        actors.GATED, business_id=business.id, retry=1, log=str(log), then="fail"
    ).job_id
    _fail_while_postgresql_refuses(
        admin_database_url, pg_rabbit.database_url, pg_rabbit.amqp_url, worker, log
    )

    # Recorded, then retried once: the second attempt fails too, and the job is dead.
    wait_for(lambda: job(job_id).status == "dead", what="both attempts recorded")
    dead = job(job_id)
    assert (dead.attempts, dead.failures, dead.deliveries) == (2, 2, 2)
    assert _starts(log) == 2  # one run per attempt
    wait_for(lambda: queue_depth(pg_rabbit.amqp_url, f"{QUEUE}.XQ") == 1, what="dead-lettered")
    assert [message.message_id for message in drain(pg_rabbit.amqp_url, f"{QUEUE}.XQ")] == [job_id]
    assert queue_depth(pg_rabbit.amqp_url, QUEUE) == 0
