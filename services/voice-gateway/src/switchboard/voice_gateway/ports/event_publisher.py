"""The event publisher port: where call events go, whatever carries them.

Adapters: RabbitMQ with a spool, the in-process bus of the embedded mode, and
``InMemoryEventPublisher`` for tests.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

from switchboard.common.events import EventBase


class EventPublisher(ABC):
    """Publishes call events; an adapter decides whether that is RabbitMQ or in-process."""

    async def start(self) -> None:  # noqa: B027 - optional hook, most adapters need nothing
        """Open connections and background tasks; called once before the first publish."""

    @abstractmethod
    async def publish(self, event: EventBase) -> None:
        """Hand an event over for delivery; returns once it is confirmed or durably spooled."""

    async def close(self) -> None:  # noqa: B027 - optional hook, most adapters need nothing
        """Stop background work and release connections; unsent events stay spooled."""

    @property
    def pending(self) -> int:
        """How many events wait for delivery (spooled while the broker is unreachable)."""
        return 0


class InMemoryEventPublisher(EventPublisher):
    """Records published events, in order; ``wait_for`` awaits one of a given type."""

    def __init__(self) -> None:
        self.events: list[EventBase] = []
        self._changed = asyncio.Event()

    async def publish(self, event: EventBase) -> None:
        """Record the event."""
        self.events.append(event)
        self._changed.set()

    def of_type(self, event_type: str) -> list[EventBase]:
        """The recorded events of one type, oldest first."""
        return [event for event in self.events if event.type == event_type]

    async def wait_for(self, event_type: str, timeout_s: float = 5.0) -> EventBase:
        """Wait until an event of ``event_type`` has been published and return the first."""
        async with asyncio.timeout(timeout_s):
            while not self.of_type(event_type):
                self._changed.clear()
                await self._changed.wait()
        return self.of_type(event_type)[0]
