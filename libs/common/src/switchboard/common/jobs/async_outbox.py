"""Publishing committed outbox messages from an asyncio loop, off the request path.

A web request commits its outbox rows and hands them here; it does not wait for RabbitMQ.
One task publishes what has accumulated as a batch with publisher confirms (aio-pika,
pipelined; a message RabbitMQ returns as unroutable is not published), then deletes the
confirmed rows with one statement, gathered over up to ``DELETE_LINGER_S`` (a quarter of the
relay's age bound at most, so no relay takes a row already published): at a webhook every
50 ms that is one delete for several messages instead of a round trip and a commit each.
Whatever fails stays in the outbox.

A second task relays: every ``relay_interval_s`` it publishes outbox rows older than
``relay_min_age_s``, whoever wrote them (this process while the broker was down, a process
that died between commit and publish), like the scheduler's :func:`relay_outbox`: the rows
are locked for the transaction (``SKIP LOCKED``: two relays never take the same row),
published marked ``republished`` and deleted in the same transaction. So an API alone
publishes its rows within seconds of the broker coming back; a message published twice (its
publisher was slower than the age bound) is skipped by the worker's ledger.

If the process dies mid-way, its unconfirmed rows stay and the next relay, here or in any
other process, publishes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from typing import Any

import aio_pika
import psycopg
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL
from dramatiq.common import xq_name

from switchboard.common.db import planner
from switchboard.common.db.base import utcnow
from switchboard.common.jobs.outbox import PendingMessage, mark_republished
from switchboard.common.logging import get_logger, redact

log = get_logger(__name__)

MAX_BATCH = 500
#: How long the publisher lets a batch gather after its first message. Publishing with
#: confirms costs ~0.4 ms of CPU for a lone message here and half that in a batch; a few
#: milliseconds of delay before a background job starts buys that back under load.
LINGER_S = 0.005
#: How long confirmed rows wait to be deleted together (at most; ``MAX_BATCH`` of them go at
#: once). A row still there when the process dies is published again by a relay, and the
#: worker's ledger skips the copy.
DELETE_LINGER_S = 0.25
#: A connection, or a publish's confirm, that takes longer counts as failed.
BROKER_TIMEOUT_S = 10.0
_SELECT_DUE = (
    "SELECT id, payload FROM outbox WHERE created_at <= %s ORDER BY id LIMIT %s "
    "FOR UPDATE SKIP LOCKED"
)
_DELETE = "DELETE FROM outbox WHERE id = ANY(%s)"


def _queue_name(payload: str) -> str:
    # The payload is the Dramatiq message JSON; only its queue name is needed here.
    return str(json.loads(payload)["queue_name"])


def _describe(exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {exc}")[:300]


class AsyncOutboxPublisher:
    """Batches outbox messages handed over from any thread and publishes them from one task;
    with ``relay_interval_s``, a second task relays what is left in the outbox."""

    def __init__(
        self,
        amqp_url: str,
        database_url: str,
        *,
        relay_interval_s: float | None = None,
        relay_min_age_s: float = 2.0,
        delete_linger_s: float = DELETE_LINGER_S,
    ) -> None:
        self._amqp_url = amqp_url
        self._dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
        self._relay_interval_s = relay_interval_s
        self._relay_min_age_s = relay_min_age_s
        self._pending: asyncio.Queue[list[PendingMessage]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._connection: Any = None
        self._channel: Any = None
        self._connecting = asyncio.Lock()
        self._declared: set[str] = set()
        self._db: psycopg.AsyncConnection[Any] | None = None
        self._relay_db: psycopg.AsyncConnection[Any] | None = None
        self._relay_stalled = False  # the last relay found rows and published none
        #: Confirmed rows not deleted yet, and when the first of them was confirmed.
        self._confirmed: list[int] = []
        self._confirmed_at = 0.0
        self._delete_linger_s = min(delete_linger_s, relay_min_age_s / 4)

    async def start(self) -> None:
        """Start the publishing task (and the relay's) on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._pending = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._run(), name="outbox-publisher")]
        if self._relay_interval_s is not None:
            self._tasks.append(asyncio.create_task(self._relay_forever(), name="outbox-relay"))

    def submit(self, pending: list[PendingMessage]) -> None:
        """Hand over committed messages; safe to call from any thread."""
        assert self._loop is not None and self._pending is not None
        self._loop.call_soon_threadsafe(self._pending.put_nowait, pending)

    async def stop(self) -> None:
        """Publish what is waiting, then close."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._pending is not None:
            leftover = [m for _ in range(self._pending.qsize()) for m in self._pending.get_nowait()]
            if leftover:
                await self._publish_batch(leftover)
        await self._delete_confirmed()
        await self._close_broker()
        for db in (self._db, self._relay_db):
            if db is not None:
                await db.close()
        self._db = self._relay_db = None

    async def relay(self, *, min_age_s: float, batch_size: int = MAX_BATCH) -> int:
        """Publish outbox rows older than ``min_age_s`` that nobody else is publishing; return
        how many went out (the asynchronous twin of :func:`relay_outbox`)."""
        if self._relay_db is None or self._relay_db.closed:
            self._relay_db = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
        db = self._relay_db
        cutoff = utcnow() - timedelta(seconds=min_age_s)
        async with db.transaction():
            cursor = await db.execute(_SELECT_DUE, (cutoff, batch_size))
            rows = await cursor.fetchall()
            if not rows:
                return 0
            published = await self._publish(
                [(outbox_id, mark_republished(payload)) for outbox_id, payload in rows],
                quiet=self._relay_stalled,  # one warning per outage, not one per turn
            )
            if published:
                await db.execute(_DELETE, (published,))
        self._relay_stalled = not published
        if published:
            log.info("outbox.relayed", count=len(published), waiting=len(rows) - len(published))
        return len(published)

    async def _relay_forever(self) -> None:
        assert self._relay_interval_s is not None
        while True:
            await asyncio.sleep(self._relay_interval_s)
            try:
                while await self.relay(min_age_s=self._relay_min_age_s) == MAX_BATCH:
                    pass  # a backlog: go on at once
            except Exception as exc:  # the database or broker is away: the next turn retries
                log.warning("outbox.relay_failed", error=_describe(exc))
                if self._relay_db is not None:
                    with contextlib.suppress(Exception):
                        await self._relay_db.close()
                self._relay_db = None

    async def _run(self) -> None:
        assert self._pending is not None
        loop = asyncio.get_running_loop()
        while True:
            if self._confirmed:  # wait for more only until the confirmed rows are due
                due = self._confirmed_at + self._delete_linger_s - loop.time()
                try:
                    first = await asyncio.wait_for(self._pending.get(), max(due, 0))
                except TimeoutError:
                    await self._delete_confirmed()
                    continue
            else:
                first = await self._pending.get()
            batch = list(first)
            await asyncio.sleep(LINGER_S)
            while not self._pending.empty() and len(batch) < MAX_BATCH:
                batch.extend(self._pending.get_nowait())
            await self._publish_batch(batch)
            if len(self._confirmed) >= MAX_BATCH or (
                self._confirmed and loop.time() >= self._confirmed_at + self._delete_linger_s
            ):
                await self._delete_confirmed()

    async def _ensure_channel(self) -> Any:
        async with self._connecting:  # the publisher and the relay share one connection
            if self._channel is None or self._channel.is_closed:
                await self._close_broker()
                self._connection = await aio_pika.connect(self._amqp_url, timeout=BROKER_TIMEOUT_S)
                # A message RabbitMQ returns (its queue deleted since we declared it) fails
                # its publish (aio-pika's default takes the return's ack for a delivery): its
                # row stays for the relay, which declares the queue again on a new connection.
                self._channel = await self._connection.channel(
                    publisher_confirms=True, on_return_raises=True
                )
                self._declared.clear()
            return self._channel

    async def _close_broker(self, failed: Any = None) -> None:
        """Close the connection (only if its channel is still ``failed``, when given)."""
        if failed is not None and self._channel is not failed:
            return  # another task has already replaced it
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), BROKER_TIMEOUT_S)

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

    async def _publish(self, batch: list[PendingMessage], *, quiet: bool = False) -> list[int]:
        """Publish with confirms; the ids the broker confirmed (none if it is unreachable)."""
        channel = None
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
                        timeout=BROKER_TIMEOUT_S,
                    )
                    for (_, payload), queue in zip(batch, queues, strict=True)
                ),
                return_exceptions=True,
            )
        except Exception as exc:  # broker unreachable: the rows stay for the relay
            if not quiet:
                log.warning("outbox.async_publish_failed", count=len(batch), error=_describe(exc))
            if channel is not None:
                await self._close_broker(channel)
            return []
        published = [
            oid
            for (oid, _), result in zip(batch, results, strict=True)
            if not isinstance(result, BaseException)
        ]
        if len(published) < len(batch):
            log.warning("outbox.async_publish_partial", published=len(published), total=len(batch))
            await self._close_broker(channel)  # a lost connection shows as failed confirms
        return published

    async def _publish_batch(self, batch: list[PendingMessage]) -> None:
        """Publish; the confirmed rows wait to be deleted together (``_delete_confirmed``)."""
        published = await self._publish(batch)
        if published and not self._confirmed:
            self._confirmed_at = asyncio.get_running_loop().time()
        self._confirmed.extend(published)

    async def _delete_confirmed(self) -> None:
        ids, self._confirmed = self._confirmed, []
        if not ids:
            return
        try:
            await self._delete(ids)
        except asyncio.CancelledError:  # stopping: ``stop`` deletes them on a new connection
            self._confirmed = ids + self._confirmed
            self._db = None
            raise

    async def _delete(self, ids: list[int]) -> None:
        try:
            if self._db is None or self._db.closed:
                self._db = await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True, options=planner.session_options()
                )  # deletes by id: never a scan of an outbox grown while the broker was away
                # A delete lost in a PostgreSQL crash only means the relay publishes those
                # messages again, which the ledger makes harmless; not waiting for the WAL
                # flush keeps these commits out of the webhook's own commit queue.
                await self._db.execute("SET synchronous_commit = off")
            await self._db.execute(_DELETE, (ids,))
        except psycopg.Error as exc:  # the rows stay; the relay republishes, the ledger dedupes
            log.warning("outbox.delete_failed", count=len(ids), error=redact(str(exc)))
            self._db = None
