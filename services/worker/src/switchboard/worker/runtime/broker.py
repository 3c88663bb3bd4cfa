"""The broker a worker consumes from, and the ledger middleware every job runs under."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.broker import Consumer
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, CurrentMessage, Middleware, MiddlewareError

from switchboard.common.broker_outage import broker_reachable
from switchboard.common.jobs.broker import get_broker, standard_middleware
from switchboard.common.settings import Settings
from switchboard.worker.runtime.consumer import LedgerConsumer
from switchboard.worker.runtime.fair_share import FairShareMiddleware
from switchboard.worker.runtime.heartbeat import HeartbeatMiddleware
from switchboard.worker.runtime.middleware import LedgerMiddleware
from switchboard.worker.runtime.observability import JobObservability
from switchboard.worker.runtime.outbox_relay import OutboxRelayMiddleware
from switchboard.worker.runtime.owed_marks import defer_retry
from switchboard.worker.runtime.status_files import status_dir

Hook = Callable[..., Any]


class LedgerRabbitmqBroker(RabbitmqBroker):
    """Dramatiq's RabbitMQ broker whose consumers write ledger marks (``consumer.py``).

    Its signals call only the middleware that defines the hook: Dramatiq's own ``emit_*``
    calls every middleware's method for every signal, most of them the base class's no-op
    (a dozen middleware, four signals per job: its loop was a tenth of the worker's Python
    per job in ``py-spy --gil``).
    The hooks are listed per signal on first use, again after ``add_middleware``.
    """

    #: The ledger middleware leaves outcome marks for the consumer (``consumer.owe_outcome``).
    defers_success_marks = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: Each signal's hooks, in call order (Dramatiq's constructor adds middleware).
        self._hooks: dict[str, tuple[Hook, ...]] = {}
        super().__init__(*args, **kwargs)

    def add_middleware(
        self,
        middleware: Middleware,
        *,
        before: type[Middleware] | None = None,
        after: type[Middleware] | None = None,
    ) -> None:
        super().add_middleware(middleware, before=before, after=after)
        self._hooks.clear()

    def _hooks_for(self, name: str, middleware: Any) -> tuple[Hook, ...]:
        """``name``'s hooks among ``middleware`` (in the order given: "after" hooks reversed),
        listed once; the order is the same for every use of a name."""
        hooks = self._hooks.get(name)
        if hooks is None:
            noop = getattr(Middleware, name, None)
            hooks = self._hooks[name] = tuple(
                getattr(m, name)
                for m in middleware
                if name in vars(m) or getattr(type(m), name, noop) is not noop
            )
        return hooks

    def emit_before(self, signal: str, *args: Any, **kwargs: Any) -> None:
        name = "before_" + signal
        for hook in self._hooks_for(name, self.middleware):
            try:
                hook(self, *args, **kwargs)
            except MiddlewareError:  # SkipMessage: Dramatiq's worker acts on it
                raise
            except Exception:
                self.logger.critical(
                    "Unexpected failure in %s of %r.", name, _owner(hook), exc_info=True
                )

    def emit_after(self, signal: str, *args: Any, **kwargs: Any) -> None:
        name = "after_" + signal
        for hook in self._hooks_for(name, reversed(self.middleware)):
            try:
                hook(self, *args, **kwargs)
            except Exception:
                self.logger.critical(
                    "Unexpected failure in %s of %r.", name, _owner(hook), exc_info=True
                )

    def enqueue(self, message: Any, *, delay: int | None = None) -> Any:
        """Publish ``message``; a retry of a delivery (Dramatiq's ``Retries`` enqueues the
        delivery itself) is held back until its failure is recorded (``consumer.py``)."""
        if defer_retry(message, delay):
            return message
        return super().enqueue(message, delay=delay)

    def _publish_now(self, message: Any, delay: int | None) -> Any:
        return super().enqueue(message, delay=delay)

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        inner = super().consume(queue_name, prefetch, timeout)
        broker_reachable()  # connected: says so once after an outage (``broker_outage.py``)
        beat = consumer_turn(self)
        return LedgerConsumer(
            inner, beat, queue_name=queue_name, publish=self._publish_now, prefetch=prefetch
        )


def _owner(hook: Hook) -> Any:
    """The middleware a hook belongs to (the hook itself if it is a plain function)."""
    return getattr(hook, "__self__", hook)


def consumer_turn(broker: dramatiq.Broker) -> Callable[[], None] | None:
    """What every turn of a consumer loop runs (at least once a second), so an idle worker
    still beats and relays what a dead publisher left in the outbox; ``None`` if nothing."""
    hooks: list[Callable[[], None]] = [
        m.beat for m in broker.middleware if isinstance(m, HeartbeatMiddleware)
    ]
    hooks += [m.tick for m in broker.middleware if isinstance(m, OutboxRelayMiddleware)]
    hooks += [m.tick for m in broker.middleware if isinstance(m, FairShareMiddleware)]
    hooks += [m.tick for m in broker.middleware if isinstance(m, JobObservability)]
    if not hooks:
        return None

    def turn() -> None:
        for hook in hooks:
            hook()  # neither raises

    return turn


def _turn_stub_consumers(broker: StubBroker) -> None:
    """Give the in-process broker's consumers the RabbitMQ consumer's turns (``consume``).

    Its consumer loop turns every worker timeout (100 ms) while idle, so the embedded worker
    beats without a thread of its own; the stub's ``consume`` is wrapped on this one object
    because the embedded broker is built in ``switchboard.common``, which knows no worker.
    """
    if getattr(broker, "switchboard_turns", False):
        return
    consume = broker.consume

    def consume_turning(queue_name: str, prefetch: int = 1, timeout: int = 100) -> Consumer:
        return LedgerConsumer(consume(queue_name, prefetch, timeout), beat=consumer_turn(broker))

    setattr(broker, "consume", consume_turning)  # noqa: B010 (mypy refuses assigning a method)
    setattr(broker, "switchboard_turns", True)  # noqa: B010


def worker_broker(settings: Settings) -> dramatiq.Broker:
    """The broker of a worker process: RabbitMQ's with ledger consumers, or in-process."""
    if not settings.amqp_url:  # one in-process broker shared by every role of the process
        return install_runtime(get_broker(), settings)
    broker = LedgerRabbitmqBroker(
        url=settings.amqp_url, confirm_delivery=True, middleware=standard_middleware(settings)
    )
    return install_runtime(broker, settings)


def install_runtime(broker: dramatiq.Broker, settings: Settings) -> dramatiq.Broker:
    """Add the worker's middleware to ``broker`` once: fair share, ledger, job metrics,
    heartbeats, outbox relay, message; an in-process broker's consumers turn like RabbitMQ's
    (beats when idle).

    The ledger goes first: its "before" hooks run before the age and time limits look at a
    message, and Dramatiq runs "after" hooks in reverse, so it sees the Retries verdict.
    """
    present = {type(middleware) for middleware in broker.middleware}
    if LedgerMiddleware not in present:
        ledger = LedgerMiddleware(
            max_unfinished_deliveries=settings.job_max_unfinished_deliveries,
            stale_after_s=settings.worker_stale_after_s,
        )
        broker.add_middleware(ledger, before=AgeLimit)
    if FairShareMiddleware not in present:  # before the ledger: a parked job never starts
        broker.add_middleware(FairShareMiddleware(), before=LedgerMiddleware)
    if JobObservability not in present:  # after the ledger: sees the Retries verdict too
        broker.add_middleware(JobObservability(status_dir()), after=LedgerMiddleware)
    if CurrentMessage not in present:
        broker.add_middleware(CurrentMessage())
    if HeartbeatMiddleware not in present:
        broker.add_middleware(HeartbeatMiddleware(settings.worker_heartbeat_interval_s))
    if OutboxRelayMiddleware not in present:
        broker.add_middleware(
            OutboxRelayMiddleware(settings.outbox_relay_interval_s, settings.outbox_relay_min_age_s)
        )
    if isinstance(broker, StubBroker):
        _turn_stub_consumers(broker)
    return broker
