"""On PostgreSQL: a finished job keeps no payload (a retryable one keeps ids for its retry),
finished jobs are pruned after ``JOB_RETENTION_DAYS`` and live ones never, and a refused
statement's error shows neither its parameters nor the values PostgreSQL repeats."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import get_engine
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.service import retry_job
from switchboard.common.logging import install_record_scrubbing
from switchboard.common.models import Job, Lead
from switchboard.common.settings import Settings, get_settings
from switchboard.domain.operations.scheduled import prune_business_jobs
from switchboard.worker.runtime import ledger
from tests.support.actors import NOOP
from tests.support.factories import make_business, unique_phone

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _noop_queue(pg: Settings) -> None:
    """The test jobs are published to the in-process broker, not left in the outbox."""
    get_broker().declare_queue(NOOP.queue)


def _job(business_id: int, job_id: str) -> Job:
    with tenant_session(business_id) as session:
        return session.execute(
            select(Job).where(Job.business_id == business_id, Job.id == job_id)
        ).scalar_one()


def _enqueue(business_id: int) -> str:
    return enqueue(NOOP, business_id=business_id, lead_id=42).job_id


def test_a_succeeded_job_keeps_no_payload_and_a_dead_one_keeps_its_ids_for_a_retry(
    pg: Settings,
) -> None:
    business = make_business()
    one, many, dead = (_enqueue(business.id) for _ in range(3))
    for job_id in (one, many, dead):
        assert ledger.mark_started(job_id, max_unfinished=3) is not None

    ledger.mark_succeeded(one)  # one statement
    ledger.mark_succeeded_many([ledger.success_outcome(many)])  # the batch
    ledger.mark_failed(dead, "ValueError: no", status="dead")

    assert (_job(business.id, one).status, _job(business.id, one).message) == ("succeeded", "")
    assert (_job(business.id, many).status, _job(business.id, many).message) == ("succeeded", "")
    assert '"lead_id":42' in _job(business.id, dead).message.replace(" ", "")
    assert retry_job(business.id, dead).status == "queued"


def test_the_ledger_s_error_keeps_no_number_or_address(pg: Settings) -> None:
    business, caller = make_business(), unique_phone()
    job_id = _enqueue(business.id)
    ledger.mark_started(job_id, max_unfinished=3)

    error = ValueError(f"Twilio refused {caller} (dana@example.com)")
    ledger.mark_failed(job_id, ledger.describe_error(error), status="failed")

    assert _job(business.id, job_id).last_error == (
        f"ValueError: Twilio refused +***{caller[-4:]} (***@***)"
    )


def _age(business_id: int, job_id: str, status: str, days: float) -> None:
    at = utcnow() - timedelta(days=days)
    with tenant_session(business_id) as session:
        session.execute(
            update(Job)
            .where(Job.business_id == business_id, Job.id == job_id)
            .values(status=status, enqueued_at=at, updated_at=at, finished_at=at)
        )


def _left(business_id: int) -> set[str]:
    with tenant_session(business_id) as session:
        return set(session.execute(select(Job.id).where(Job.business_id == business_id)).scalars())


@pytest.fixture
def retention_days(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("JOB_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("JOB_RETENTION_DAYS")
    get_settings.cache_clear()


def test_finished_jobs_are_pruned_after_the_retention_in_batches_and_live_ones_never(
    pg: Settings,
) -> None:
    first, second = make_business(), make_business()
    old_finished = {
        business.id: [_enqueue(business.id) for _ in range(5)] for business in (first, second)
    }
    for business_id, ids in old_finished.items():
        statuses = ["succeeded", "failed", "dead", "cancelled", "succeeded"]
        for job_id, status in zip(ids, statuses, strict=True):
            _age(business_id, job_id, status, days=20)
    old_live = [_enqueue(first.id), _enqueue(first.id)]
    _age(first.id, old_live[0], "queued", days=20)
    _age(first.id, old_live[1], "running", days=20)
    recent = _enqueue(first.id)
    _age(first.id, recent, "succeeded", days=13)

    removed = prune_business_jobs(first.id, batch_size=2)

    assert removed == 5
    assert _left(first.id) == {*old_live, recent}
    assert len(_left(second.id)) == 5, "another business's rows are its own job's"
    assert prune_business_jobs(second.id, batch_size=2) == 5
    assert _left(second.id) == set()


def test_the_retention_is_a_setting(pg: Settings, retention_days: None) -> None:
    business = make_business()
    kept, pruned = _enqueue(business.id), _enqueue(business.id)
    _age(business.id, kept, "succeeded", days=20)
    _age(business.id, pruned, "succeeded", days=31)

    prune_business_jobs(business.id)

    assert _left(business.id) == {kept}


@pytest.fixture
def scrubbed_records() -> Iterator[None]:
    """Stdlib records scrubbed as in a service (``configure_logging``), for this test."""
    factory = logging.getLogRecordFactory()
    install_record_scrubbing()
    yield
    logging.setLogRecordFactory(factory)


def test_a_refused_insert_logs_neither_its_parameters_nor_postgresql_s_detail(
    pg: Settings, scrubbed_records: None
) -> None:
    business, phone = make_business(), unique_phone()
    values = {"business_id": business.id, "phone": phone, "name": "Dana Smith"}
    with get_engine().begin() as connection:
        connection.execute(insert(Lead).values(**values))
    stream = io.StringIO()
    logger = logging.getLogger("switchboard.test.refused")
    logger.addHandler(logging.StreamHandler(stream))
    logger.propagate = False

    with pytest.raises(IntegrityError) as refused, get_engine().begin() as connection:
        connection.execute(insert(Lead).values(**values))
    logger.error("the insert failed", exc_info=refused.value)
    logger.handlers.clear()

    assert "DETAIL" in str(refused.value) and phone in str(refused.value)  # psycopg's own text
    assert "INSERT INTO leads" in str(refused.value)
    assert "Dana Smith" not in str(refused.value)  # the parameters are hidden
    logged = stream.getvalue()
    assert "UniqueViolation" in logged and "INSERT INTO leads" in logged
    for private in (phone, phone[1:], "Dana Smith"):
        assert private not in logged
