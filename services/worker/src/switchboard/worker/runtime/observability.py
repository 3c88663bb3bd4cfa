"""Job metrics, and what a worker process tells its status server about itself.

Metrics, labelled by actor (and outcome, or queue), on the process's registry: with
``switchboard worker`` they live in Prometheus' multiprocess files, which the worker's status
server adds up over its processes (``status_server.py``); in a process that runs the worker
beside other services (the embedded mode, tests) the process's own ``/metrics`` shows them.

Every metric here has labels on purpose: a labelled metric makes its values when a label set is
first used, that is in the worker process, after ``status_server.prepare`` switched
``prometheus_client`` to multiprocess values in the parent that forks it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware
from prometheus_client import Counter, Gauge, Histogram, multiprocess

from switchboard.common.health import threads_by_name
from switchboard.common.metric_children import Children
from switchboard.worker.runtime.heartbeat import worker_identity
from switchboard.worker.runtime.middleware import outcome_of
from switchboard.worker.runtime.status_files import STATUS_INTERVAL_S, status_path

#: Seconds, from a 5 ms reply to a 10-minute recording transcription.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600)

JOB_DURATION = Histogram(
    "switchboard_job_duration_seconds",
    "How long a job's execution took, by actor (every outcome)",
    ["actor"],
    buckets=_DURATION_BUCKETS,
)
JOB_OUTCOMES = Counter(
    "switchboard_job_outcomes",
    "Executions and deliveries by actor and outcome: succeeded, retried, failed, dead, "
    "cancelled, expired (not started within its ttl), skipped (final already, or requeued)",
    ["actor", "outcome"],
)
QUEUE_LATENCY = Histogram(
    "switchboard_job_queue_latency_seconds",
    "From a job's enqueueing (or the end of its retry delay) to its start, by queue",
    ["queue"],
    buckets=_DURATION_BUCKETS,
)
JOBS_IN_PROGRESS = Gauge(
    "switchboard_jobs_in_progress",
    "Jobs executing now, by actor",
    ["actor"],
    multiprocess_mode="livesum",
)

#: Their children by label values (``metric_children``): a job uses five.
_DURATION, _OUTCOMES = Children(JOB_DURATION), Children(JOB_OUTCOMES)
_QUEUE_LATENCY, _IN_PROGRESS = Children(QUEUE_LATENCY), Children(JOBS_IN_PROGRESS)

#: The ledger's word for a failed attempt with another one scheduled, and the metric's.
_OUTCOME_LABELS = {"queued": "retried"}
#: Set on the MessageProxy of a delivery whose execution this middleware saw start.
_STARTED = "switchboard_observed_start"


class JobObservability(Middleware):
    """Records job durations, outcomes and queue latency; keeps this process's status file.

    Installed right after the ledger middleware: its "after" hooks run after the Retries
    middleware's, so a failed attempt is known to be retried or dead, as in the ledger.
    ``status_dir`` (the status server's directory, ``None`` when there is no status server)
    receives a JSON file per process, rewritten at most every ``STATUS_INTERVAL_S`` from the
    consumer loop (which turns at least once a second while connected to the broker): its
    threads, its worker threads alive, the jobs it runs and when the loop last turned.
    """

    def __init__(self, status_dir: Path | None = None) -> None:
        self.status_dir = status_dir
        self._lock = threading.Lock()
        self._running: dict[str, tuple[str, Any, float]] = {}
        self._worker: dramatiq.Worker | None = None
        self._turned_at: float | None = None
        self._next_write = 0.0

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        now = time.time()
        ready_ms = max(message.message_timestamp, message.options.get("eta") or 0)
        _QUEUE_LATENCY(message.queue_name).observe(max(0.0, now - ready_ms / 1000))
        _IN_PROGRESS(message.actor_name).inc()
        message.__dict__[_STARTED] = time.monotonic()
        with self._lock:
            business_id = message.options.get("business_id")
            self._running[message.message_id] = (message.actor_name, business_id, now)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        started = message.__dict__.pop(_STARTED, None)
        if started is None:  # an earlier middleware refused it before this one saw it
            return
        self._finished(message)
        _DURATION(message.actor_name).observe(time.monotonic() - started)
        outcome = outcome_of(message, exception)
        _OUTCOMES(message.actor_name, _OUTCOME_LABELS.get(outcome, outcome)).inc()

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        started = message.__dict__.pop(_STARTED, None)
        if started is not None:
            self._finished(message)
        if message.failed:
            # Seen starting, the age limit (after this middleware) failed it; unseen, the
            # ledger dead-lettered a poison job.
            outcome = "expired" if started is not None else "dead"
        else:
            outcome = "skipped"
        _OUTCOMES(message.actor_name, outcome).inc()

    def _finished(self, message: Any) -> None:
        _IN_PROGRESS(message.actor_name).dec()
        with self._lock:
            self._running.pop(message.message_id, None)

    # The status file, for the status server's /health.

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Known before its threads start: Dramatiq starts the consumers, which write the
        # status, before ``after_worker_boot``; a status without the worker would say it
        # expects no worker threads (healthy with none alive).
        self._worker = worker

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._worker = worker
        self.tick()

    def tick(self) -> None:
        """A turn of a consumer loop: the broker connection works; rewrite the status file
        if ``STATUS_INTERVAL_S`` has passed. Never raises (it runs in the consumer loop)."""
        now = time.monotonic()
        self._turned_at = time.time()
        if self.status_dir is None or now < self._next_write:
            return
        self._next_write = now + STATUS_INTERVAL_S
        try:
            self._write_status()
        except OSError:  # the directory went away (the worker is stopping): nothing to tell
            self._next_write = now + 10 * STATUS_INTERVAL_S

    def _write_status(self) -> None:
        assert self.status_dir is not None
        worker, now = self._worker, time.time()
        with self._lock:
            running = [
                {
                    "job_id": job_id,
                    "actor": actor,
                    "business_id": business_id,
                    "running_s": round(now - since, 1),
                }
                for job_id, (actor, business_id, since) in self._running.items()
            ]
        status = {
            "pid": os.getpid(),
            "worker_id": worker_identity(),
            "written_at": now,
            "consumer_turned_at": self._turned_at,
            "worker_threads": {
                "expected": worker.worker_threads if worker else 0,
                "alive": sum(t.is_alive() for t in worker.workers) if worker else 0,
            },
            "consumers": {
                queue: thread.is_alive()
                for queue, thread in (worker.consumers if worker else {}).items()
            },
            "threads": threads_by_name(),
            "current_jobs": running,
        }
        path = status_path(self.status_dir, os.getpid())
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(status))
        partial.replace(path)  # the server never reads half a file

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self.status_dir is None:
            return
        status_path(self.status_dir, os.getpid()).unlink(missing_ok=True)
        # Its in-progress gauge leaves the sum; its counters and histograms stay counted.
        multiprocess.mark_process_dead(os.getpid(), str(self.status_dir))  # type: ignore[no-untyped-call]
