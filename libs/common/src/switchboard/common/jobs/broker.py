"""The process-wide Dramatiq broker: RabbitMQ with publisher confirms, or in-process."""

from __future__ import annotations

import dramatiq
from dramatiq.broker import Consumer
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from switchboard.common.jobs.consumer import LedgerConsumer
from switchboard.common.settings import Settings, get_settings

_broker: dramatiq.Broker | None = None


class LedgerRabbitmqBroker(RabbitmqBroker):
    """Dramatiq's RabbitMQ broker whose consumers write ledger marks (``consumer.py``)."""

    #: The ledger middleware leaves success marks for the consumer (``consumer.owe_success``).
    defers_success_marks = True

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        return LedgerConsumer(super().consume(queue_name, prefetch, timeout))


def _middleware(settings: Settings) -> list[Middleware]:
    from switchboard.common.jobs.middleware import LedgerMiddleware

    # The ledger goes first: its "before" hooks run before the age and time limits look at a
    # message, and Dramatiq runs "after" hooks in reverse, so it sees the Retries verdict.
    return [
        LedgerMiddleware(max_unfinished_deliveries=settings.job_max_unfinished_deliveries),
        AgeLimit(),
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
        return LedgerRabbitmqBroker(
            url=settings.amqp_url, confirm_delivery=True, middleware=_middleware(settings)
        )
    return StubBroker(middleware=_middleware(settings))


def get_broker() -> dramatiq.Broker:
    """The process-wide broker, created and installed as Dramatiq's global broker once."""
    global _broker
    if _broker is None:
        _broker = make_broker(get_settings())
        dramatiq.set_broker(_broker)
    return _broker


def reset_broker() -> None:
    """Close and forget the process-wide broker (tests)."""
    global _broker
    if _broker is not None:
        _broker.close()
    _broker = None
