"""``publish_many`` over RabbitMQ: a batch goes out in one transaction, all of it or none."""

from __future__ import annotations

import subprocess
import uuid

import pika
from dramatiq import Message
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from switchboard.common.jobs.broker import (
    UnroutableError,
    get_broker,
    publish_many,
    reset_broker,
    use_broker,
)
from switchboard.common.settings import Settings
from tests.support.processes import free_port
from tests.support.queues import drain
from tests.support.waiting import wait_for


def _messages(queue: str, n: int) -> list[Message[object]]:
    return [Message(queue, "probe", (), {"n": i}, {}) for i in range(n)]


def _numbers(amqp_url: str, queue: str) -> list[int]:
    """The ``n`` of each message waiting in ``queue``, in order (they are taken)."""
    return [int(message.kwargs["n"]) for message in drain(amqp_url, queue)]


def _broker() -> RabbitmqBroker:
    broker = get_broker()
    assert isinstance(broker, RabbitmqBroker)
    return broker


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
    assert _numbers(pg_rabbit.amqp_url, queue) == [*range(300), 0, 1]


def test_an_unroutable_message_fails_the_batch(pg_rabbit: Settings) -> None:
    queue = f"test_many_{uuid.uuid4().hex[:8]}"
    assert publish_many(_messages(queue, 2)) == (2, None)  # the broker declares the queue
    _numbers(pg_rabbit.amqp_url, queue)
    _delete_queue(pg_rabbit.amqp_url, queue)  # the broker still thinks it exists

    count, error = publish_many(_messages(queue, 3))

    assert count == 0
    assert isinstance(error, UnroutableError)


def test_a_connection_closed_before_the_batch_is_replaced_and_the_batch_goes_out_once(
    pg_rabbit: Settings,
) -> None:
    queue = f"test_many_{uuid.uuid4().hex[:8]}"
    assert publish_many(_messages(queue, 2)) == (2, None)
    _broker().connection.close()

    assert publish_many(_messages(queue, 3)) == (3, None)
    assert _numbers(pg_rabbit.amqp_url, queue) == [0, 1, 0, 1, 2]


def test_with_rabbitmq_unreachable_the_batch_fails_whole(pg_rabbit: Settings) -> None:
    use_broker(RabbitmqBroker(url=f"amqp://guest:guest@127.0.0.1:{free_port()}/"))
    try:
        count, error = publish_many(_messages("test_many_unreachable", 3))
    finally:
        reset_broker()

    assert count == 0
    assert isinstance(error, pika.exceptions.AMQPConnectionError)


def test_a_connection_the_broker_closed_while_idle_is_replaced_before_the_batch(
    pg_rabbit: Settings,
) -> None:
    """Nothing was sent on it yet, so the batch goes out once, on a new connection."""
    queue = f"test_many_{uuid.uuid4().hex[:8]}"
    assert publish_many(_messages(queue, 2)) == (2, None)
    vhost = pg_rabbit.amqp_url.rsplit("/", 1)[-1]
    subprocess.run(
        ["rabbitmqctl", "close_all_connections", "--vhost", vhost, "--limit", "100", "test"],
        check=True,
        capture_output=True,
    )
    wait_for(lambda: not _alive(_broker().connection), timeout=10)

    assert publish_many(_messages(queue, 3)) == (3, None)
    assert _numbers(pg_rabbit.amqp_url, queue) == [0, 1, 0, 1, 2]


def _alive(connection: pika.BlockingConnection) -> bool:
    """Whether the connection still stands, once pika has read what the broker sent."""
    try:
        connection.process_data_events(time_limit=0)
    except pika.exceptions.AMQPError:
        return False
    return bool(connection.is_open)
