"""``publish_many`` over RabbitMQ: a batch goes out in one transaction, all of it or none."""

from __future__ import annotations

import uuid

import pika
from dramatiq import Message

from switchboard.common.jobs.broker import UnroutableError, get_broker, publish_many
from switchboard.common.settings import Settings


def _messages(queue: str, n: int) -> list[Message[object]]:
    return [Message(queue, "probe", (), {"n": i}, {}) for i in range(n)]


def _drain(amqp_url: str, queue: str) -> list[int]:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        numbers = []
        while True:
            method, _, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return numbers
            numbers.append(Message.decode(body).kwargs["n"])
    finally:
        connection.close()


def _delete_queue(amqp_url: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        connection.channel().queue_delete(queue)
    finally:
        connection.close()


def test_a_batch_arrives_whole_and_in_order(pg_rabbit: Settings) -> None:
    queue = f"test_many_{uuid.uuid4().hex[:8]}"
    assert publish_many(_messages(queue, 300)) == (300, None)
    assert publish_many(_messages(queue, 2)) == (2, None)  # the channel is used again
    assert _drain(pg_rabbit.amqp_url, queue) == [*range(300), 0, 1]


def test_an_unroutable_message_fails_the_batch(pg_rabbit: Settings) -> None:
    queue = f"test_many_{uuid.uuid4().hex[:8]}"
    assert publish_many(_messages(queue, 2)) == (2, None)  # the broker declares the queue
    _drain(pg_rabbit.amqp_url, queue)
    _delete_queue(pg_rabbit.amqp_url, queue)  # the broker still thinks it exists

    count, error = publish_many(_messages(queue, 3))

    assert count == 0
    assert isinstance(error, UnroutableError)


def test_a_dropped_connection_fails_the_batch_and_the_next_one_reconnects(
    pg_rabbit: Settings,
) -> None:
    queue = f"test_many_{uuid.uuid4().hex[:8]}"
    assert publish_many(_messages(queue, 2)) == (2, None)
    get_broker().connection.close()  # as when RabbitMQ restarts under the publisher

    count, error = publish_many(_messages(queue, 3))
    assert count == 0
    assert error is not None

    assert publish_many(_messages(queue, 3)) == (3, None)
    assert _drain(pg_rabbit.amqp_url, queue) == [0, 1, 0, 1, 2]
