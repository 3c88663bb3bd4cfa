"""The job system through real RabbitMQ and real ``switchboard worker`` processes."""

from __future__ import annotations

import threading
from pathlib import Path

import pika
from sqlalchemy import func, select

from switchboard.common.db import system_session, tenant_session
from switchboard.common.jobs import enqueue, enqueue_unique
from switchboard.common.jobs import service as jobs
from switchboard.common.models import Job, Lead, OutboxMessage
from switchboard.domain.leads.store import upsert_lead
from tests.support import actors, services
from tests.support.factories import make_business
from tests.support.processes import free_port
from tests.support.waiting import wait_for


def job(job_id: str) -> Job:
    with system_session() as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def queue_depth(amqp_url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        return int(channel.queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def leads_with_phone(business_id: int, phone: str) -> int:
    with tenant_session(business_id) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Lead)
                .where(Lead.business_id == business_id, Lead.phone == phone)
            )
            or 0
        )


def test_a_job_runs_through_rabbitmq_and_the_worker(pg_rabbit, start_worker) -> None:
    start_worker("test_jobs")
    business = make_business()
    ref = enqueue(actors.RECORD_LEAD, business_id=business.id, phone="+15551110001")
    wait_for(lambda: job(ref.job_id).status == "succeeded", what="job to succeed")
    assert leads_with_phone(business.id, "+15551110001") == 1


def test_a_rolled_back_transaction_publishes_nothing(pg_rabbit) -> None:
    business = make_business()
    enqueue(actors.NOOP, business_id=business.id)  # declares the queue
    before = queue_depth(pg_rabbit.amqp_url, "test_jobs")
    try:
        with tenant_session(business.id):
            enqueue(actors.NOOP, business_id=business.id)
            raise RuntimeError("request failed")
    except RuntimeError:
        pass
    assert queue_depth(pg_rabbit.amqp_url, "test_jobs") == before
    with system_session() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Job).where(Job.business_id == business.id)
            )
            == 1
        )


def test_concurrent_enqueue_unique_creates_exactly_one_job(pg_rabbit) -> None:
    business = make_business()
    results = []
    barrier = threading.Barrier(8)

    def enqueue() -> None:
        barrier.wait()
        results.append(enqueue_unique(actors.NOOP, key="call.ended:CA1", business_id=business.id))

    threads = [threading.Thread(target=enqueue) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(ref.created for ref in results) == 1
    assert len({ref.job_id for ref in results}) == 1


def test_a_job_enqueued_while_rabbitmq_is_down_runs_after_it_is_back(
    pg_rabbit, start_worker, start_service
) -> None:
    business = make_business()
    start_worker("test_jobs")
    start_service("scheduler", "--port", str(free_port()))
    try:
        services.rabbit_stop()
        ref = enqueue(actors.RECORD_LEAD, business_id=business.id, phone="+15551110002")
        with system_session() as session:
            assert (
                session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.job_id == ref.job_id)
                )
                == 1
            )
        assert job(ref.job_id).status == "queued"
    finally:
        services.rabbit_start()
    wait_for(
        lambda: job(ref.job_id).status == "succeeded",
        timeout=90,
        what="job to run after the outage",
    )
    assert leads_with_phone(business.id, "+15551110002") == 1


def test_a_job_past_its_timeout_is_retried_then_dead(pg_rabbit, start_worker) -> None:
    start_worker("test_jobs")
    business = make_business()
    ref = enqueue(actors.SLEEPY, business_id=business.id, seconds=10, timeout=1, retry=1)
    wait_for(lambda: job(ref.job_id).status == "dead", timeout=60, what="job to be dead")
    dead = job(ref.job_id)
    assert dead.attempts == 2 and dead.failures == 2
    assert "TimeLimitExceeded" in (dead.last_error or "")


def test_a_worker_killed_mid_job_gets_the_job_redelivered_and_its_effect_happens_once(
    pg_rabbit, start_worker, tmp_path: Path
) -> None:
    business = make_business()
    marker = tmp_path / "started"
    first = start_worker("test_jobs")
    ref = enqueue(
        actors.KILL_ONCE,
        business_id=business.id,
        phone="+15551110003",
        marker=str(marker),
    )
    wait_for(marker.exists, timeout=60, what="the job to start")
    assert job(ref.job_id).status == "running"
    first.kill()
    start_worker("test_jobs")
    wait_for(lambda: job(ref.job_id).status == "succeeded", timeout=60, what="the redelivered job")
    assert job(ref.job_id).deliveries == 2
    assert leads_with_phone(business.id, "+15551110003") == 1


def test_a_poison_job_is_dead_lettered_after_n_deliveries(pg_rabbit, start_worker) -> None:
    business = make_business()
    ref = enqueue(actors.SUICIDE, business_id=business.id)
    # Each delivery kills its worker process, and Dramatiq's master exits with it.
    for _ in range(2):
        worker = start_worker("test_poison")
        wait_for(lambda w=worker: not w.alive, timeout=60, what="the worker to die")
    start_worker("test_poison")
    wait_for(lambda: job(ref.job_id).status == "dead", timeout=60, what="dead-lettering")
    dead = job(ref.job_id)
    assert dead.deliveries == 3 and "without finishing" in (dead.last_error or "")
    wait_for(
        lambda: queue_depth(pg_rabbit.amqp_url, "test_poison.XQ") == 1, what="message in the DLQ"
    )
    assert queue_depth(pg_rabbit.amqp_url, "test_poison") == 0


def test_a_job_carrying_business_a_id_cannot_read_business_b_rows(pg_rabbit, start_worker) -> None:
    start_worker("test_jobs")
    a, b = make_business(), make_business()
    with tenant_session(b.id) as session:
        lead, _ = upsert_lead(session, b.id, "+15551110004")
    ref = enqueue(actors.TENANT_PROBE, business_id=a.id, lead_id=lead.id)
    wait_for(lambda: job(ref.job_id).status == "failed", what="a permanent failure")
    failed = job(ref.job_id)
    assert failed.attempts == 1, "a tenant violation must not be retried"
    assert f"does not belong to business {a.id}" in (failed.last_error or "")


def test_retrying_a_dead_job_runs_it_again(pg_rabbit, start_worker) -> None:
    start_worker("test_jobs")
    business = make_business()
    ref = enqueue(actors.SLEEPY, business_id=business.id, seconds=10, timeout=1, retry=0)
    wait_for(lambda: job(ref.job_id).status == "dead", timeout=60, what="dead")
    jobs.retry_job(business.id, ref.job_id)
    wait_for(
        lambda: job(ref.job_id).attempts == 2 and job(ref.job_id).status == "dead",
        timeout=60,
        what="rerun",
    )
