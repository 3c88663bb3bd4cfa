"""The worker's heartbeat: a ``worker_heartbeats`` row per process, beaten from the worker loop.

No thread of its own (a thread would outlive a stuck worker loop and hide it): the row is written
when the worker boots and then, at most every ``interval_s``, after a message is processed.
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
from switchboard.domain.operations.heartbeats import record_heartbeat

log = get_logger(__name__)


class HeartbeatMiddleware(Middleware):
    """Writes this process's heartbeat row on boot and, throttled, after messages."""

    def __init__(self, interval_s: float = 5.0) -> None:
        self.interval_s = interval_s
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self._lock = threading.Lock()
        self._processed = 0
        self._next_beat = 0.0
        self._started_at = utcnow()
        self._queues = ""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"  # after the CLI forked us
        self._started_at = utcnow()
        self._queues = ",".join(sorted(worker.consumer_whitelist or broker.get_declared_queues()))
        self._beat(force=True)

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        with self._lock:
            self._processed += 1
        self._beat()

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._beat()

    def _beat(self, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if not force and now < self._next_beat:
                return
            self._next_beat = now + self.interval_s
            processed, self._processed = self._processed, 0
        try:
            record_heartbeat(self.worker_id, self._queues, processed, self._started_at)
        except Exception as exc:  # a missed beat must never fail a job; the next one retries
            with self._lock:
                self._processed += processed
            log.warning("worker.heartbeat_failed", error=redact(f"{type(exc).__name__}: {exc}"))
