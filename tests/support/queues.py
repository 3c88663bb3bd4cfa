"""Reading a RabbitMQ queue from a test, as no worker would: every message waiting in it."""

from __future__ import annotations

import pika
from dramatiq import Message


def drain(amqp_url: str, queue: str) -> list[Message[object]]:
    """Take every message waiting in ``queue`` (acknowledged: they are gone), in order."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        messages: list[Message[object]] = []
        while True:
            method, _, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return messages
            messages.append(Message.decode(body))
    finally:
        connection.close()
