"""The operations domain's periodic work: finished jobs leave the ledger after their retention.

A job's row is kept ``JOB_RETENTION_DAYS`` (14) after it finished, for the dashboard, the API
and retries, then deleted. Every day at 04:30 UTC the scheduler emits one
``prune_finished_jobs_job`` per business, which deletes the business's rows batch by batch
(:func:`prune_business_jobs`): each delete finds its rows through the
``(business_id, status, enqueued_at)`` index, ``PRUNE_BATCH`` rows per statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.inline import inline, inline_list
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.jobs import raise_if_cancelled
from switchboard.common.jobs.catalog import PRUNE_FINISHED_JOBS
from switchboard.common.jobs.schedules import Cron, Missed, Schedule, Tick
from switchboard.common.logging import get_logger
from switchboard.common.models import Business
from switchboard.common.models.jobs import FINAL_STATUSES, Job
from switchboard.common.settings import get_settings

log = get_logger(__name__)

PRUNE_BATCH = 1000


def _prune_business(business_id: int, cutoff: datetime, batch_size: int) -> int:
    """Delete one batch of the business's jobs that finished before ``cutoff``."""
    # Written into the statement (``db/inline.py``): a generic plan guessing a third of the
    # business's jobs past the cutoff scanned the whole ledger for the few that were.
    before = inline("cutoff", cutoff, Job.enqueued_at.type)
    old = (
        select(Job.id)
        .where(
            Job.business_id == business_id,
            Job.status.in_(inline_list("final", FINAL_STATUSES)),
            # A job finishes after it was enqueued: this bound lets the index find the rows;
            # ``updated_at`` is when a final row last changed, i.e. when the job finished.
            Job.enqueued_at < before,
            Job.updated_at < before,
        )
        .limit(batch_size)
    )
    with tenant_session(business_id) as session:
        result = session.execute(delete(Job).where(Job.business_id == business_id, Job.id.in_(old)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune_business_jobs(
    business_id: int, now: datetime | None = None, *, batch_size: int = PRUNE_BATCH
) -> int:
    """Delete the business's jobs that finished more than ``JOB_RETENTION_DAYS`` ago, batch
    by batch (a job asked to stop stops between two); how many were deleted."""
    cutoff = (now or utcnow()) - timedelta(days=get_settings().job_retention_days)
    removed = 0
    while True:
        raise_if_cancelled()
        count = _prune_business(business_id, cutoff, batch_size)
        removed += count
        if count < batch_size:
            break
    if removed:
        log.info("jobs.pruned", business_id=business_id, count=removed, cutoff=cutoff.isoformat())
    return removed


def every_business(session: Session, tick: Tick) -> Iterable[int]:
    """Every business: each has a ledger."""
    return session.execute(select(Business.id).where(tick.scope(Business.id))).scalars()


SCHEDULES = (
    Schedule(
        "job_retention",
        PRUNE_FINISHED_JOBS,
        when=Cron("30 4 * * *"),
        missed=Missed.CATCH_UP_ONCE,
        targets=every_business,
    ),
)
