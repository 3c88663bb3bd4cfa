"""Consuming call events: from RabbitMQ (``switchboard.events``) or the in-process bus.

Each event becomes its follow-up jobs through ``enqueue_follow_ups`` (dedup key = event id);
``call.ended`` also writes its transcript and end fields on the call log in that transaction,
so what the event carries is stored before it is acknowledged, worker or no worker, and the
jobs get ids only. The AMQP message is acknowledged only after that transaction committed, so
a crash in between redelivers the event and the dedup keys make the second pass a no-op. The
handler is a few milliseconds of synchronous database work, run on the event loop on purpose
(events are a handful per call, and no thread may be started outside the voice gateway).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from switchboard.common.events import EVENT_TYPES, EVENTS_EXCHANGE, get_in_process_bus, parse_event
from switchboard.common.events.amqp import BROKER_ERRORS
from switchboard.common.logging import get_logger, redact
from switchboard.common.settings import Settings
from switchboard.domain.calls.followups import enqueue_follow_ups

log = get_logger(__name__)

CONSUMER_QUEUE = "switchboard.api.call-events"
#: Failures worth redelivering the event for (the database is briefly unreachable).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, OSError)


class CallEventConsumer:
    """Runs in the API's event loop from its lifespan: ``await start()`` … ``await stop()``."""

    def __init__(
        self,
        settings: Settings,
        *,
        handler: Callable[[Any], object] = enqueue_follow_ups,
        queue_name: str = CONSUMER_QUEUE,
        prefetch: int = 16,
        retry_delay_s: float = 1.0,
    ) -> None:
        self._settings = settings
        self._handler = handler
        self._queue_name = queue_name
        self._prefetch = prefetch
        self._retry_delay_s = retry_delay_s
        self._connection: AbstractRobustConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        """Start consuming in a background task (it connects and reconnects by itself)."""
        if self._task is None:
            target = self._consume_amqp if self._settings.amqp_url else self._consume_in_process
            self._task = asyncio.create_task(target(), name="call-event-consumer")

    async def stop(self) -> None:
        """Stop consuming; unacknowledged events go back to the queue."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._connection is not None:
            with contextlib.suppress(*BROKER_ERRORS):
                await self._connection.close()
            self._connection = None

    def _follow_up(self, event: Any) -> bool:
        """Run the handler; True when done, False when the event should be redelivered."""
        try:
            self._handler(event)
        except TRANSIENT_ERRORS as exc:
            log.warning("call_event.retry_later", event_id=event.event_id, error=_describe(exc))
            return False
        return True

    async def _follow_up_until_done(self, event: Any) -> None:
        # The in-process bus cannot redeliver: keep the event until the database is back.
        for attempt in itertools.count():
            if self._follow_up(event):
                return
            await asyncio.sleep(min(self._retry_delay_s * 2**attempt, 30.0))

    async def _consume_in_process(self) -> None:
        subscription = get_in_process_bus().subscribe("#")
        self.ready.set()
        try:
            async for event in subscription:
                try:
                    await self._follow_up_until_done(event)
                except Exception as exc:  # a poison event must not stop the consumer
                    log.error("call_event.failed", event_id=event.event_id, error=_describe(exc))
        finally:
            subscription.close()

    async def _connect(self) -> None:
        delay = self._retry_delay_s
        while True:
            try:
                self._connection = await aio_pika.connect_robust(self._settings.amqp_url)
                return
            except BROKER_ERRORS as exc:
                log.warning("call_event.broker_unreachable", error=_describe(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _consume_amqp(self) -> None:
        await self._connect()
        assert self._connection is not None
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(self._queue_name, durable=True)
        for event_type in EVENT_TYPES:
            await queue.bind(exchange, routing_key=event_type)
        await queue.consume(self._on_message)
        self.ready.set()
        log.info("call_event.consuming", queue=self._queue_name)
        await asyncio.Future()  # until stop() cancels us; the robust connection reconnects

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            event = parse_event(message.body)
        except ValidationError as exc:
            log.error("call_event.unreadable", message_id=message.message_id, error=_describe(exc))
            await message.reject(requeue=False)
            return
        try:
            done = self._follow_up(event)
        except Exception as exc:  # a poison event must not block the queue: drop it, loudly
            log.error("call_event.failed", event_id=event.event_id, error=_describe(exc))
            await message.reject(requeue=False)
            return
        if done:
            await message.ack()
        else:
            await asyncio.sleep(self._retry_delay_s)
            await message.nack(requeue=True)


def _describe(exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {exc}")[:300]
