"""The worker's share of the outbox relay, so no deployment shape strands a published job.

A worker process relays the outbox itself (:func:`relay_outbox`: rows older than
``OUTBOX_RELAY_MIN_AGE_S``, locked ``SKIP LOCKED`` so two relays never take one row, published
marked ``republished`` so the ledger skips a duplicate), at most every
``OUTBOX_RELAY_INTERVAL_S``. Dramatiq's worker has no loop of its own to hang a timer on and no
thread may be started outside the voice gateway, so the relay runs in the worker loop's own
threads: after a message is processed or skipped, and on each turn of a queue's consumer loop
(:meth:`OutboxRelayMiddleware.tick`, at least once a second when idle). One thread relays at a
time; the others go on at once. So rows a worker wrote while RabbitMQ was down, or that a
dead process left behind, are published within seconds of the broker coming back, with no
scheduler and no API running.

If the worker dies mid-relay, its transaction rolls back and the rows are unlocked: the next
relay (here or in any other process) publishes them, and the ledger skips those already run.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from switchboard.common.jobs.outbox import relay_outbox
from switchboard.common.logging import get_logger, redact

log = get_logger(__name__)


class OutboxRelayMiddleware(Middleware):
    """Relays the outbox from the worker loop, throttled to one relay per ``interval_s``."""

    def __init__(self, interval_s: float = 1.0, min_age_s: float = 2.0) -> None:
        self.interval_s = interval_s
        self.min_age_s = min_age_s
        self._lock = threading.Lock()
        self._next = float("inf")  # nothing before the worker booted (the CLI's parent process)

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        # The first relay, of what a process that died left behind, one interval after the
        # boot: not on the consumers' first turn, where it delayed the first job (a connection
        # and a query before the first message was fetched). Rows are relayed only once they
        # are ``min_age_s`` old anyway.
        self._next = time.monotonic() + self.interval_s

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        self.tick()

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self.tick()

    def tick(self) -> None:
        """Relay if ``interval_s`` has passed and no other thread is relaying; never raises."""
        now = time.monotonic()
        if now < self._next or not self._lock.acquire(blocking=False):
            return
        try:
            if now < self._next:  # another thread relayed while this one reached the lock
                return
            self._next = now + self.interval_s
            relay_outbox(min_age_s=self.min_age_s)
        except Exception as exc:  # the database or broker is away: the next turn retries
            log.warning("outbox.relay_failed", error=redact(f"{type(exc).__name__}: {exc}"))
        finally:
            self._lock.release()
