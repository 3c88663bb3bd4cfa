"""Call events and how they are published: RabbitMQ with confirms and a spool, or in-process.

The gateway publishes; the API consumes. ``parse_event`` turns a JSON body back into a model.
"""

from switchboard.common.events.amqp import AmqpEventPublisher
from switchboard.common.events.fake import InMemoryEventPublisher
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
from switchboard.common.events.publisher import EVENTS_EXCHANGE, EventPublisher
from switchboard.common.events.spool import EventSpool

__all__ = [
    "EVENTS_EXCHANGE",
    "EVENT_TYPES",
    "AmqpEventPublisher",
    "CallEnded",
    "CallEvent",
    "CallStarted",
    "CallStatusChanged",
    "Direction",
    "EventBase",
    "EventPublisher",
    "EventSpool",
    "EventSubscription",
    "InMemoryEventPublisher",
    "InProcessEventBus",
    "RecordingReady",
    "TranscriptTurn",
    "get_in_process_bus",
    "parse_event",
    "topic_matches",
    "utc_now",
]
