"""A failed job is one warning line, not a traceback per retry: the ledger keeps the traceback
(``jobs.last_traceback``) and logs ``job.failed``. Other errors keep their tracebacks."""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.brokers.stub import StubBroker

from .conftest import JsonLines

PHONE = "+15557654321"


def test_each_failed_attempt_of_a_retried_job_is_one_warning_line_without_a_traceback(
    json_lines: JsonLines,
) -> None:
    broker = StubBroker()

    @dramatiq.actor(
        broker=broker,
        actor_name="deliver_test_webhook",
        max_retries=2,
        min_backoff=1,
        max_backoff=5,
    )
    def deliver(*, to: str) -> None:
        raise ConnectionError(f"endpoint down while notifying {to}")

    message = deliver.send(to=PHONE)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=20)
    worker.start()
    try:
        broker.join(deliver.queue_name, fail_fast=False)
        worker.join()
    finally:
        worker.stop()

    failures = [line for line in json_lines() if line["event"].startswith("Failed to process")]
    assert len(failures) == 3  # the first attempt and two retries
    for line in failures:
        assert line["level"] == "warning"
        assert line["logger"] == "dramatiq.worker.WorkerThread"
        assert "exception" not in line
        assert line["event"] == (
            f"Failed to process message deliver_test_webhook(message_id={message.message_id}) "
            "with unhandled exception: ConnectionError: endpoint down while notifying +***4321"
        )


def test_an_error_that_is_not_a_job_failure_keeps_its_traceback(json_lines: JsonLines) -> None:
    try:
        raise RuntimeError(f"channel closed for {PHONE}")
    except RuntimeError:
        logging.getLogger("dramatiq.worker.ConsumerThread(default)").critical(
            "Consumer encountered an unexpected error.", exc_info=True
        )
        logging.getLogger("dramatiq.worker.WorkerThread").error("Worker stopped.", exc_info=True)

    consumer, worker = json_lines()
    for line in (consumer, worker):
        assert "Traceback (most recent call last)" in line["exception"]
        assert "RuntimeError: channel closed for +***4321" in line["exception"]
    assert (consumer["level"], worker["level"]) == ("critical", "error")
