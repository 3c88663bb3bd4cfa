"""The embedded-mode event bus: an asyncio fan-out inside one process (no RabbitMQ).

The gateway publishes to it (through its in-process publisher adapter) and the API's
consumer subscribes to it when both run in the same process. Routing keys match like an
AMQP topic exchange (``*`` one word, ``#`` any). Events published before anyone subscribes
are kept and handed to the first subscriber.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import lru_cache

from switchboard.common.events.models import EventBase


def topic_matches(pattern: str, routing_key: str) -> bool:
    """True if an AMQP topic binding pattern (``call.*``, ``#``) matches the routing key."""
    return _match(tuple(pattern.split(".")), tuple(routing_key.split(".")))


@lru_cache(maxsize=256)
def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])


class EventSubscription:
    """A subscriber's queue of events; iterate it, or ``await get()``; ``close()`` to leave."""

    def __init__(self, bus: InProcessEventBus, pattern: str) -> None:
        self.pattern = pattern
        self._bus = bus
        self._queue: asyncio.Queue[EventBase] = asyncio.Queue()

    def _offer(self, event: EventBase) -> bool:
        if topic_matches(self.pattern, event.routing_key):
            self._queue.put_nowait(event)
            return True
        return False

    async def get(self) -> EventBase:
        """Wait for the next matching event."""
        return await self._queue.get()

    def get_nowait(self) -> EventBase | None:
        """The next matching event if one is waiting, else None."""
        return None if self._queue.empty() else self._queue.get_nowait()

    def close(self) -> None:
        """Stop receiving events."""
        self._bus._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[EventBase]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[EventBase]:
        while True:
            yield await self._queue.get()


class InProcessEventBus:
    """Fan-out of events to in-process subscribers, with topic-pattern filtering."""

    def __init__(self) -> None:
        self._subscriptions: list[EventSubscription] = []
        self._backlog: list[EventBase] = []

    def subscribe(self, pattern: str = "#") -> EventSubscription:
        """Receive every event whose type matches ``pattern`` from now on (plus the backlog)."""
        subscription = EventSubscription(self, pattern)
        self._subscriptions.append(subscription)
        backlog, self._backlog = self._backlog, []
        for event in backlog:
            if not subscription._offer(event):
                self._backlog.append(event)
        return subscription

    def _unsubscribe(self, subscription: EventSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def publish(self, event: EventBase) -> None:
        """Deliver the event to every matching subscriber (kept for later if none matches)."""
        delivered = False
        for subscription in self._subscriptions:
            delivered = subscription._offer(event) or delivered
        if not delivered:
            self._backlog.append(event)

    @property
    def pending(self) -> int:
        """Events nobody has subscribed to yet."""
        return len(self._backlog)


@lru_cache(maxsize=1)
def get_in_process_bus() -> InProcessEventBus:
    """The process-wide bus shared by the gateway and the API in embedded mode."""
    return InProcessEventBus()
