"""The process-wide Dramatiq broker: RabbitMQ with publisher confirms, or in-process.

Every process publishes through it; a worker process installs its own broker first
(``use_broker``), one whose consumers keep the job ledger current. A batch of messages goes
out in one AMQP transaction (``publish_many``): one round trip for the batch where publisher
confirms cost one per message.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import dramatiq
import pika
from dramatiq import Message
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


#: Each thread's transactional channel, on its broker connection (``publish_many``).
_tx = threading.local()


class UnroutableError(Exception):
    """RabbitMQ returned a message of the batch: no queue of its name exists."""


def _tx_channel(broker: RabbitmqBroker) -> Any:
    """This thread's channel in transaction mode, on this thread's broker connection."""
    connection = broker.connection
    channel = getattr(_tx, "channel", None)
    if channel is None or not channel.is_open or channel.connection is not connection:
        channel = connection.channel()
        channel.tx_select()
        channel.add_on_return_callback(lambda _ch, _method, _props, _body: _tx.returned.append(1))
        _tx.channel = channel
    _tx.returned = []
    return channel


def _publish_in_transaction(broker: RabbitmqBroker, messages: Sequence[Message[Any]]) -> None:
    """Publish ``messages`` in one transaction, on a new connection if the thread's was gone.

    Until ``tx.commit`` is sent nothing is published (RabbitMQ drops an open transaction with
    its channel), so a failure before it is tried once more on a new connection: a thread's
    connection can die while it is idle (a broker restart, missed heartbeats). A failure
    during the commit is not: RabbitMQ may hold the messages, and the caller's fallback (the
    outbox relay) marks them republished.
    """
    for attempt in (1, 2):
        committing = False
        try:
            channel = _tx_channel(broker)
            channel.connection.process_data_events(time_limit=0)  # a closed socket shows here
            for message in messages:
                broker.declare_queue(message.queue_name, ensure=True)
                broker.emit_before("enqueue", message, None)
                channel.basic_publish(
                    exchange="",
                    routing_key=message.queue_name,
                    body=message.encode(),
                    properties=pika.BasicProperties(
                        delivery_mode=2, priority=message.options.get("broker_priority")
                    ),
                    mandatory=True,
                )
            # RabbitMQ answers commit-ok once it holds every message (persistent ones
            # written), after returning any it could not route.
            committing = True
            channel.tx_commit()
            channel.connection.process_data_events(time_limit=0)  # runs the return callbacks
            break
        except Exception:
            _tx.channel = None
            del broker.connection  # closes it: the next publish opens a new one
            if committing or attempt == 2:
                raise
    if _tx.returned:
        raise UnroutableError(f"{len(_tx.returned)} of {len(messages)} messages unroutable")
    for message in messages:
        broker.emit_after("enqueue", message, None)


def publish_many(messages: Sequence[Message[Any]]) -> tuple[int, Exception | None]:
    """Publish ``messages`` through the process-wide broker, in order.

    Returns how many the broker took (the first ones) and the error that stopped the rest, if
    any. Over RabbitMQ a batch goes in one transaction: all or none (a failed commit, or a
    message returned as unroutable, fails the whole batch; the caller publishes it again, so
    a message may then arrive twice, as when a confirm is lost). A single message, or any on
    the in-process broker, is published with ``broker.enqueue`` (confirmed).
    """
    broker = get_broker()
    if len(messages) > 1 and isinstance(broker, RabbitmqBroker):
        try:
            _publish_in_transaction(broker, messages)
        except Exception as exc:
            return 0, exc
        return len(messages), None
    for count, message in enumerate(messages):
        try:
            broker.enqueue(message)
        except Exception as exc:
            return count, exc
    return len(messages), None
