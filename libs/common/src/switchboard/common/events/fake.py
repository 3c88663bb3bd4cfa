"""An in-memory event publisher for tests: keeps what was published, in order."""

from __future__ import annotations

import asyncio

from switchboard.common.events.models import EventBase
from switchboard.common.events.publisher import EventPublisher


class InMemoryEventPublisher(EventPublisher):
    """Records published events; ``wait_for`` awaits one of a given type."""

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
