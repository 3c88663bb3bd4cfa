"""The job system end to end on the embedded database and in-process broker."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from switchboard.common.db import system_session, tenant_session
from switchboard.common.jobs import FOREVER, enqueue, enqueue_unique
from switchboard.common.jobs import service as jobs
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import CREATE_LEAD, SEND_PUSH_NOTIFICATION
from switchboard.common.jobs.errors import UnknownActorError
from switchboard.common.models import Job, Lead, OutboxMessage
from switchboard.worker.runtime.inprocess import start_worker
from tests.support import actors
from tests.support.factories import make_business
from tests.support.waiting import wait_for


def job_status(job_id: str) -> str | None:
    with system_session() as session:
        return session.get(Job, job_id).status  # type: ignore[union-attr]


def test_an_enqueued_job_runs_and_its_ledger_row_ends_succeeded(stub_worker) -> None:
    business = make_business()
    ref = enqueue(actors.RECORD_LEAD, business_id=business.id, phone="+15550001")
    wait_for(lambda: job_status(ref.job_id) == "succeeded", what="job to succeed")
    with system_session() as session:
        job = session.get(Job, ref.job_id)
        assert (job.attempts, job.deliveries, job.business_id) == (1, 1, business.id)
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_rolled_back_transaction_enqueues_nothing(stub_worker) -> None:
    business = make_business()
    with pytest.raises(RuntimeError), tenant_session(business.id):
        enqueue(actors.RECORD_LEAD, business_id=business.id, phone="+15550002")
        raise RuntimeError("the request failed")
    with system_session() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Job).where(Job.business_id == business.id)
            )
            == 0
        )
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_enqueue_unique_twice_gives_one_job(stub_worker) -> None:
    business = make_business()
    first = enqueue_unique(actors.NOOP, key="event-1", business_id=business.id, period=FOREVER)
    second = enqueue_unique(actors.NOOP, key="event-1", business_id=business.id, period=FOREVER)
    assert first.created and not second.created
    assert second.job_id == first.job_id


def test_a_live_dedup_key_frees_up_once_the_job_is_final(stub_worker) -> None:
    business = make_business()
    first = enqueue_unique(actors.NOOP, key="sync-leads", business_id=business.id)
    wait_for(lambda: job_status(first.job_id) == "succeeded", what="first job")
    second = enqueue_unique(actors.NOOP, key="sync-leads", business_id=business.id)
    assert second.created and second.job_id != first.job_id


def test_a_cancelled_queued_job_never_runs(embedded) -> None:
    business = make_business()
    ref = enqueue(actors.RECORD_LEAD, business_id=business.id, phone="+15550003")
    jobs.cancel_job(business.id, ref.job_id)
    # Start the worker only now: the message is delivered and must be skipped.
    actors.register()
    worker = start_worker(get_broker(), threads=1, worker_timeout_ms=50)
    try:
        get_broker().join("test_jobs")
        worker.join()
    finally:
        worker.stop()
    assert job_status(ref.job_id) == "cancelled"
    with tenant_session(business.id) as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Lead).where(Lead.business_id == business.id)
            )
            == 0
        )


def test_cancelling_a_finished_job_is_refused_with_its_status(stub_worker) -> None:
    business = make_business()
    ref = enqueue(actors.NOOP, business_id=business.id)
    wait_for(lambda: job_status(ref.job_id) == "succeeded", what="job")
    with pytest.raises(jobs.JobStateError, match="already succeeded"):
        jobs.cancel_job(business.id, ref.job_id)


def test_progress_is_recorded_and_cancel_stops_a_running_job(stub_worker, tmp_path: Path) -> None:
    business = make_business()
    marker = tmp_path / "step"
    ref = enqueue(actors.PROGRESS, business_id=business.id, steps=200, marker=str(marker))
    wait_for(lambda: marker.exists() and int(marker.read_text()) >= 3, what="a few steps")
    running = jobs.get_job(business.id, ref.job_id)
    assert running.status == "running" and 0 < (running.progress or 0) < 1
    assert running.progress_message and running.progress_message.startswith("step ")
    jobs.cancel_job(business.id, ref.job_id)
    wait_for(
        lambda: int(marker.read_text()) < 200 and jobs.get_job(business.id, ref.job_id).finished_at,
        what="stop",
    )
    assert job_status(ref.job_id) == "cancelled"
    assert int(marker.read_text()) < 200


def test_a_job_past_its_timeout_is_retried_then_dead(stub_worker) -> None:
    business = make_business()
    ref = enqueue(actors.SLEEPY, business_id=business.id, seconds=5, timeout=1, retry=1)
    wait_for(lambda: job_status(ref.job_id) == "dead", timeout=30, what="job to die")
    job = jobs.get_job(business.id, ref.job_id)
    assert job.attempts == 2
    assert job.last_error and "TimeLimitExceeded" in job.last_error


def test_a_dead_job_can_be_retried(stub_worker) -> None:
    business = make_business()
    ref = enqueue(actors.SLEEPY, business_id=business.id, seconds=5, timeout=1, retry=0)
    wait_for(lambda: job_status(ref.job_id) == "dead", timeout=30, what="job to die")
    died = jobs.get_job(business.id, ref.job_id)

    retried = jobs.retry_job(business.id, ref.job_id)

    assert retried.enqueued_at > died.enqueued_at  # its queue age starts again
    wait_for(
        lambda: (
            job_status(ref.job_id) == "dead" and jobs.get_job(business.id, ref.job_id).attempts == 2
        ),
        timeout=30,
        what="second attempt",
    )


def test_another_business_cannot_see_or_cancel_a_job(embedded) -> None:
    owner, other = make_business(), make_business()
    ref = enqueue(actors.NOOP, business_id=owner.id)
    with pytest.raises(jobs.JobNotFoundError):
        jobs.get_job(other.id, ref.job_id)
    with pytest.raises(jobs.JobNotFoundError):
        jobs.cancel_job(other.id, ref.job_id)
    assert jobs.list_jobs(other.id).items == []


def test_enqueue_inside_another_business_transaction_is_refused(embedded) -> None:
    owner, other = make_business(), make_business()
    with pytest.raises(PermissionError, match="inside business"), tenant_session(owner.id):
        enqueue(actors.NOOP, business_id=other.id)


@pytest.mark.parametrize(
    ("spec", "kwargs", "error", "message"),
    [
        ("create_lead_job", {}, TypeError, "takes a catalog entry"),
        (
            replace(CREATE_LEAD, queue="wrong_queue"),
            {"conversation_id": 1},
            UnknownActorError,
            "differs",
        ),
        (CREATE_LEAD, {"conversation_id": 1, "tag": "x"}, TypeError, "unexpected argument.*tag"),
        (actors.NOOP, {"blob": object()}, ValueError, "'blob'"),
        (
            SEND_PUSH_NOTIFICATION,
            {"subscription_id": 1, "reminder_id": {"title": "Call Dana back"}},
            ValueError,
            "'reminder_id'.*store it and pass its id",
        ),
    ],
)
def test_bad_enqueue_calls_say_what_is_wrong(embedded, spec, kwargs, error, message) -> None:
    business = make_business()
    with pytest.raises(error, match=message):
        enqueue(spec, business_id=business.id, **kwargs)


def test_business_id_is_required_and_must_be_positive(embedded) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        enqueue(actors.NOOP, business_id=0)
    with pytest.raises(TypeError, match="business_id"):
        enqueue_unique(actors.NOOP, key="k")  # type: ignore[call-arg]
