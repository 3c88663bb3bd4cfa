"""What a lost or refused broker looks like to the call-event publisher and consumer."""

from __future__ import annotations

import aio_pika
import aiormq

#: What a lost or refused broker looks like from aio-pika.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    aio_pika.exceptions.AMQPError,
    aiormq.exceptions.AMQPError,
    ConnectionError,
    OSError,
    TimeoutError,
)
