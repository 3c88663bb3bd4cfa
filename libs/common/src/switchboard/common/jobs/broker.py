"""The process-wide Dramatiq broker: RabbitMQ with publisher confirms, or in-process."""

from __future__ import annotations

from collections.abc import Iterable

import dramatiq
from dramatiq.broker import Consumer, MessageProxy
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

from switchboard.common.jobs import ledger
from switchboard.common.logging import get_logger, redact
from switchboard.common.settings import Settings, get_settings

log = get_logger(__name__)
_broker: dramatiq.Broker | None = None


class _MarkingConsumer(Consumer):
    """A RabbitMQ consumer that, each time Dramatiq's consumer loop turns, marks fast-path
    jobs that have run for a moment as ``running`` in the ledger (``jobs/inflight.py``).

    The loop turns per message and at least every worker timeout (1 s) when idle, so a long
    job shows ``running`` soon after it starts, with no thread of ours.
    """

    def __init__(self, inner: Consumer) -> None:
        self._inner = inner

    def __next__(self) -> MessageProxy | None:
        try:
            ledger.mark_running_due()
        except Exception as exc:  # the marks are claimed again on the next turn
            log.warning("jobs.running_marks_failed", error=redact(f"{type(exc).__name__}: {exc}"))
        return next(self._inner)

    def ack(self, message: MessageProxy) -> None:
        self._inner.ack(message)

    def nack(self, message: MessageProxy) -> None:
        self._inner.nack(message)

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        self._inner.requeue(messages)

    def close(self) -> None:
        self._inner.close()


class LedgerRabbitmqBroker(RabbitmqBroker):
    """Dramatiq's RabbitMQ broker whose consumers keep fast-path jobs' ledger rows current."""

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        return _MarkingConsumer(super().consume(queue_name, prefetch, timeout))


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
