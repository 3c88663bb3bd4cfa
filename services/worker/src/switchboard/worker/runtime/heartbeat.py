"""The worker's heartbeat: a ``worker_heartbeats`` row per process, beaten from the worker loop.

No thread of its own (a thread would outlive a stuck worker loop and hide it): the row is written
when the worker boots and then, at most every ``interval_s``, each time a consumer's loop turns
(``consumer.py``: per delivery, and at least every second when idle; the embedded broker's
consumers turn the same way, ``broker.py``) or a message was processed. A worker whose row is
older than ``WORKER_STALE_AFTER_S`` is presumed dead, and the job it was running may be taken
over (``middleware.py``).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from switchboard.common.db.base import utcnow
from switchboard.common.logging import get_logger, redact
from switchboard.worker.runtime.ledger_connections import execute
from switchboard.worker.runtime.ledger_statements import BEAT

log = get_logger(__name__)

_identity: tuple[int, str] = (0, "")


def worker_identity() -> str:
    """This process's name in ``worker_heartbeats`` and ``jobs.worker_id``: ``host:pid``."""
    global _identity
    pid = os.getpid()
    if _identity[0] != pid:  # computed once per process (Dramatiq forks its workers)
        _identity = (pid, f"{socket.gethostname()}:{pid}")
    return _identity[1]


class HeartbeatMiddleware(Middleware):
    """Writes this process's heartbeat row on boot and then at most every ``interval_s``."""

    def __init__(self, interval_s: float = 5.0) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._processed = 0
        self._next_beat = float("inf")  # no beat before the worker booted
        self._started_at = utcnow()
        self._queues = ""
        self._worker_threads: int | None = None

    @property
    def worker_id(self) -> str:
        """The name this process beats under."""
        return worker_identity()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._started_at = utcnow()
        self._queues = ",".join(sorted(worker.consumer_whitelist or broker.get_declared_queues()))
        self._worker_threads = getattr(worker, "worker_threads", None)
        self.beat(force=True)

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        with self._lock:
            self._processed += 1
        self.beat()

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self.beat()

    def beat(self, force: bool = False) -> None:
        """Write the row if ``interval_s`` has passed since the last beat; never raises."""
        now = time.monotonic()
        if not force and now < self._next_beat:  # the common case, without the lock
            return
        with self._lock:
            if not force and now < self._next_beat:
                return
            self._next_beat = now + self.interval_s
            processed, self._processed = self._processed, 0
        params = {
            "id": worker_identity(),
            "queues": self._queues,
            "started": self._started_at,
            "now": utcnow(),
            "processed": processed,
            "threads": threading.active_count(),
            "worker_threads": self._worker_threads,
        }
        try:
            execute(BEAT, params, durable=False)
        except Exception as exc:  # a missed beat must never fail a job; the next one retries
            with self._lock:
                self._processed += processed
                self._next_beat = min(self._next_beat, now + 1.0)
            log.warning("worker.heartbeat_failed", error=redact(f"{type(exc).__name__}: {exc}"))
