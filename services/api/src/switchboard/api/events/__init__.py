"""The API's call-event consumer: gateway events in, follow-up jobs out."""

from switchboard.api.events.consumer import CONSUMER_QUEUE, CallEventConsumer

__all__ = ["CONSUMER_QUEUE", "CallEventConsumer"]
