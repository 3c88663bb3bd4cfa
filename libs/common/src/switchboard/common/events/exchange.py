"""The durable topic exchange every call event is published to (routing key = event type)."""

from __future__ import annotations

EVENTS_EXCHANGE = "switchboard.events"
