"""A per-business bound on simultaneous WhatsApp reply jobs (it replaces the old semaphore).

The job ledger knows which jobs are running; a job that finds its business already at
``businesses.whatsapp_concurrency`` running replies steps back and is re-queued with a delay.
A job that started on the ledger's fast path is still ``queued`` in its row; it is marked
running before the count, so that every reply that runs is counted, this one included.
"""

from __future__ import annotations

from sqlalchemy import func, select

from switchboard.common.db.tenancy import tenant_session
from switchboard.common.jobs import ledger
from switchboard.common.jobs.context import current_job
from switchboard.common.models import Business, Job
from switchboard.common.whatsapp.inbound import REPLY_ACTOR


def business_is_busy(business_id: int) -> bool:
    """True when more reply jobs of this business run than it allows (this one included)."""
    job = current_job()
    if job is not None:
        ledger.mark_running_due(job.job_id)  # a fast start: its row says queued until now
    with tenant_session(business_id) as session:
        limit = session.execute(
            select(Business.whatsapp_concurrency).where(Business.id == business_id)
        ).scalar_one_or_none()
        running = session.execute(
            select(func.count())
            .select_from(Job)
            .where(
                Job.business_id == business_id,
                Job.status == "running",
                Job.actor_name == REPLY_ACTOR,
            )
        ).scalar_one()
    return limit is not None and running > limit
