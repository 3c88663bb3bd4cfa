"""Requeue unfinished jobs after a restart of the embedded (in-memory) broker."""

from __future__ import annotations

from sqlalchemy import select

from switchboard.common.db.tenancy import system_session
from switchboard.common.jobs.outbox import publish_after_commit
from switchboard.common.models.jobs import LIVE_STATUSES, Job, OutboxMessage


def requeue_unfinished_jobs() -> int:
    """Publish every live job that has no outbox row; the in-memory broker lost its messages.

    Only for the embedded broker: RabbitMQ keeps its own durable queues.
    """
    with system_session() as session:
        rows = session.execute(
            select(Job.id, Job.message).where(
                Job.status.in_(LIVE_STATUSES), Job.id.not_in(select(OutboxMessage.job_id))
            )
        ).all()
    published = publish_after_commit([(0, row.message) for row in rows]) if rows else 0
    return published
