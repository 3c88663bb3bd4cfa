"""The process-wide Dramatiq broker: RabbitMQ with publisher confirms, or in-process.

Every process publishes through it; a worker process installs its own broker first
(``use_broker``), one whose consumers keep the job ledger current.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import current_millis
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    SkipMessage,
    TimeLimit,
)

from switchboard.common.settings import Settings, get_settings

_broker: dramatiq.Broker | None = None


def max_age_ms(broker: dramatiq.Broker, message: Any) -> int | None:
    """The message's age limit (its own, else its actor's); None: it never expires."""
    limit = message.options.get("max_age")
    if not limit and message.actor_name in broker.actors:
        limit = broker.get_actor(message.actor_name).options.get("max_age")
    return int(limit) if limit else None


class JobAgeLimit(AgeLimit):
    """Dramatiq's age limit, with a clock a drill can move ahead (``JOB_AGE_OFFSET_S``).

    Only messages with a ``max_age`` expire: time-bound jobs (``ActorSpec.ttl_s``). The failed
    message goes to the dead-letter queue; the worker's ledger records why (``expired: …``).
    """

    def __init__(self, *, offset_ms: int = 0) -> None:
        super().__init__()
        self.offset_ms = offset_ms

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        limit = max_age_ms(broker, message)
        if limit and current_millis() + self.offset_ms - message.message_timestamp >= limit:
            self.logger.warning("Message %r has exceeded its age limit.", message.message_id)
            message.fail()
            raise SkipMessage("Message age limit exceeded")


def standard_middleware(settings: Settings) -> list[Middleware]:
    """Dramatiq's middleware every Switchboard broker has: limits, retries, pipelines."""
    return [
        JobAgeLimit(offset_ms=round(settings.job_age_offset_s * 1000)),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(
            min_backoff=settings.job_min_backoff_ms,
            max_backoff=settings.job_max_backoff_ms,
        ),
    ]


def make_broker(settings: Settings) -> dramatiq.Broker:
    """Build the broker the settings ask for (embedded: an in-process stub broker)."""
    if settings.amqp_url:
        return RabbitmqBroker(
            url=settings.amqp_url,
            confirm_delivery=True,
            middleware=standard_middleware(settings),
        )
    return StubBroker(middleware=standard_middleware(settings))


def use_broker(broker: dramatiq.Broker) -> dramatiq.Broker:
    """Make ``broker`` the process-wide broker (a worker process does, before declaring)."""
    global _broker
    if _broker is not None and _broker is not broker:
        _broker.close()
    _broker = broker
    dramatiq.set_broker(broker)
    return broker


def get_broker() -> dramatiq.Broker:
    """The process-wide broker, created from the settings on first use."""
    if _broker is None:
        return use_broker(make_broker(get_settings()))
    return _broker


def reset_broker() -> None:
    """Close and forget the process-wide broker (tests)."""
    global _broker
    if _broker is not None:
        _broker.close()
    _broker = None
