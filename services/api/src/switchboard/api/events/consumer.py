"""Consuming call events: from RabbitMQ (``switchboard.events``) or the in-process bus.

Each event becomes its follow-up jobs through ``enqueue_follow_ups`` (dedup key = event id);
``call.ended`` also writes its transcript and end fields on the call log in that transaction,
so what the event carries is stored before it is acknowledged, worker or no worker, and the
jobs get ids only. The handler is a few milliseconds of synchronous database work, run on the
event loop on purpose (events are a handful per call, and no thread may be started outside
the voice gateway).

No event is dropped. One the handler cannot take is parked (``parking.py``, a table, so it
survives restarts) and only then acknowledged: a body that is not a call event and a refusal no
retry can change (``NotFoundError``: a call sid another business has, a business that does not
exist) at once, any other error after ``attempts`` tries. A transient failure (the database
unreachable, a lock or statement timeout) is not the event's fault: the event goes back to the
queue after a pause that doubles with each failure in a row, up to 30 s, and so does an event
whose parking failed that way. An event whose facts no row can hold (a call sid too long or with
a NUL, a business id past BIGINT) is parked without them (``parking.park``): kept and
acknowledged, never retried for ever. The in-process bus of embedded mode follows the same
rules, keeping the event and trying it again instead of requeueing it.

If the API dies mid-way, an unacknowledged event is redelivered: a handled one's dedup keys
make the second pass a no-op, and parking again updates the same row.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
from collections.abc import Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from switchboard.api.events.parking import describe_error, park
from switchboard.common.events import (
    EVENT_TYPES,
    EVENTS_EXCHANGE,
    EventBase,
    get_in_process_bus,
    parse_event,
)
from switchboard.common.events.amqp import BROKER_ERRORS
from switchboard.common.jobs.errors import PERMANENT_ERRORS
from switchboard.common.logging import get_logger
from switchboard.common.settings import Settings
from switchboard.domain.calls.followups import enqueue_follow_ups

log = get_logger(__name__)

CONSUMER_QUEUE = "switchboard.api.call-events"
#: Failures worth trying the event again for (the database is briefly unreachable or busy).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    OSError,
)
#: Failures another try cannot change: the event is parked at once.
REFUSALS: tuple[type[Exception], ...] = (ValidationError, *PERMANENT_ERRORS)
MAX_RETRY_DELAY_S = 30.0
CLOSE_TIMEOUT_S = 5.0


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
        attempts: int = 3,
    ) -> None:
        self._settings = settings
        self._handler = handler
        self._queue_name = queue_name
        self._prefetch = prefetch
        self._retry_delay_s = retry_delay_s
        self._attempts = max(1, attempts)
        #: Transient failures in a row per event (a body's hash), for the backoff.
        self._failures: dict[str, int] = {}
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
            # A robust connection that is reconnecting may never answer its close: the API's
            # shutdown does not wait for it (the broker drops the socket with the process).
            with contextlib.suppress(*BROKER_ERRORS, TimeoutError):
                await asyncio.wait_for(self._connection.close(), CLOSE_TIMEOUT_S)
            self._connection = None

    async def settle(self, body: bytes, event: EventBase | None = None) -> bool:
        """Handle one event: True once it is handled or parked, False to try it again later."""
        try:
            error: Exception | None = None
            if event is None:
                try:
                    event = parse_event(body)
                except ValidationError as exc:
                    error = exc
            if event is not None:
                error = await self._handle(event)
            if error is not None:
                park(body, error, event)
        except TRANSIENT_ERRORS as exc:
            log.warning(
                "call_event.retry_later",
                event_id=event.event_id if event is not None else None,
                error=describe_error(exc),
            )
            return False
        except Exception as exc:  # parking was refused: keep the event rather than lose it
            log.error("call_event.park_failed", error=describe_error(exc))
            return False
        return True

    async def _handle(self, event: EventBase) -> Exception | None:
        """None once handled; else the error to park the event with (transient ones raise)."""
        for attempt in range(1, self._attempts + 1):
            try:
                self._handler(event)
                return None
            except TRANSIENT_ERRORS:
                raise
            except REFUSALS as exc:
                return exc
            except Exception as exc:
                if attempt == self._attempts:
                    return exc
                log.warning(
                    "call_event.failed_attempt",
                    event_id=event.event_id,
                    attempt=attempt,
                    error=describe_error(exc),
                )
                await asyncio.sleep(self._retry_delay_s * attempt)
        raise AssertionError("unreachable")

    def _pause(self, key: str) -> float:
        """How long to wait before the next try of an event that failed transiently."""
        if len(self._failures) > 10_000:  # events that never came back: forget them
            self._failures.clear()
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        return float(min(self._retry_delay_s * 2**failures, MAX_RETRY_DELAY_S))

    async def _consume_in_process(self) -> None:
        subscription = get_in_process_bus().subscribe("#")
        self.ready.set()
        try:
            async for event in subscription:
                body = event.to_json_bytes()
                # The bus cannot redeliver: keep the event until it is handled or parked.
                for _ in itertools.count():
                    if await self.settle(body, event):
                        break
                    await asyncio.sleep(self._pause(event.event_id))
                self._failures.pop(event.event_id, None)
        finally:
            subscription.close()

    async def _connect(self) -> None:
        delay = self._retry_delay_s
        while True:
            try:
                self._connection = await aio_pika.connect_robust(self._settings.amqp_url)
                return
            except BROKER_ERRORS as exc:
                log.warning(
                    "call_event.broker_unreachable", error=describe_error(exc), retry_in_s=delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY_S)

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
        key = hashlib.sha1(message.body, usedforsecurity=False).hexdigest()
        if await self.settle(message.body):
            self._failures.pop(key, None)
            await message.ack()
            return
        # Back to the queue after a pause; meanwhile the other prefetched events go on.
        await asyncio.sleep(self._pause(key))
        await message.nack(requeue=True)
