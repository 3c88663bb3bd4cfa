"""Dramatiq middleware that keeps the job ledger current and dead-letters poison messages."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware, SkipMessage

from switchboard.common.jobs.context import JobContext, current_job, set_current_job
from switchboard.common.jobs.errors import PERMANENT_ERRORS, JobCancelled
from switchboard.common.logging import get_logger
from switchboard.worker.runtime import ledger
from switchboard.worker.runtime.consumer import owe_success

log = get_logger("switchboard.jobs")


class LedgerMiddleware(Middleware):
    """Records each delivery, start, outcome and error of a job in its ledger row.

    A message whose ledger row is final (cancelled, succeeded, dead) is acknowledged without
    running. A message delivered more than ``max_unfinished_deliveries`` times without its
    actor ever finishing (the worker died each time) is failed into the dead-letter queue,
    where plain Dramatiq would redeliver it forever.
    """

    def __init__(self, *, max_unfinished_deliveries: int = 3) -> None:
        self.max_unfinished_deliveries = max_unfinished_deliveries
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        # Per worker thread: the message this thread just dead-lettered. Kept out of
        # message.options, which Dramatiq encodes into any retried copy of the message.
        self._local = threading.local()

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        started = self._start_fast(message) or ledger.mark_started(
            message.message_id,
            max_unfinished=self.max_unfinished_deliveries,
            redelivered=bool(getattr(message, "redelivered", False)),
        )
        if started is None:
            log.info(
                "job.skipped",
                job_id=message.message_id,
                actor=message.actor_name,
                status=ledger.status_of(message.message_id) or "unknown",
            )
            raise SkipMessage("job is final or unknown to the ledger")
        if started.status == "dead":
            log.error(
                "job.dead_lettered",
                job_id=message.message_id,
                actor=message.actor_name,
                business_id=started.business_id,
                deliveries=started.deliveries,
            )
            self._local.dead_lettered = message.message_id
            message.fail()
            raise SkipMessage("poison message dead-lettered")
        set_current_job(
            JobContext(
                message.message_id,
                message.actor_name,
                started.business_id,
                started.attempts,
                ledger,
                message.message_timestamp,
                time.monotonic(),
            )
        )
        log.info(
            "job.started",
            job_id=message.message_id,
            actor=message.actor_name,
            business_id=started.business_id,
            attempt=started.attempts,
        )

    @staticmethod
    def _start_fast(message: Any) -> ledger.Started | None:
        """A first delivery, published once, on a busy process: start with no round trip.

        Not for redeliveries (poison counting needs the ledger), nor for messages the outbox
        relay republished (a duplicate of a job that may have finished), nor messages whose
        broker cannot tell (the in-process broker).
        """
        business_id = message.options.get("business_id")
        if (
            getattr(message, "redelivered", True)
            or message.options.get("republished")
            or not isinstance(business_id, int)
            or not ledger.start_fast(message.message_id)
        ):
            return None
        attempt = int(message.options.get("retries", 0)) + 1
        return ledger.Started("running", attempt, attempt, business_id)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        job = current_job()
        set_current_job(None)
        started = job.started_monotonic if job is not None else time.monotonic()
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        fields = {
            "job_id": message.message_id,
            "actor": message.actor_name,
            "business_id": message.options.get("business_id"),
            "duration_ms": duration_ms,
        }
        if exception is None:
            if getattr(broker, "defers_success_marks", False):
                owe_success(message, message.message_id)  # committed before the ack
            else:
                ledger.mark_succeeded(message.message_id)
            log.info("job.succeeded", **fields)
            return
        error = ledger.describe_error(exception)
        if isinstance(exception, JobCancelled):
            status = "cancelled"
        elif not message.failed:
            status = "queued"  # Retries has scheduled another attempt
        elif isinstance(exception, PERMANENT_ERRORS):
            status = "failed"
        else:
            status = "dead"
        ledger.mark_failed(message.message_id, error, status=status)
        log_method = log.warning if status == "queued" else log.error
        log_method("job.failed", outcome=status, error=error, **fields)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        set_current_job(None)
        ledger.forget_started(message.message_id)  # AgeLimit may skip a fast-path start
        dead_lettered = getattr(self._local, "dead_lettered", None) == message.message_id
        self._local.dead_lettered = None
        if message.failed and not dead_lettered:
            # AgeLimit failed it: the job waited longer than its ttl.
            ledger.mark_dead(message.message_id, "expired: not started within its ttl")
            log.error("job.expired", job_id=message.message_id, actor=message.actor_name)
