"""A job's message as RabbitMQ hands it to a worker's middleware, for tests of the middleware."""

from __future__ import annotations

from dramatiq import Message
from dramatiq.brokers.rabbitmq import _RabbitmqMessage

from switchboard.common.jobs.catalog import ActorSpec
from tests.support.actors import NOOP


def delivery(
    business_id: int, job_id: str, *, again: bool, spec: ActorSpec = NOOP, **options: object
) -> _RabbitmqMessage:
    """A delivery of the job's message; ``again``: RabbitMQ's redelivered flag."""
    message = Message(
        spec.queue, spec.name, (), {}, {"business_id": business_id, **options}, job_id
    )
    return _RabbitmqMessage(again, 1, message)
