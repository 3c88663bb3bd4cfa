"""RabbitMQ adapter of the event publisher: publisher confirms, plus a durable local spool.

``publish`` sends straight to the ``switchboard.events`` topic exchange and waits for the
broker's confirm. While the broker is unreachable (or the spool still holds older events,
so order is kept) the event goes to the on-disk spool instead; a background task
reconnects and drains the spool oldest first. Delivery is at least once: an event whose
confirm was lost may be sent twice, so consumers dedupe on ``event_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from switchboard.common.events import EVENTS_EXCHANGE, EventBase
from switchboard.common.events.amqp import BROKER_ERRORS
from switchboard.common.logging import get_logger, redact
from switchboard.voice_gateway.adapters.event_spool import EventSpool
from switchboard.voice_gateway.metrics import (
    EVENTS_PUBLISHED,
    EVENTS_SPOOL_DEPTH,
    EVENTS_SPOOLED,
)
from switchboard.voice_gateway.ports.event_publisher import EventPublisher

log = get_logger(__name__)


class AmqpEventPublisher(EventPublisher):
    """Publishes events to RabbitMQ with confirms, spooling them while it is unreachable."""

    def __init__(
        self,
        amqp_url: str,
        spool_dir: Path,
        *,
        exchange_name: str = EVENTS_EXCHANGE,
        durable_queue: str | None = None,
        publish_timeout_s: float = 5.0,
        reconnect_delay_s: float = 0.5,
        max_reconnect_delay_s: float = 5.0,
    ) -> None:
        self._url = amqp_url
        self._spool = EventSpool(spool_dir)
        self._exchange_name = exchange_name
        self._durable_queue = durable_queue
        self._publish_timeout_s = publish_timeout_s
        self._reconnect_delay_s = reconnect_delay_s
        self._max_reconnect_delay_s = max_reconnect_delay_s
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()
        self._lost = asyncio.Event()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        EVENTS_SPOOL_DEPTH.set(len(self._spool))

    @property
    def pending(self) -> int:
        """Events waiting in the spool."""
        return len(self._spool)

    @property
    def connected(self) -> bool:
        """True while a confirmed channel to the broker is open."""
        return self._exchange is not None

    async def start(self) -> None:
        """Start the background task that connects, reconnects and drains the spool."""
        if self._task is None:
            self._task = asyncio.create_task(self._maintain_connection(), name="event-publisher")

    async def wait_connected(self, timeout_s: float) -> bool:
        """Wait until the broker is connected; False if it was not within ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._connected.wait()
        except TimeoutError:
            return False
        return True

    async def publish(self, event: EventBase) -> None:
        """Publish with confirm, or spool the event if the broker cannot take it now."""
        body = event.to_json_bytes()
        async with self._lock:
            if self._exchange is not None and not self._spool:
                if await self._send(event.routing_key, body, event.event_id):
                    EVENTS_PUBLISHED.labels(type=event.type).inc()
                    return
            # Blocking (fsync) on purpose: it happens only during an outage, a few times a
            # call, and no thread may be started outside the gateway.
            self._spool.append(event.routing_key, body)
            EVENTS_SPOOLED.labels(type=event.type).inc()
            EVENTS_SPOOL_DEPTH.set(len(self._spool))
        log.warning("event_spooled", type=event.type, event_id=event.event_id)

    async def close(self) -> None:
        """Stop reconnecting and close the connection; spooled events stay on disk."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._disconnect()

    async def _send(self, routing_key: str, body: bytes, message_id: str) -> bool:
        exchange = self._exchange
        if exchange is None:
            return False
        message = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            type=routing_key,
        )
        try:
            async with asyncio.timeout(self._publish_timeout_s):
                await exchange.publish(message, routing_key=routing_key, mandatory=False)
        except BROKER_ERRORS as exc:
            log.warning("event_publish_failed", error=redact(repr(exc)))
            self._mark_lost()
            return False
        return True

    def _mark_lost(self, *_: Any) -> None:
        self._exchange = None
        self._connected.clear()
        self._lost.set()

    async def _maintain_connection(self) -> None:
        delay = self._reconnect_delay_s
        while True:
            try:
                await self._connect()
            except BROKER_ERRORS as exc:
                log.info("event_broker_unreachable", error=redact(repr(exc)), retry_in_s=delay)
                await self._disconnect()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_reconnect_delay_s)
                continue
            delay = self._reconnect_delay_s
            await self._drain_spool()
            await self._lost.wait()
            await self._disconnect()

    async def _connect(self) -> None:
        self._lost.clear()
        connection = await aio_pika.connect(self._url, timeout=self._publish_timeout_s)
        self._connection = connection
        connection.close_callbacks.add(self._mark_lost)
        channel: AbstractChannel = await connection.channel(publisher_confirms=True)
        channel.close_callbacks.add(self._mark_lost)
        exchange = await channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        if self._durable_queue:
            queue = await channel.declare_queue(self._durable_queue, durable=True)
            await queue.bind(exchange, routing_key="#")
        self._exchange = exchange
        self._connected.set()
        log.info("event_broker_connected", spooled=len(self._spool))

    async def _drain_spool(self) -> None:
        async with self._lock:
            while (spooled := self._spool.oldest()) is not None:
                event_id = str(json.loads(spooled.body).get("event_id", spooled.path.stem))
                if not await self._send(spooled.routing_key, spooled.body, event_id):
                    return
                self._spool.remove(spooled)
                EVENTS_PUBLISHED.labels(type=spooled.routing_key).inc()
                EVENTS_SPOOL_DEPTH.set(len(self._spool))

    async def _disconnect(self) -> None:
        self._exchange = None
        self._connected.clear()
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(*BROKER_ERRORS):
                await connection.close()
