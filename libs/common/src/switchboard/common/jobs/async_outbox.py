"""Publishing committed outbox messages from an asyncio loop, off the request path.

A web request commits its outbox rows and hands them here; it does not wait for RabbitMQ.
One task publishes what has accumulated as a batch with publisher confirms (aio-pika,
pipelined), then deletes the confirmed rows with one statement. Whatever fails stays in the
outbox for the scheduler's relay, so a crash or a broker outage still loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aio_pika
import psycopg
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL
from dramatiq.common import xq_name

from switchboard.common.jobs.outbox import PendingMessage
from switchboard.common.logging import get_logger, redact

log = get_logger(__name__)

MAX_BATCH = 500
#: How long the publisher lets a batch gather after its first message. Publishing with
#: confirms costs ~0.4 ms of CPU for a lone message here and half that in a batch; a few
#: milliseconds of delay before a background job starts buys that back under load.
LINGER_S = 0.005


def _queue_name(payload: str) -> str:
    # The payload is the Dramatiq message JSON; only its queue name is needed here.
    return str(json.loads(payload)["queue_name"])


class AsyncOutboxPublisher:
    """Batches outbox messages handed over from any thread and publishes them from one task."""

    def __init__(self, amqp_url: str, database_url: str) -> None:
        self._amqp_url = amqp_url
        self._dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
        self._pending: asyncio.Queue[list[PendingMessage]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None
        self._channel: Any = None
        self._declared: set[str] = set()
        self._db: psycopg.AsyncConnection[Any] | None = None

    async def start(self) -> None:
        """Start the publishing task on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._pending = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="outbox-publisher")

    def submit(self, pending: list[PendingMessage]) -> None:
        """Hand over committed messages; safe to call from any thread."""
        assert self._loop is not None and self._pending is not None
        self._loop.call_soon_threadsafe(self._pending.put_nowait, pending)

    async def stop(self) -> None:
        """Publish what is waiting, then close."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pending is not None:
            leftover = [m for _ in range(self._pending.qsize()) for m in self._pending.get_nowait()]
            if leftover:
                await self._publish_batch(leftover)
        if self._connection is not None:
            await self._connection.close()
        if self._db is not None:
            await self._db.close()

    async def _run(self) -> None:
        assert self._pending is not None
        while True:
            batch = list(await self._pending.get())
            await asyncio.sleep(LINGER_S)
            while not self._pending.empty() and len(batch) < MAX_BATCH:
                batch.extend(self._pending.get_nowait())
            await self._publish_batch(batch)

    async def _ensure_channel(self) -> Any:
        if self._channel is None or self._channel.is_closed:
            self._connection = await aio_pika.connect_robust(self._amqp_url)
            self._channel = await self._connection.channel(publisher_confirms=True)
            self._declared.clear()
        return self._channel

    async def _declare(self, channel: Any, queue: str) -> None:
        if queue in self._declared:
            return
        # The same arguments Dramatiq's RabbitMQ broker declares, or the declarations clash.
        await channel.declare_queue(
            queue,
            durable=True,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": xq_name(queue)},
        )
        await channel.declare_queue(
            xq_name(queue), durable=True, arguments={"x-message-ttl": DEAD_MESSAGE_TTL}
        )
        self._declared.add(queue)

    async def _publish_batch(self, batch: list[PendingMessage]) -> None:
        try:
            channel = await self._ensure_channel()
            queues = [_queue_name(payload) for _, payload in batch]
            for queue in set(queues):
                await self._declare(channel, queue)
            results = await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(
                            payload.encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                        ),
                        routing_key=queue,
                        mandatory=True,
                    )
                    for (_, payload), queue in zip(batch, queues, strict=True)
                ),
                return_exceptions=True,
            )
        except Exception as exc:  # broker unreachable: the relay publishes these later
            log.warning(
                "outbox.async_publish_failed",
                count=len(batch),
                error=redact(f"{type(exc).__name__}: {exc}"),
            )
            self._channel = None
            return
        published = [
            oid
            for (oid, _), result in zip(batch, results, strict=True)
            if not isinstance(result, BaseException)
        ]
        if len(published) < len(batch):
            log.warning("outbox.async_publish_partial", published=len(published), total=len(batch))
        if published:
            await self._delete(published)

    async def _delete(self, ids: list[int]) -> None:
        try:
            if self._db is None or self._db.closed:
                self._db = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
                # A delete lost in a PostgreSQL crash only means the relay publishes those
                # messages again, which the ledger makes harmless; not waiting for the WAL
                # flush keeps these commits out of the webhook's own commit queue.
                await self._db.execute("SET synchronous_commit = off")
            await self._db.execute("DELETE FROM outbox WHERE id = ANY(%s)", (ids,))
        except psycopg.Error as exc:  # the rows stay; the relay republishes, the ledger dedupes
            log.warning("outbox.delete_failed", count=len(ids), error=redact(str(exc)))
            self._db = None
