"""A job's success reaches the ledger before RabbitMQ is told the message is done.

The worker's consumer thread writes success marks and then acknowledges (``consumer.py``).
Here PostgreSQL refuses one job's mark (a trigger the test installs), so the order shows.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from switchboard.common.jobs import enqueue
from switchboard.common.jobs.broker import use_broker
from switchboard.worker.runtime import ledger, ledger_connections
from switchboard.worker.runtime.broker import worker_broker
from switchboard.worker.runtime.middleware import LedgerMiddleware
from switchboard.worker.runtime.owed_marks import owe_success
from tests.integration.test_jobs_rabbitmq import job, queue_depth
from tests.support import actors
from tests.support.database import on_own_connection
from tests.support.deliveries import delivery
from tests.support.factories import make_business
from tests.support.processes import ServiceProcess
from tests.support.queues import drain
from tests.support.waiting import wait_for

_REFUSE = """
CREATE TABLE sbtest_refused_successes (job_id text PRIMARY KEY);
CREATE FUNCTION sbtest_refuse_success() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF NEW.status = 'succeeded'
       AND EXISTS (SELECT 1 FROM sbtest_refused_successes WHERE job_id = NEW.id) THEN
        RAISE EXCEPTION 'the test refuses the success of job %', NEW.id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER sbtest_refuse_success BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION sbtest_refuse_success();
"""
_ALLOW_ALL = """
DROP TRIGGER IF EXISTS sbtest_refuse_success ON jobs;
DROP FUNCTION IF EXISTS sbtest_refuse_success();
DROP TABLE IF EXISTS sbtest_refused_successes;
"""


@pytest.fixture
def refuse_success(pg_rabbit) -> Iterator[Callable[[str], None]]:
    """``refuse_success(job_id)``: PostgreSQL rejects marking that job succeeded."""
    on_own_connection(_ALLOW_ALL)
    on_own_connection(_REFUSE)

    def refuse(job_id: str) -> None:
        on_own_connection(
            "INSERT INTO sbtest_refused_successes (job_id) VALUES (%(id)s)", {"id": job_id}
        )

    try:
        yield refuse
    finally:
        on_own_connection(_ALLOW_ALL)


def allow_success(job_id: str) -> None:
    on_own_connection("DELETE FROM sbtest_refused_successes WHERE job_id = %(id)s", {"id": job_id})


def runs(marker: Path) -> int:
    return marker.read_text().count("\n") if marker.exists() else 0


def enqueue_counted(business_id: int, marker: Path, job_id: str | None = None) -> str:
    ref = enqueue(actors.COUNT_RUNS, business_id=business_id, job_id=job_id, marker=str(marker))
    return ref.job_id


def run_a_job_whose_success_is_refused(
    start_worker: Callable[..., ServiceProcess],
    refuse_success: Callable[[str], None],
    tmp_path: Path,
) -> tuple[ServiceProcess, int, str, Path]:
    """Start a worker and run one job PostgreSQL will not mark succeeded: (worker, business,
    job id, the file that counts the job's runs), once the worker has met the refusal."""
    business = make_business()
    worker = start_worker("test_jobs")
    held, held_runs = str(uuid.uuid4()), tmp_path / "held.runs"
    refuse_success(held)
    enqueue_counted(business.id, held_runs, held)
    wait_for(lambda: "jobs.success_marks_failed" in worker.output(), what="a refused mark")
    assert runs(held_runs) == 1
    return worker, business.id, held, held_runs


def test_a_refused_success_mark_is_retried_and_acknowledged_only_once_written(
    pg_rabbit, start_worker, refuse_success, tmp_path: Path
) -> None:
    worker, business_id, held, held_runs = run_a_job_whose_success_is_refused(
        start_worker, refuse_success, tmp_path
    )
    assert job(held).status != "succeeded"

    # Another job's success is written, though it waits with the refused one.
    other = enqueue_counted(business_id, tmp_path / "other.runs")
    wait_for(lambda: job(other).status == "succeeded", what="the other job's mark")
    assert job(held).status != "succeeded"

    allow_success(held)
    wait_for(lambda: job(held).status == "succeeded", what="the retried mark")
    worker.stop(whole_group=False)  # an unacknowledged message would go back to the queue
    assert queue_depth(pg_rabbit.amqp_url, "test_jobs") == 0
    assert runs(held_runs) == 1


def test_a_worker_killed_while_a_success_is_unwritten_has_the_job_delivered_again(
    pg_rabbit, start_worker, refuse_success, tmp_path: Path
) -> None:
    first, _, held, held_runs = run_a_job_whose_success_is_refused(
        start_worker, refuse_success, tmp_path
    )
    first.kill()
    allow_success(held)
    # Not acknowledged before its success was recorded, so RabbitMQ still holds the message.
    wait_for(lambda: queue_depth(pg_rabbit.amqp_url, "test_jobs") == 1, what="the message requeued")
    assert job(held).status != "succeeded"
    start_worker("test_jobs")
    wait_for(lambda: job(held).status == "succeeded", what="the redelivered job")
    assert runs(held_runs) == 2
    assert job(held).deliveries == 2


def test_a_worker_stopped_while_jobs_finish_records_every_success_and_runs_none_twice(
    pg_rabbit, start_worker, tmp_path: Path
) -> None:
    business = make_business()
    marker = tmp_path / "runs"
    jobs = {enqueue_counted(business.id, marker) for _ in range(300)}
    first = start_worker("test_jobs", processes=2, threads=8)
    wait_for(lambda: runs(marker) >= 50, what="the first jobs to run")
    # Graceful: jobs under way finish, owed successes are written and acknowledged as the
    # consumers close; unstarted messages go back to the queue.
    first.stop(whole_group=False)
    ran_before_the_stop = marker.read_text().split()
    assert all(job(job_id).status == "succeeded" for job_id in ran_before_the_stop)
    start_worker("test_jobs", processes=2, threads=8)
    wait_for(lambda: runs(marker) >= len(jobs), timeout=60, what="the rest to run")
    wait_for(
        lambda: all(job(job_id).status == "succeeded" for job_id in jobs), what="every success"
    )
    ran = marker.read_text().split()
    assert sorted(ran) == sorted(jobs)  # each job ran exactly once


def test_a_consumer_closed_while_a_refused_mark_waits_for_its_retry_writes_it(
    pg_rabbit, refuse_success
) -> None:
    # The consumer is driven by hand here: its connection's thread turns only when asked.
    business = make_business()
    job_id = str(uuid.uuid4())
    refuse_success(job_id)
    enqueue_counted(business.id, Path("/nonexistent/never-run"), job_id)
    consumer = use_broker(worker_broker(pg_rabbit)).consume("test_jobs", prefetch=1, timeout=100)
    message = wait_for(lambda: next(consumer), what="the delivery")
    assert message.message_id == job_id
    assert ledger.mark_started(job_id, max_unfinished=3) is not None
    owe_success(message, job_id)
    consumer.ack(message)
    assert next(consumer) is None  # the turn in which the write is refused; retry in 1 s
    assert job(job_id).status == "running"
    allow_success(job_id)
    consumer.close()  # before the retry is due: close writes what is owed, then acks it
    assert job(job_id).status == "succeeded"
    assert queue_depth(pg_rabbit.amqp_url, "test_jobs") == 0  # acknowledged, not requeued


def test_marks_that_time_out_together_wait_together_instead_of_one_at_a_time(
    pg_rabbit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A timeout is the database's state, not a row's: writing each mark alone would hold the
    # consumer's thread (and its heartbeats) once more per mark.
    monkeypatch.setattr(ledger_connections, "STATEMENT_TIMEOUT_MS", 300)
    ledger.close_connections()
    business = make_business()
    locked, free = (enqueue_counted(business.id, Path("/nonexistent/never-run")) for _ in "ab")
    consumer = use_broker(worker_broker(pg_rabbit)).consume("test_jobs", prefetch=2, timeout=100)
    try:
        messages = [wait_for(lambda: next(consumer), what="a delivery") for _ in "ab"]
        for message in messages:
            assert ledger.mark_started(message.message_id, max_unfinished=3) is not None
            owe_success(message, message.message_id)
            consumer.ack(message)
        with psycopg.connect(pg_rabbit.database_url.replace("+psycopg", "")) as locker:
            locker.execute("SELECT 1 FROM jobs WHERE id = %s FOR UPDATE", [locked])
            assert next(consumer) is None  # the turn whose batch times out
            assert job(free).status == "running"  # not written on its own
        consumer.close()  # the lock is gone: close writes both
    finally:
        ledger.close_connections()
    assert {job(locked).status, job(free).status} == {"succeeded"}
    assert queue_depth(pg_rabbit.amqp_url, "test_jobs") == 0


def test_a_job_taken_over_runs_solo_only_once_the_marks_owed_before_it_are_written(
    pg_rabbit, refuse_success
) -> None:
    """A poison job running solo kills its process: the job that ran just before it must not
    be counted among its victims for want of a mark the consumer had not yet written."""
    business = make_business()
    before = str(uuid.uuid4())
    refuse_success(before)
    enqueue_counted(business.id, Path("/nonexistent/never-run"), before)
    taken_over = enqueue_counted(business.id, Path("/nonexistent/never-run"))
    broker = worker_broker(pg_rabbit)
    consumer = use_broker(broker).consume("test_jobs", prefetch=1, timeout=100)
    middleware = LedgerMiddleware(max_unfinished_deliveries=3)
    try:
        message = wait_for(lambda: next(consumer), what="the delivery")
        assert message.message_id == before
        middleware.before_process_message(broker, message)
        middleware.after_process_message(broker, message)  # succeeded: its mark is owed
        consumer.ack(message)
        assert next(consumer) is None  # the turn in which the write is refused
        # The other job ran on a worker that died: its delivery takes it over, alone.
        assert ledger.mark_started(taken_over, max_unfinished=3) is not None
        on_own_connection(
            "UPDATE jobs SET worker_id = 'dead-host:1' WHERE id = %(id)s", {"id": taken_over}
        )
        again = delivery(business.id, taken_over, again=True, spec=actors.COUNT_RUNS)
        started = threading.Event()

        def take_over() -> None:
            middleware.before_process_message(broker, again)
            started.set()

        thread = threading.Thread(target=take_over, daemon=True)
        thread.start()
        assert not started.wait(0.5), "ran solo while the mark before it was unwritten"
        assert job(taken_over).worker_id == "dead-host:1"  # not even counted yet
        allow_success(before)
        consumer.close()  # writes the owed mark
        assert started.wait(10)
        thread.join(10)
        assert job(before).status == "succeeded"
        assert (job(taken_over).status, job(taken_over).deliveries) == ("running", 2)
        middleware.after_process_message(broker, again)
    finally:
        ledger.close_connections()
        drain(pg_rabbit.amqp_url, "test_jobs")  # the taken-over job's own message
