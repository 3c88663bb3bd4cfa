"""The jobs the scheduler emits that had no actor: the outbound reconciler and ledger pruning."""

from __future__ import annotations

import uuid
from datetime import timedelta

import dramatiq
from sqlalchemy import select

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.jobs.catalog import OUTBOUND_RUN
from switchboard.common.models import Job, OutboundRun
from tests.support.factories import make_business
from tests.unit.scheduler.rows import orphaned_run
from tests.unit.worker.jobs import jobs_of, run


def ledger_row(business_id: int, status: str, age: timedelta, **fields: object) -> str:
    job_id = str(uuid.uuid4())
    when = utcnow() - age
    with tenant_session(business_id) as session:
        session.add(
            Job(
                id=job_id,
                business_id=business_id,
                queue_name="outbound",
                actor_name=str(fields.pop("actor_name", "test_noop_job")),
                status=status,
                message="{}",
                enqueued_at=when,
                updated_at=when,
                **fields,
            )
        )
    return job_id


def run_statuses(business_id: int) -> dict[int, str]:
    with tenant_session(business_id) as session:
        return dict(
            session.execute(
                select(OutboundRun.id, OutboundRun.status).where(
                    OutboundRun.business_id == business_id
                )
            ).all()
        )


def test_the_reconcile_job_closes_a_run_whose_driver_died_and_resumes_one_that_can_go_on(
    worker: dramatiq.Worker,
) -> None:
    ours, theirs = make_business(), make_business()
    dead, resumable = orphaned_run(ours.id), orphaned_run(ours.id)
    untouched = orphaned_run(theirs.id)
    ledger_row(ours.id, "dead", timedelta(minutes=5), actor_name=OUTBOUND_RUN.name, run_id=dead)

    job = run("outbound_reconcile_job", business_id=ours.id)

    assert job.status == "succeeded", job.last_error
    assert run_statuses(ours.id)[dead] == "failed"
    drivers = [j for j in jobs_of(ours.id, OUTBOUND_RUN.name) if j.run_id == resumable]
    assert len(drivers) == 1
    assert run_statuses(theirs.id) == {untouched: "running"}
    assert jobs_of(theirs.id, OUTBOUND_RUN.name) == []


def test_the_prune_job_removes_only_the_business_s_jobs_finished_past_their_retention(
    worker: dramatiq.Worker,
) -> None:
    ours, theirs = make_business(), make_business()
    kept = {}
    for business in (ours, theirs):
        old = ledger_row(business.id, "succeeded", timedelta(days=20))
        recent = ledger_row(business.id, "dead", timedelta(days=1))
        waiting = ledger_row(business.id, "queued", timedelta(days=20))
        kept[business.id] = (old, recent, waiting)

    job = run("prune_finished_jobs_job", business_id=ours.id)

    assert job.status == "succeeded", job.last_error
    old, recent, waiting = kept[ours.id]
    assert {j.id for j in jobs_of(ours.id, "test_noop_job")} == {recent, waiting}
    assert {j.id for j in jobs_of(theirs.id, "test_noop_job")} == set(kept[theirs.id])
