"""The API's outbox publisher deletes the rows RabbitMQ confirmed together: within its linger
when nothing else comes, and at once when it stops; a message RabbitMQ returns is not one."""

from __future__ import annotations

import asyncio
import uuid

import pika
import pika.exceptions
from dramatiq import Message
from sqlalchemy import select

from switchboard.common.db import system_session, tenant_session
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.async_outbox import AsyncOutboxPublisher
from switchboard.common.jobs.catalog import ActorSpec
from switchboard.common.models import OutboxMessage
from switchboard.common.settings import Settings
from tests.support.factories import make_business
from tests.support.waiting import wait_for


def _committed_rows(business_id: int, spec: ActorSpec, n: int) -> list[tuple[int, str]]:
    """``n`` jobs committed with their outbox rows, not published: (outbox id, payload)."""
    for _ in range(n):
        with tenant_session(business_id) as session:
            enqueue(spec, business_id=business_id)
            session.info.pop("outbox_pending")  # this test hands them to the publisher
    return _rows(business_id)


def _rows(business_id: int) -> list[tuple[int, str]]:
    with system_session() as session:
        query = select(OutboxMessage.id, OutboxMessage.payload).where(
            OutboxMessage.business_id == business_id
        )
        return [(int(row_id), str(payload)) for row_id, payload in session.execute(query)]


class _Queue:
    """The messages that reached a RabbitMQ queue, taken off it as they come."""

    def __init__(self, amqp_url: str, name: str) -> None:
        self.amqp_url, self.name = amqp_url, name
        self.ids: set[str] = set()

    def holds(self, expected: set[str]) -> bool:
        connection = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
        try:
            channel = connection.channel()
            while True:
                try:
                    method, _, body = channel.basic_get(self.name, auto_ack=True)
                except pika.exceptions.ChannelClosedByBroker:  # not declared yet: none came
                    return False
                if method is None:
                    return expected <= self.ids
                self.ids.add(Message.decode(body).message_id)
        finally:
            connection.close()


def _job_ids(rows: list[tuple[int, str]]) -> set[str]:
    return {Message.decode(payload.encode()).message_id for _, payload in rows}


async def test_confirmed_rows_are_deleted_together_after_the_linger_and_when_it_stops(
    pg_rabbit: Settings,
) -> None:
    queue = f"test_deletes_{uuid.uuid4().hex[:8]}"
    spec = ActorSpec("test_deletes_probe_job", queue, timeout_s=30, max_retries=0)
    business, other = make_business(), make_business()
    arrived = _Queue(pg_rabbit.amqp_url, queue)

    # A linger longer than the test: the confirmed rows wait, and stopping deletes them.
    patient = AsyncOutboxPublisher(
        pg_rabbit.amqp_url, pg_rabbit.effective_database_url, delete_linger_s=600
    )
    await patient.start()
    rows = _committed_rows(business.id, spec, 3)
    try:
        for row in rows:  # three webhooks, one after the other
            patient.submit([row])
        await asyncio.to_thread(
            wait_for, lambda: arrived.holds(_job_ids(rows)), timeout=30, what="the messages"
        )
        assert sorted(_rows(business.id)) == sorted(rows)  # published, not deleted yet
    finally:
        await patient.stop()
    assert _rows(business.id) == []

    # The default linger: deleted a moment after the publish, with nothing else submitted.
    publisher = AsyncOutboxPublisher(pg_rabbit.amqp_url, pg_rabbit.effective_database_url)
    await publisher.start()
    rows = _committed_rows(other.id, spec, 2)
    try:
        publisher.submit(rows)
        await asyncio.to_thread(
            wait_for, lambda: not _rows(other.id), timeout=10, what="the rows deleted"
        )
        assert await asyncio.to_thread(arrived.holds, _job_ids(rows))
    finally:
        await publisher.stop()


async def test_a_message_rabbitmq_returns_keeps_its_row_until_a_relay_delivers_it(
    pg_rabbit: Settings,
) -> None:
    """Its queue deleted after the publisher declared it, RabbitMQ returns the message (it was
    published ``mandatory``) and acks it: that is no delivery. The row stays, and the next
    relay, on a new connection, declares the queue again and delivers it."""
    queue = f"test_returns_{uuid.uuid4().hex[:8]}"
    spec = ActorSpec("test_returns_probe_job", queue, timeout_s=30, max_retries=0)
    business = make_business()
    arrived = _Queue(pg_rabbit.amqp_url, queue)
    publisher = AsyncOutboxPublisher(pg_rabbit.amqp_url, pg_rabbit.effective_database_url)
    await publisher.start()
    try:
        first = _committed_rows(business.id, spec, 1)
        publisher.submit(first)  # declares the queue
        await asyncio.to_thread(
            wait_for, lambda: not _rows(business.id), timeout=10, what="the first row deleted"
        )
        assert await asyncio.to_thread(arrived.holds, _job_ids(first))
        connection = pika.BlockingConnection(pika.URLParameters(pg_rabbit.amqp_url))
        try:
            connection.channel().queue_delete(queue)
        finally:
            connection.close()

        second = _committed_rows(business.id, spec, 1)
        assert await publisher.relay(min_age_s=0) == 0  # returned: not published
        assert _rows(business.id) == second
        assert await publisher.relay(min_age_s=0) == 1
        assert _rows(business.id) == []
        assert await asyncio.to_thread(arrived.holds, _job_ids(first) | _job_ids(second))
    finally:
        await publisher.stop()
        connection = pika.BlockingConnection(pika.URLParameters(pg_rabbit.amqp_url))
        try:
            channel = connection.channel()
            channel.queue_delete(queue)
            channel.queue_delete(f"{queue}.XQ")
        finally:
            connection.close()
