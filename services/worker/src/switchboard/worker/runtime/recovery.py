"""Requeue unfinished jobs after a restart of the embedded (in-memory) broker."""

from __future__ import annotations

from dramatiq import Message
from sqlalchemy import select

from switchboard.common.db.tenancy import system_session
from switchboard.common.jobs.broker import get_broker
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
    broker = get_broker()
    for row in rows:
        broker.enqueue(Message.decode(row.message.encode()))
    return len(rows)
