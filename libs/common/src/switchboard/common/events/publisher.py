"""The event publisher port: where call events go, whatever carries them."""

from __future__ import annotations

from abc import ABC, abstractmethod

from switchboard.common.events.models import EventBase

#: The durable topic exchange every call event is published to.
EVENTS_EXCHANGE = "switchboard.events"


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
