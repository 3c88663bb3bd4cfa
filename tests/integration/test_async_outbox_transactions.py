"""The API's outbox publisher sends each batch in one AMQP transaction: a queue deleted after
the publisher first declared it is declared again before the next batch: in a transaction no
return would tell that RabbitMQ dropped the messages."""

from __future__ import annotations

import asyncio
import uuid

import pika

from switchboard.common.jobs.async_outbox import AsyncOutboxPublisher
from switchboard.common.jobs.catalog import ActorSpec
from switchboard.common.settings import Settings
from tests.integration.test_async_outbox_deletes import _committed_rows, _job_ids, _Queue, _rows
from tests.support.factories import make_business
from tests.support.waiting import wait_for


def _delete_queue(amqp_url: str, name: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        connection.channel().queue_delete(name)
    finally:
        connection.close()


async def test_a_queue_deleted_after_the_first_batch_still_gets_the_next(
    pg_rabbit: Settings,
) -> None:
    queue = f"test_tx_{uuid.uuid4().hex[:8]}"
    spec = ActorSpec("test_tx_probe_job", queue, timeout_s=30, max_retries=0)
    first_business, second_business = make_business(), make_business()
    publisher = AsyncOutboxPublisher(pg_rabbit.amqp_url, pg_rabbit.effective_database_url)
    await publisher.start()
    try:
        first = _committed_rows(first_business.id, spec, 2)
        publisher.submit(first)
        arrived = _Queue(pg_rabbit.amqp_url, queue)
        await asyncio.to_thread(
            wait_for, lambda: arrived.holds(_job_ids(first)), timeout=30, what="the first batch"
        )
        _delete_queue(pg_rabbit.amqp_url, queue)  # an operator's cleanup, on a live connection

        second = _committed_rows(second_business.id, spec, 3)
        publisher.submit(second)
        again = _Queue(pg_rabbit.amqp_url, queue)
        await asyncio.to_thread(
            wait_for, lambda: again.holds(_job_ids(second)), timeout=30, what="the second batch"
        )
        await asyncio.to_thread(
            wait_for, lambda: not _rows(second_business.id), timeout=30, what="its rows deleted"
        )
    finally:
        await publisher.stop()
