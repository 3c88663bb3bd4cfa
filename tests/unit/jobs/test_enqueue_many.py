"""``enqueue_many`` on the embedded database: each job written as ``enqueue`` writes it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from switchboard.common.db import system_session, tenant_session
from switchboard.common.jobs.enqueue import enqueue_many, prepare_job
from switchboard.common.models import Job
from tests.support import actors
from tests.support.factories import make_business
from tests.support.waiting import wait_for


def _statuses(job_ids: list[str]) -> dict[str, str]:
    with system_session() as session:
        rows = session.execute(select(Job.id, Job.status).where(Job.id.in_(job_ids))).all()
    return {str(job_id): str(status) for job_id, status in rows}


def test_a_batch_runs_every_job_and_a_taken_key_names_its_holder(stub_worker) -> None:
    business = make_business()
    held = prepare_job(actors.NOOP, business_id=business.id, key="held")
    refs = enqueue_many(
        [
            held,
            prepare_job(actors.NOOP, business_id=business.id),
            prepare_job(actors.NOOP, business_id=business.id, key="held"),
        ]
    )
    assert [ref.created for ref in refs] == [True, True, False]
    assert refs[2].job_id == held.message.message_id
    ids = [ref.job_id for ref in refs[:2]]
    wait_for(lambda: set(_statuses(ids).values()) == {"succeeded"}, what="the batch to run")


def test_a_batch_joins_the_callers_transaction(stub_worker) -> None:
    business = make_business()
    job = prepare_job(actors.NOOP, business_id=business.id)
    with pytest.raises(RuntimeError), tenant_session(business.id):
        enqueue_many([job])
        raise RuntimeError("rolled back")
    assert _statuses([job.message.message_id]) == {}


def test_a_batch_is_one_business(embedded) -> None:
    first, second = make_business(), make_business()
    jobs = [
        prepare_job(actors.NOOP, business_id=first.id),
        prepare_job(actors.NOOP, business_id=second.id),
    ]
    with pytest.raises(ValueError, match="one business"):
        enqueue_many(jobs)
    with pytest.raises(PermissionError), tenant_session(second.id):
        enqueue_many(jobs[:1])
    assert enqueue_many([]) == []
