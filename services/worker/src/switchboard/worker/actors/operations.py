"""Operations jobs: the ledger's finished jobs removed after their retention."""

from __future__ import annotations

from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import PRUNE_FINISHED_JOBS
from switchboard.domain.operations.scheduled import prune_business_jobs


@job_actor(PRUNE_FINISHED_JOBS)
def prune_finished_jobs_job(*, business_id: int) -> None:
    """Delete the business's jobs that finished more than ``JOB_RETENTION_DAYS`` ago."""
    prune_business_jobs(business_id)
