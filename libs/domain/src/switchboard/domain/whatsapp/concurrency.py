"""A per-business bound on simultaneous WhatsApp reply jobs, counted from the job ledger.

The job ledger knows which jobs are running; a job that finds its business already at
``businesses.whatsapp_concurrency`` running replies steps back and is re-queued with a delay.
A job that started on the ledger's fast path is still ``queued`` in its row; it is marked
running before the count, so that every reply that runs is counted, this one included.
The check runs inside the reply's own unit of work (``replies.py``): one statement, no
transaction of its own.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from switchboard.common.jobs.catalog import PROCESS_WHATSAPP_WEBHOOK
from switchboard.common.jobs.context import current_job
from switchboard.common.models import Business, Job


class BusinessAtLimit(Exception):  # noqa: N818 - reads as what the reply found
    """The business already runs as many replies as it allows; try again shortly."""


def business_is_busy(session: Session, business_id: int) -> bool:
    """True when more reply jobs of this business run than it allows (this one included).

    ``session`` is a unit of work of ``business_id`` (``tenant_session``).
    """
    job = current_job()
    if job is not None:
        job.mark_running()  # a fast start: its row says queued until now
    running = (
        select(func.count())
        .select_from(Job)
        .where(
            Job.business_id == business_id,
            Job.status == "running",
            Job.actor_name == PROCESS_WHATSAPP_WEBHOOK.name,
        )
        .scalar_subquery()
    )
    row = session.execute(
        select(Business.whatsapp_concurrency, running).where(Business.id == business_id)
    ).first()
    return row is not None and row[1] > row[0]
