"""The broker a worker consumes from, and the ledger middleware every job runs under."""

from __future__ import annotations

import dramatiq
from dramatiq.broker import Consumer
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import AgeLimit, CurrentMessage

from switchboard.common.jobs.broker import get_broker, standard_middleware
from switchboard.common.settings import Settings
from switchboard.worker.runtime.consumer import LedgerConsumer
from switchboard.worker.runtime.heartbeat import HeartbeatMiddleware
from switchboard.worker.runtime.middleware import LedgerMiddleware


class LedgerRabbitmqBroker(RabbitmqBroker):
    """Dramatiq's RabbitMQ broker whose consumers write ledger marks (``consumer.py``)."""

    #: The ledger middleware leaves success marks for the consumer (``consumer.owe_success``).
    defers_success_marks = True

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        return LedgerConsumer(super().consume(queue_name, prefetch, timeout))


def worker_broker(settings: Settings) -> dramatiq.Broker:
    """The broker of a worker process: RabbitMQ's with ledger consumers, or in-process."""
    if not settings.amqp_url:  # one in-process broker shared by every role of the process
        return install_runtime(get_broker(), settings)
    broker = LedgerRabbitmqBroker(
        url=settings.amqp_url, confirm_delivery=True, middleware=standard_middleware(settings)
    )
    return install_runtime(broker, settings)


def install_runtime(broker: dramatiq.Broker, settings: Settings) -> dramatiq.Broker:
    """Add the worker's middleware to ``broker`` once: the ledger, heartbeats, current message.

    The ledger goes first: its "before" hooks run before the age and time limits look at a
    message, and Dramatiq runs "after" hooks in reverse, so it sees the Retries verdict.
    """
    present = {type(middleware) for middleware in broker.middleware}
    if LedgerMiddleware not in present:
        ledger = LedgerMiddleware(max_unfinished_deliveries=settings.job_max_unfinished_deliveries)
        broker.add_middleware(ledger, before=AgeLimit)
    if CurrentMessage not in present:
        broker.add_middleware(CurrentMessage())
    if HeartbeatMiddleware not in present:
        broker.add_middleware(HeartbeatMiddleware())
    return broker
