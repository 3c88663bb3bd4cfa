"""Dramatiq middleware that keeps the job ledger current and dead-letters poison messages."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, NoReturn

import dramatiq
import structlog
from dramatiq.middleware import Middleware, SkipMessage

from switchboard.common.jobs.broker import max_age_ms
from switchboard.common.jobs.catalog import entry_of
from switchboard.common.jobs.context import JobContext, current_job, set_current_job
from switchboard.common.jobs.errors import PERMANENT_ERRORS, JobCancelled
from switchboard.common.logging import CORRELATION_FIELDS, get_logger
from switchboard.common.metrics import EXPIRED_PREFIX
from switchboard.worker.runtime import ledger
from switchboard.worker.runtime.heartbeat import worker_identity
from switchboard.worker.runtime.ledger_connections import size_for
from switchboard.worker.runtime.owed_marks import owe_outcome, owe_success, requeue_instead_of_ack
from switchboard.worker.runtime.solo import Hold, SoloGate

log = get_logger("switchboard.jobs")

# Set on the MessageProxy of a delivery that registered its job as executing in this process.
_HERE = "switchboard_executing_here"
# Set on the MessageProxy of a delivery that holds the process's solo gate (``solo.py``).
_HOLD = "switchboard_solo_gate"
# Set on the MessageProxy of a delivery that started its job on the fast path: if it is skipped
# after all (the age limit), its start is forgotten. Never another delivery's: a duplicate
# skipped while the job runs here must leave the running delivery's start recorded.
_FAST = "switchboard_fast_start"
# Set on the MessageProxy of a delivery sent back because its job runs, in this process or on
# a live worker: the job's fair-share slot is that execution's (``fair_share.py``).
_RUNS = "switchboard_job_runs"
#: Bound in a worker thread's log context while it handles a delivery: every line logged
#: meanwhile, by the actor, the domain, the adapters or Dramatiq itself, names the job, and
#: the request or call that caused it (``CORRELATION_FIELDS``; jobs it enqueues carry them on).
_JOB_FIELDS = ("job_id", "actor", "business_id", *CORRELATION_FIELDS)


def _correlation(message: Any) -> dict[str, str]:
    """The correlation fields the job's options carry (``prepare_job``), as log fields."""
    options = message.options
    return {
        name: options[name] for name in CORRELATION_FIELDS if isinstance(options.get(name), str)
    }


def skipped_as_running(message: Any) -> bool:
    """The ledger skipped this delivery, to be published again, because its job runs: in this
    process or on a live worker."""
    return bool(message.__dict__.get(_RUNS))


def requeue_delay_ms(stale_after_s: float) -> int:
    """How long a delivery sent back for later waits (:func:`send_back`): half the time a
    worker takes to be presumed dead."""
    return max(100, round(stale_after_s * 500))


def send_back(broker: dramatiq.Broker, message: Any, delay_ms: int) -> None:
    """Publish a copy of the delivery, to be delivered after ``delay_ms``; the caller skips
    this one. Marked ``republished``, the copy takes the checked path. If it cannot be
    published, the consumer returns this delivery to its queue instead of acknowledging it."""
    copy = message.copy(options={"republished": True})
    try:
        broker.enqueue(copy, delay=delay_ms)
    except Exception as exc:
        log.warning("job.requeue_failed", job_id=message.message_id, error=str(exc)[:200])
        requeue_instead_of_ack(message)


def _time_limit_s(message: Any) -> float:
    """How long an execution of the message may run before Dramatiq's ``TimeLimit`` ends it:
    its own limit (``enqueue(timeout=…)``), else its entry's, else Dramatiq's default."""
    limit_ms = message.options.get("time_limit")
    if limit_ms:
        return float(limit_ms) / 1000
    entry = entry_of(message.actor_name)
    return float(entry.timeout_s) if entry else ledger.DEFAULT_TIME_LIMIT_S


def outcome_of(message: Any, exception: BaseException | None) -> str:
    """The ledger status a finished execution leaves its job in: ``succeeded``, ``cancelled``
    (it stopped at a checkpoint), ``queued`` (Retries scheduled another attempt), ``failed``
    (a permanent error) or ``dead`` (retries exhausted)."""
    if exception is None:
        return "succeeded"
    if isinstance(exception, JobCancelled):
        return "cancelled"
    if not message.failed:
        return "queued"
    if isinstance(exception, PERMANENT_ERRORS):
        return "failed"
    return "dead"


#: Dramatiq's warning for every skipped delivery (``dramatiq.worker.WorkerThread``).
DRAMATIQ_SKIPPED = "Message %s was skipped."


class ToldSkips(logging.Filter):
    """Drops Dramatiq's "Message … was skipped." warning. Every skip in a worker is raised by a
    middleware that says why in a line of its own (``job.requeued``, ``job.skipped``,
    ``job.cancelled``, ``job.dead_lettered``; fair share's ``job.parked`` and
    ``job.copy_dropped``; the age limit's), and an outage or a flood skips thousands: the
    warning would double each of those lines, at a higher level."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != DRAMATIQ_SKIPPED


class LedgerMiddleware(Middleware):
    """Records each delivery, start, outcome and error of a job in its ledger row.

    A message whose ledger row is final (cancelled, succeeded, dead) is acknowledged without
    running. A redelivered or republished message whose job is still executing, in this
    process or on another worker whose heartbeat is younger than ``stale_after_s``, is not
    started a second time: it is published again to run in ``stale_after_s / 2`` (by then the
    execution has finished, or its worker is presumed dead, or the execution is older than its
    actor's time limit and ``stale_after_s``, and the job is taken over). Every outcome is
    recorded before the delivery is settled (``consumer.owe_outcome``). A job
    whose executions died with their worker more than its entry's ``max_unfinished`` times
    (default ``max_unfinished_deliveries``) is failed into the dead-letter queue at its next
    delivery, where plain Dramatiq would redeliver it forever; deliveries that never started
    (prefetched by a worker that died) are not counted, and a job taken over from a worker
    that died runs alone in its process (``solo.py``), so the jobs that ran beside a poison
    job are not counted again with it.
    """

    def __init__(self, *, max_unfinished_deliveries: int = 3, stale_after_s: float = 30.0) -> None:
        self.max_unfinished_deliveries = max_unfinished_deliveries
        self.stale_after_s = stale_after_s
        self.requeue_delay_ms = requeue_delay_ms(stale_after_s)
        # Jobs executing in this process, by id: a second delivery of one waits its turn.
        self._executing: set[str] = set()
        self._executing_lock = threading.Lock()
        # Per worker thread: the message this thread just dead-lettered. Kept out of
        # message.options, which Dramatiq encodes into any retried copy of the message.
        self._local = threading.local()
        self._gate = SoloGate()
        #: As the worker boots, bound the process's connections by its threads
        #: (``ledger_connections.size_for``): a worker process's own; not a worker started
        #: inside another process, whose engine is the API's too (``inprocess.py``).
        self.sizes_connections = True

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        if self.sizes_connections:
            size_for(worker.worker_threads)
        dramatiq_lines = logging.getLogger("dramatiq.worker.WorkerThread")
        if not any(isinstance(f, ToldSkips) for f in dramatiq_lines.filters):
            dramatiq_lines.addFilter(ToldSkips())

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        job_id = message.message_id
        structlog.contextvars.bind_contextvars(
            job_id=job_id,
            actor=message.actor_name,
            business_id=message.options.get("business_id"),
            **_correlation(message),
        )
        with self._executing_lock:
            executing_here = job_id in self._executing
            self._executing.add(job_id)
        if executing_here:
            self._requeue(broker, message, "running in this process", worker_identity(), runs=True)
        message.__dict__[_HERE] = True
        try:
            # Before the start is recorded: a job waiting here while another runs solo has
            # not started, so it is not counted if that one kills the process. A delivery
            # that would take over an execution whose worker died is answered ``alone``,
            # uncounted, and waits to run alone before its start is counted: a poison job
            # running solo meanwhile cannot count it among its victims.
            held = message.__dict__[_HOLD] = self._gate.enter_shared()
            started = self._start_fast(message) or self._start_checked(message, held)
            if started is not None and started.status == "alone":
                held = message.__dict__[_HOLD] = self._gate.enter_solo(held)
                started = self._start_checked(message, held)
        except Exception as exc:
            if not ledger.database_unavailable(exc):
                raise
            self._requeue(broker, message, "ledger unavailable", ledger.describe_error(exc))
        if started is None:
            log.info(
                "job.skipped",
                job_id=job_id,
                actor=message.actor_name,
                status=ledger.status_of(job_id) or "unknown",
            )
            raise SkipMessage("job is final or unknown to the ledger")
        if started.status == "busy":
            self._requeue(broker, message, "running on a live worker", started.worker_id, runs=True)
        if started.status == "cancelled":
            log.info("job.cancelled", job_id=job_id, actor=message.actor_name)
            raise SkipMessage("job was asked to stop before this delivery")
        if started.status == "dead":
            log.error(
                "job.dead_lettered",
                job_id=job_id,
                actor=message.actor_name,
                business_id=started.business_id,
                deliveries=started.deliveries,
            )
            self._local.dead_lettered = job_id
            message.fail()
            raise SkipMessage("poison message dead-lettered")
        if started.taken_over:
            log.warning(
                "job.running_solo",
                job_id=job_id,
                actor=message.actor_name,
                unfinished=started.unfinished - 1,
            )
        structlog.contextvars.bind_contextvars(business_id=started.business_id)  # the ledger's
        set_current_job(
            JobContext(
                job_id,
                message.actor_name,
                started.business_id,
                started.attempts,
                ledger,
                message.message_timestamp,
                time.monotonic(),
                partial(self._gate.others_waiting, message.__dict__[_HOLD]),
            )
        )
        log.info(
            "job.started",
            job_id=job_id,
            actor=message.actor_name,
            business_id=started.business_id,
            attempt=started.attempts,
        )

    @staticmethod
    def _delivered_again(message: Any) -> bool:
        """RabbitMQ delivered it before, or the outbox relay or ``_requeue`` republished it."""
        return bool(getattr(message, "redelivered", False) or message.options.get("republished"))

    def _start_checked(self, message: Any, held: Hold = Hold.SOLO) -> ledger.Started | None:
        """Start through the ledger: a redelivered or republished message checks for an
        execution still running and counts those that died (``ledger.mark_started``), only
        while it runs alone (``held``): else the answer is ``alone``."""
        entry = entry_of(message.actor_name)
        cap = entry.max_unfinished if entry and entry.max_unfinished else None
        return ledger.mark_started(
            message.message_id,
            max_unfinished=cap or self.max_unfinished_deliveries,
            redelivered=self._delivered_again(message),
            stale_after_s=self.stale_after_s,
            alone=held is Hold.SOLO,
            time_limit_s=_time_limit_s(message),
        )

    def _requeue(
        self, broker: dramatiq.Broker, message: Any, reason: str, detail: Any, *, runs: bool = False
    ) -> NoReturn:
        """Publish the message again, to be delivered after ``requeue_delay_ms``
        (:func:`send_back`), and skip this delivery. ``runs``: because the job runs
        (:func:`skipped_as_running`).
        """
        message.__dict__[_RUNS] = runs
        send_back(broker, message, self.requeue_delay_ms)
        log.info(
            "job.requeued",
            job_id=message.message_id,
            actor=message.actor_name,
            reason=reason,
            detail=detail,
            delay_ms=self.requeue_delay_ms,
        )
        raise SkipMessage(f"job not started: {reason}")

    def _leave(self, message: Any) -> None:
        """This delivery no longer executes its job here (it finished, or never started)."""
        if message.__dict__.pop(_HERE, False):
            with self._executing_lock:
                self._executing.discard(message.message_id)
        held: Hold | None = message.__dict__.pop(_HOLD, None)
        if held is not None:
            self._gate.leave(held)

    @staticmethod
    def _start_fast(message: Any) -> ledger.Started | None:
        """A first delivery, published once, on a busy process: start with no round trip.

        Not for redeliveries nor for messages the outbox relay (or ``_requeue``) republished:
        they may duplicate an execution that finished, still runs, or died, which only the
        ledger knows. Nor for messages whose broker cannot tell (the in-process broker).
        """
        business_id = message.options.get("business_id")
        if (
            getattr(message, "redelivered", True)
            or message.options.get("republished")
            or not isinstance(business_id, int)
            or not ledger.start_fast(message.message_id)
        ):
            return None
        message.__dict__[_FAST] = True
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
        try:
            self._finish(broker, message, job, exception)
        finally:
            # Once its outcome is recorded or owed: a solo job waits for owed marks
            # (``solo.py``), so it must not find this one gone and its mark not yet owed.
            self._leave(message)

    def _finish(
        self,
        broker: dramatiq.Broker,
        message: Any,
        job: JobContext | None,
        exception: BaseException | None,
    ) -> None:
        """Record or owe the delivery's outcome, and log it."""
        # The last "after" hook of the delivery (this middleware is the first): unbound here,
        # the worker thread's next lines no longer name this job.
        structlog.contextvars.unbind_contextvars(*_JOB_FIELDS)
        started = job.started_monotonic if job is not None else time.monotonic()
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        fields = {
            "job_id": message.message_id,
            "actor": message.actor_name,
            "business_id": message.options.get("business_id"),
            **_correlation(message),
            "duration_ms": duration_ms,
        }
        if exception is None:
            if getattr(broker, "defers_success_marks", False):  # committed before the ack
                owe_success(message, message.message_id, written=self._owing(message))
            else:
                ledger.mark_succeeded(message.message_id)
            log.info("job.succeeded", **fields)
            return
        error = ledger.describe_error(exception)
        status = outcome_of(message, exception)
        trace = ledger.describe_traceback(exception)
        self._record(
            broker,
            message,
            ledger.failure_outcome(message.message_id, error, status=status, traceback=trace),
        )
        log_method = log.warning if status == "queued" else log.error
        log_method("job.failed", outcome=status, error=error, **fields)

    def _owing(self, message: Any) -> Callable[[], None] | None:
        """What the consumer calls once this delivery's owed mark is written: its job held the
        solo gate, which a solo job waits for until the mark is written (``solo.py``)."""
        return self._gate.owing() if _HOLD in message.__dict__ else None

    def _record(self, broker: dramatiq.Broker, message: Any, outcome: dict[str, Any]) -> None:
        """Record a failure or an expiry: by the consumer before it settles the message (the
        same rule as successes: a mark PostgreSQL refuses is tried again while the message
        waits), or here where the broker has no such consumer (in-process)."""
        if getattr(broker, "defers_success_marks", False):
            owe_outcome(message, outcome, written=self._owing(message))
        else:
            ledger.mark_outcomes([outcome])

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        set_current_job(None)
        self._leave(message)
        if message.__dict__.pop(_FAST, False):  # AgeLimit may skip a fast-path start
            ledger.forget_started(message.message_id)
        dead_lettered = getattr(self._local, "dead_lettered", None) == message.message_id
        self._local.dead_lettered = None
        if message.failed and not dead_lettered:
            # The age limit failed it: a time-bound job not started within its ttl.
            limit_s = (max_age_ms(broker, message) or 0) / 1000
            enqueued = datetime.fromtimestamp(message.message_timestamp / 1000, UTC)
            error = (
                f"{EXPIRED_PREFIX} older than {limit_s:g} s, its time limit to start "
                f"(enqueued {enqueued:%Y-%m-%d %H:%M:%S} UTC)"
            )
            self._record(broker, message, ledger.expiry_outcome(message.message_id, error))
            log.error(
                "job.expired",
                job_id=message.message_id,
                actor=message.actor_name,
                **_correlation(message),
            )
        structlog.contextvars.unbind_contextvars(*_JOB_FIELDS)
