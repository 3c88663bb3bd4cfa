"""The call-event exchange on RabbitMQ, as its publisher and its consumer both see it."""

from __future__ import annotations

import aio_pika
import aiormq

#: The durable topic exchange every call event is published to (routing key = event type).
EVENTS_EXCHANGE = "switchboard.events"

#: What a lost or refused broker looks like from aio-pika.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    aio_pika.exceptions.AMQPError,
    aiormq.exceptions.AMQPError,
    ConnectionError,
    OSError,
    TimeoutError,
)
