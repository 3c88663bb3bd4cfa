"""Call events as both sides see them: the schemas, the RabbitMQ exchange, the in-process bus.

``amqp.BROKER_ERRORS`` is imported on its own: it brings aio-pika, which only the processes
that speak AMQP asynchronously need.

The voice gateway publishes (its publisher port and adapters live in the gateway); the API
consumes. ``parse_event`` turns a JSON body back into a model.
"""

from switchboard.common.events.exchange import EVENTS_EXCHANGE
from switchboard.common.events.in_process import (
    EventSubscription,
    InProcessEventBus,
    get_in_process_bus,
    topic_matches,
)
from switchboard.common.events.models import (
    EVENT_TYPES,
    CallEnded,
    CallEvent,
    CallStarted,
    CallStatusChanged,
    Direction,
    EventBase,
    RecordingReady,
    TranscriptTurn,
    parse_event,
    utc_now,
)

__all__ = [
    "EVENTS_EXCHANGE",
    "EVENT_TYPES",
    "CallEnded",
    "CallEvent",
    "CallStarted",
    "CallStatusChanged",
    "Direction",
    "EventBase",
    "EventSubscription",
    "InProcessEventBus",
    "RecordingReady",
    "TranscriptTurn",
    "get_in_process_bus",
    "parse_event",
    "topic_matches",
    "utc_now",
]
