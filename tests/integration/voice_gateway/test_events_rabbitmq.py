"""Call events on RabbitMQ: confirmed publishing, and nothing lost while the broker is down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import aiormq
import pytest
from aio_pika.abc import AbstractIncomingMessage

from switchboard.common.events import EVENTS_EXCHANGE, CallStatusChanged, parse_event
from switchboard.voice_gateway.adapters.amqp_publisher import AmqpEventPublisher
from switchboard.voice_gateway.ports.media_socket import InMemoryMediaSocket
from tests.support import services
from tests.unit.voice_gateway import twilio_messages as twilio
from tests.unit.voice_gateway.wiring import Core

UNREACHABLE = "amqp://guest:guest@127.0.0.1:1/"


class EventQueue:
    """A durable queue of this test bound to every call event (it survives a broker restart).

    Each read uses a fresh connection, so reading works across a broker outage.
    """

    def __init__(self, amqp_url: str, name: str) -> None:
        self.amqp_url = amqp_url
        self.name = name

    async def declare(self) -> None:
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(self.name, durable=True)
            await queue.bind(exchange, routing_key="#")

    async def delete(self) -> None:
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(self.name)

    async def _get(self) -> AbstractIncomingMessage | None:
        connection = await aio_pika.connect(self.amqp_url, timeout=5)
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue(self.name, ensure=False)
            return await queue.get(no_ack=True, fail=False, timeout=5)

    async def next_message(self, timeout_s: float = 30) -> AbstractIncomingMessage:
        """The next message (polling with a deadline)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            try:
                message = await self._get()
            except (
                aio_pika.exceptions.AMQPError,
                aiormq.exceptions.AMQPError,
                OSError,
                TimeoutError,
            ):
                message = None
            if message is not None:
                return message
            await asyncio.sleep(0.1)
        raise AssertionError(f"no message on {self.name} within {timeout_s} s")


@pytest.fixture
async def event_queue(amqp_url: str) -> AsyncIterator[EventQueue]:
    queue = EventQueue(amqp_url, f"test-events-{uuid.uuid4().hex[:8]}")
    await queue.declare()
    yield queue
    await queue.delete()


@pytest.fixture
async def publisher(amqp_url: str, tmp_path: Path) -> AsyncIterator[AmqpEventPublisher]:
    publisher = AmqpEventPublisher(amqp_url, tmp_path / "spool", reconnect_delay_s=0.2)
    await publisher.start()
    assert await publisher.wait_connected(10)
    yield publisher
    await publisher.close()


def status_event(n: int = 1) -> CallStatusChanged:
    return CallStatusChanged(business_id=7, call_sid=f"CA{n}", call_status="ringing")


async def test_an_event_is_published_to_the_topic_exchange_with_a_confirm(
    publisher: AmqpEventPublisher, event_queue: EventQueue
) -> None:
    event = status_event()
    await publisher.publish(event)

    message = await event_queue.next_message()
    assert parse_event(message.body) == event
    assert (message.routing_key, message.message_id) == ("call.status", event.event_id)
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert publisher.pending == 0


async def test_events_spooled_while_unreachable_are_published_in_order_after_a_restart(
    amqp_url: str, event_queue: EventQueue, tmp_path: Path
) -> None:
    offline = AmqpEventPublisher(UNREACHABLE, tmp_path / "spool")
    await offline.start()
    events = [status_event(n) for n in range(3)]
    for event in events:
        await offline.publish(event)
    assert offline.pending == 3
    await offline.close()  # the gateway stops with three events unsent

    restarted = AmqpEventPublisher(amqp_url, tmp_path / "spool", reconnect_delay_s=0.2)
    await restarted.start()
    try:
        received = [parse_event((await event_queue.next_message()).body) for _ in events]
    finally:
        await restarted.close()
    assert received == events
    assert restarted.pending == 0


async def test_a_call_ended_while_rabbitmq_is_stopped_arrives_once_it_is_back(
    core: Core, amqp_url: str, event_queue: EventQueue, publisher: AmqpEventPublisher
) -> None:
    core.services.publisher = publisher
    socket = InMemoryMediaSocket()
    call = asyncio.create_task(core.handler.handle(socket))
    socket.feed(twilio.connected())
    socket.feed(twilio.start("CA1"))
    socket.feed(twilio.media(2))
    assert parse_event((await event_queue.next_message()).body).type == "call.started"
    try:
        await asyncio.to_thread(services.rabbit_stop)
        socket.feed(twilio.stop(3))
        assert await asyncio.wait_for(call, 30) == "caller_hung_up"
        assert publisher.pending == 1  # spooled, not lost
    finally:
        await asyncio.to_thread(services.rabbit_start)

    ended = parse_event((await event_queue.next_message(timeout_s=90)).body)
    assert (ended.type, ended.call_sid) == ("call.ended", "CA1")  # type: ignore[union-attr]
    # The spool entry goes once the broker's confirm is back, which can trail the delivery.
    # A publish waits for the drain under way (the spool's lock), then goes straight out.
    await publisher.publish(status_event(9))
    assert publisher.pending == 0
