"""Running one job to its end and reading the outcome from the ledger."""

from __future__ import annotations

from typing import Any

from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import CATALOG
from switchboard.common.jobs.service import get_job
from switchboard.common.models import Job
from switchboard.common.models.jobs import FINAL_STATUSES
from tests.support.waiting import wait_for


def finished(business_id: int, job_id: str, timeout: float = 20) -> Job:
    """Wait until the job is final and return its ledger row."""
    return wait_for(
        lambda: (job := get_job(business_id, job_id)).status in FINAL_STATUSES and job,
        timeout=timeout,
        what=f"job {job_id} to finish",
    )


def run(actor: str, *, business_id: int, timeout: float = 20, **kwargs: Any) -> Job:
    """Enqueue ``actor`` the way the services do and wait for its outcome."""
    ref = enqueue(CATALOG[actor], business_id=business_id, **kwargs)
    return finished(business_id, ref.job_id, timeout)


def jobs_of(business_id: int, actor: str) -> list[Job]:
    """The business's jobs of one actor."""
    from sqlalchemy import select

    from switchboard.common.db import tenant_session

    with tenant_session(business_id) as session:
        return list(
            session.execute(
                select(Job).where(Job.business_id == business_id, Job.actor_name == actor)
            ).scalars()
        )
