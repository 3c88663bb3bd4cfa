"""In-process adapter of the event publisher: the embedded mode's bus, no broker.

The API's call-event consumer subscribes to the same process-wide bus
(``switchboard.common.events.get_in_process_bus``).
"""

from __future__ import annotations

from switchboard.common.events import EventBase, InProcessEventBus, get_in_process_bus
from switchboard.voice_gateway.metrics import EVENTS_PUBLISHED
from switchboard.voice_gateway.ports.event_publisher import EventPublisher


class InProcessEventPublisher(EventPublisher):
    """Hands events to the in-process bus (the process-wide one unless another is given)."""

    def __init__(self, bus: InProcessEventBus | None = None) -> None:
        self._bus = bus or get_in_process_bus()

    async def publish(self, event: EventBase) -> None:
        """Deliver the event to the bus's subscribers (kept there until one subscribes)."""
        self._bus.publish(event)
        EVENTS_PUBLISHED.labels(type=event.type).inc()

    @property
    def pending(self) -> int:
        """Events nobody has subscribed to yet."""
        return self._bus.pending
