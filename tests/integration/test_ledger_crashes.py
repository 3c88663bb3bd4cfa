"""Redelivered jobs on PostgreSQL: an execution still running on a live worker is left alone,
one whose worker died is taken over and counted, and a delivery that never started costs
nothing (``ledger_statements.START_AGAIN``). A job taken over runs alone in its process, and the
jobs it waits for, or that wait for it, are told (``jobs.others_wait``)."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dramatiq import Message
from dramatiq.brokers.rabbitmq import _RabbitmqMessage
from dramatiq.common import dq_name
from dramatiq.middleware import SkipMessage
from sqlalchemy import select, update

from switchboard.common.db import system_session
from switchboard.common.db.base import utcnow
from switchboard.common.jobs import enqueue, others_wait
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import ActorSpec
from switchboard.common.models import Job
from switchboard.common.settings import Settings
from switchboard.worker.runtime import ledger
from switchboard.worker.runtime.heartbeat import worker_identity
from switchboard.worker.runtime.ledger_connections import execute
from switchboard.worker.runtime.ledger_statements import BEAT
from switchboard.worker.runtime.middleware import LedgerMiddleware
from tests.support.actors import NOOP, POISON_CAPPED
from tests.support.deliveries import delivery
from tests.support.environment import configured
from tests.support.factories import make_business
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

STALE_AFTER_S = 30.0
WAIT_S = 10
LIVE, DEAD = "live-host:101", "dead-host:202"


def _beat(worker_id: str, age_s: float) -> None:
    """``worker_id``'s heartbeat, ``age_s`` seconds old."""
    at = utcnow() - timedelta(seconds=age_s)
    beat = {"id": worker_id, "queues": "", "started": at, "now": at, "processed": 0}
    execute(BEAT, {**beat, "threads": 1, "worker_threads": 1})


def _queued(business_id: int, spec: ActorSpec = NOOP) -> str:
    get_broker().declare_queue(spec.queue)  # published, so the outbox keeps no row of it
    return enqueue(spec, business_id=business_id).job_id


def _row(job_id: str) -> Job:
    with system_session() as session:
        return session.execute(select(Job).where(Job.id == job_id)).scalar_one()


def _running_on(job_id: str, worker_id: str) -> None:
    """The latest execution of the job runs (or ran, until its worker died) on ``worker_id``."""
    with system_session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(worker_id=worker_id))


def _again(job_id: str, cap: int = 2, *, alone: bool = True) -> ledger.Started | None:
    return ledger.mark_started(
        job_id, max_unfinished=cap, redelivered=True, stale_after_s=STALE_AFTER_S, alone=alone
    )


def test_a_delivery_that_never_started_costs_nothing_and_only_dead_executions_count(
    pg: Settings,
) -> None:
    business = make_business()
    job_id = _queued(business.id)
    _beat(DEAD, age_s=120)

    # Prefetched by a worker that died, then redelivered: this is its first execution.
    first = _again(job_id)
    assert first is not None and (first.status, first.deliveries) == ("running", 1)
    assert _row(job_id).worker_id == worker_identity()
    _running_on(job_id, DEAD)  # ...which died with its worker

    second = _again(job_id)
    assert second is not None and second.status == "running", "one execution died: cap is 2"
    _running_on(job_id, DEAD)

    third = _again(job_id)
    assert third is not None and third.status == "dead", "two executions died"
    dead = _row(job_id)
    assert (dead.deliveries, dead.attempts) == (3, 2)
    assert "without finishing" in (dead.last_error or "")


def test_a_redelivery_waits_while_its_execution_runs_on_a_live_worker_then_takes_it_over(
    pg: Settings,
) -> None:
    business = make_business()
    job_id = _queued(business.id)
    assert ledger.mark_started(job_id, max_unfinished=2) is not None  # a first delivery
    _running_on(job_id, LIVE)
    _beat(LIVE, age_s=1)

    busy = _again(job_id)
    assert busy is not None and (busy.status, busy.worker_id) == ("busy", LIVE)
    untouched = _row(job_id)
    assert (untouched.status, untouched.deliveries, untouched.worker_id) == ("running", 1, LIVE)

    _beat(LIVE, age_s=STALE_AFTER_S + 1)  # the worker stopped beating: presumed dead
    taken = _again(job_id)
    assert taken is not None and (taken.status, taken.deliveries) == ("running", 2)
    assert _row(job_id).worker_id == worker_identity()


def test_an_execution_older_than_its_time_limit_is_taken_over_though_its_worker_lives(
    pg: Settings,
) -> None:
    """Its worker lost the outcome (it stopped consuming while PostgreSQL refused the mark):
    the row names a live worker that no longer runs it, so it cannot wait for that worker."""
    business = make_business()
    job_id = _queued(business.id)
    assert ledger.mark_started(job_id, max_unfinished=3) is not None
    _running_on(job_id, LIVE)
    _beat(LIVE, age_s=1)
    limit_s = 60.0

    def again() -> ledger.Started | None:
        return ledger.mark_started(
            job_id,
            max_unfinished=3,
            redelivered=True,
            stale_after_s=STALE_AFTER_S,
            time_limit_s=limit_s,
        )

    busy = again()
    assert busy is not None and (busy.status, busy.worker_id) == ("busy", LIVE)
    started = utcnow() - timedelta(seconds=limit_s + STALE_AFTER_S - 5)
    with system_session() as session:  # started within the limit (and the staleness): runs
        session.execute(update(Job).where(Job.id == job_id).values(started_at=started))
    busy = again()
    assert busy is not None and busy.status == "busy"

    with system_session() as session:  # past both: that execution cannot still be running
        session.execute(
            update(Job).where(Job.id == job_id).values(started_at=started - timedelta(seconds=10))
        )
    _beat(LIVE, age_s=1)
    taken = again()
    assert taken is not None and (taken.status, taken.deliveries, taken.taken_over) == (
        "running",
        2,
        True,
    )
    assert _row(job_id).worker_id == worker_identity()


def test_only_a_delivery_running_alone_takes_over_a_dead_execution(pg: Settings) -> None:
    business = make_business()
    job_id = _queued(business.id)
    assert ledger.mark_started(job_id, max_unfinished=2) is not None
    _running_on(job_id, DEAD)
    _beat(DEAD, age_s=120)

    beside_others = _again(job_id, alone=False)
    assert beside_others is not None and beside_others.status == "alone"
    assert (_row(job_id).deliveries, _row(job_id).worker_id) == (1, DEAD)  # nothing counted
    taken = _again(job_id, alone=True)
    assert taken is not None and (taken.status, taken.deliveries, taken.taken_over) == (
        "running",
        2,
        True,
    )


def test_a_retry_is_queued_without_a_worker(pg: Settings) -> None:
    business = make_business()
    job_id = _queued(business.id)
    assert ledger.mark_started(job_id, max_unfinished=2) is not None
    ledger.mark_failed(job_id, "ValueError: boom", status="queued")
    assert (_row(job_id).status, _row(job_id).worker_id) == ("queued", None)


def _delivery(business_id: int, job_id: str, spec: ActorSpec = NOOP) -> _RabbitmqMessage:
    """A redelivered RabbitMQ message of the job."""
    return delivery(business_id, job_id, again=True, spec=spec)


def test_the_middleware_publishes_a_busy_job_again_later_and_skips_this_delivery(
    pg: Settings,
) -> None:
    business = make_business()
    job_id = _queued(business.id)
    assert ledger.mark_started(job_id, max_unfinished=2) is not None
    _running_on(job_id, LIVE)
    _beat(LIVE, age_s=1)
    broker = get_broker()
    broker.declare_queue(NOOP.queue)
    delayed = broker.queues[dq_name(NOOP.queue)]
    before = delayed.qsize()
    middleware = LedgerMiddleware(max_unfinished_deliveries=2, stale_after_s=STALE_AFTER_S)

    with pytest.raises(SkipMessage):
        middleware.before_process_message(broker, _delivery(business.id, job_id))

    assert delayed.qsize() == before + 1
    copy = Message.decode(list(delayed.queue)[-1])
    assert copy.message_id == job_id and copy.options["republished"] is True
    assert copy.options["eta"] >= int(utcnow().timestamp() * 1000) + 14_000
    assert (_row(job_id).status, _row(job_id).deliveries) == ("running", 1)


def test_the_middleware_judges_an_execution_s_age_by_the_message_s_own_time_limit(
    pg: Settings,
) -> None:
    """``enqueue(timeout=…)`` gives a message a longer limit than its entry's (NOOP: 30 s):
    an execution within it may still run; past the entry's, without one, it cannot."""
    business = make_business()
    job_id = _queued(business.id)
    assert ledger.mark_started(job_id, max_unfinished=3) is not None
    _running_on(job_id, LIVE)
    _beat(LIVE, age_s=1)
    started = utcnow() - timedelta(seconds=NOOP.timeout_s + STALE_AFTER_S + 10)
    with system_session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(started_at=started))
    broker = get_broker()
    broker.declare_queue(NOOP.queue)
    middleware = LedgerMiddleware(max_unfinished_deliveries=3, stale_after_s=STALE_AFTER_S)

    own_limit = delivery(business.id, job_id, again=True, time_limit=600_000)
    with pytest.raises(SkipMessage):  # busy: published again for later
        middleware.before_process_message(broker, own_limit)
    middleware.after_skip_message(broker, own_limit)
    assert (_row(job_id).deliveries, _row(job_id).worker_id) == (1, LIVE)

    entry_s_limit = _delivery(business.id, job_id)
    middleware.before_process_message(broker, entry_s_limit)  # taken over
    middleware.after_process_message(broker, entry_s_limit)
    assert (_row(job_id).status, _row(job_id).deliveries) == ("succeeded", 2)


def test_a_second_delivery_of_a_job_running_in_this_process_waits_its_turn(pg: Settings) -> None:
    business = make_business()
    job_id = _queued(business.id)
    broker = get_broker()
    broker.declare_queue(NOOP.queue)
    middleware = LedgerMiddleware(max_unfinished_deliveries=2, stale_after_s=STALE_AFTER_S)
    running = _delivery(business.id, job_id)
    middleware.before_process_message(broker, running)

    with pytest.raises(SkipMessage):
        middleware.before_process_message(broker, _delivery(business.id, job_id))

    middleware.after_process_message(broker, running)
    assert _row(job_id).status == "succeeded"
    with pytest.raises(SkipMessage):  # a later copy: the job is final
        middleware.before_process_message(broker, _delivery(business.id, job_id))


def test_the_unfinished_cap_is_the_entry_s_own(pg: Settings) -> None:
    business = make_business()
    job_id = _queued(business.id, POISON_CAPPED)  # max_unfinished=3; the setting says 2
    _beat(DEAD, age_s=120)
    middleware = LedgerMiddleware(max_unfinished_deliveries=2, stale_after_s=STALE_AFTER_S)
    statuses = []
    for _ in range(4):
        started = middleware._start_checked(_delivery(business.id, job_id, POISON_CAPPED))
        assert started is not None
        statuses.append(started.status)
        _running_on(job_id, DEAD)
    assert statuses == ["running", "running", "running", "dead"]


def test_a_delivery_the_ledger_cannot_record_is_published_again_not_failed(
    pg: Settings, tmp_path: Path
) -> None:
    """PostgreSQL unreachable when a job starts: the message comes back later; no attempt,
    no retry used up, nothing run."""
    business = make_business()
    job_id = _queued(business.id)
    unreachable = "postgresql://nobody@127.0.0.1:1/none"
    with configured(database_url=unreachable, amqp_url="", var_dir=str(tmp_path)):
        broker = get_broker()
        broker.declare_queue(NOOP.queue)
        middleware = LedgerMiddleware(max_unfinished_deliveries=2, stale_after_s=STALE_AFTER_S)
        with pytest.raises(SkipMessage):
            middleware.before_process_message(broker, _delivery(business.id, job_id))
        [copy] = [Message.decode(m) for m in broker.queues[dq_name(NOOP.queue)].queue]
    assert copy.message_id == job_id and copy.options["republished"] is True
    assert (_row(job_id).status, _row(job_id).attempts) == ("queued", 0)


def _beside(business_id: int, job_id: str) -> tuple[Any, LedgerMiddleware, _RabbitmqMessage]:
    """A worker's middleware with ``job_id``'s delivery started in this thread (it holds the
    ordinary jobs' gate): the broker, the middleware and that delivery."""
    broker = get_broker()
    broker.declare_queue(NOOP.queue)
    middleware = LedgerMiddleware(max_unfinished_deliveries=2, stale_after_s=STALE_AFTER_S)
    running = _delivery(business_id, job_id)
    middleware.before_process_message(broker, running)
    return broker, middleware, running


def test_the_jobs_a_taken_over_job_waits_for_and_that_wait_for_it_are_told(pg: Settings) -> None:
    """A long job that waits on others (an outbound tick) hands over when told
    (``test_driver_checkpoints.py``); here the worker's middleware tells it."""
    business = make_business()
    ordinary, taken_over, later = (_queued(business.id) for _ in range(3))
    assert ledger.mark_started(taken_over, max_unfinished=2) is not None
    _running_on(taken_over, DEAD)
    _beat(DEAD, age_s=120)
    broker, middleware, running = _beside(business.id, ordinary)
    assert not others_wait()
    solo_told = threading.Event()
    seen: dict[str, bool] = {}

    def take_over() -> None:
        delivery = _delivery(business.id, taken_over)
        middleware.before_process_message(broker, delivery)  # waits for ``ordinary``
        seen["alone, nobody waiting"] = not others_wait()
        seen["told of the job behind it"] = wait_for(others_wait, timeout=WAIT_S, what="told")
        solo_told.set()
        middleware.after_process_message(broker, delivery)

    def run_later() -> None:
        delivery = _delivery(business.id, later)
        middleware.before_process_message(broker, delivery)  # waits for the solo job
        seen["later ran after the solo job"] = solo_told.is_set()
        middleware.after_process_message(broker, delivery)

    solo = threading.Thread(target=take_over, daemon=True)
    solo.start()
    wait_for(others_wait, timeout=WAIT_S, what="the running job told that a job waits for it")
    middleware.after_process_message(broker, running)
    wait_for(lambda: "alone, nobody waiting" in seen, timeout=WAIT_S, what="the solo start")
    behind = threading.Thread(target=run_later, daemon=True)
    behind.start()
    solo.join(WAIT_S)
    behind.join(WAIT_S)
    assert seen == dict.fromkeys(
        ["alone, nobody waiting", "told of the job behind it", "later ran after the solo job"],
        True,
    )
    assert [_row(job).status for job in (ordinary, taken_over, later)] == ["succeeded"] * 3


def test_a_worker_dying_before_the_start_costs_a_wait_not_a_count(pg: Settings) -> None:
    """The delivery joined the ordinary jobs while its job was never started; by its start the
    job runs on a worker that died. The start is counted only once the delivery runs alone:
    while it waits for the job beside it, a poison job's death could not count it."""
    business = make_business()
    beside, job_id = _queued(business.id), _queued(business.id)
    _beat(DEAD, age_s=120)
    broker, middleware, running = _beside(business.id, beside)
    dsn = pg.database_url.replace("postgresql+psycopg://", "postgresql://")
    delivery = _delivery(business.id, job_id)
    started, finish = threading.Event(), threading.Event()

    def deliver() -> None:
        middleware.before_process_message(broker, delivery)
        started.set()
        finish.wait(WAIT_S)
        middleware.after_process_message(broker, delivery)

    with psycopg.connect(dsn) as holder, psycopg.connect(dsn, autocommit=True) as watcher:
        holder.execute("SELECT 1 FROM jobs WHERE id = %s FOR UPDATE", (job_id,))
        thread = threading.Thread(target=deliver, daemon=True)
        thread.start()

        def start_waits_for_the_row() -> bool:
            query = (
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE '%deliveries = deliveries + 1%'"
            )
            return watcher.execute(query).fetchone() == (1,)

        wait_for(start_waits_for_the_row, timeout=WAIT_S, what="the start")
        # Meanwhile the job started on another worker, which died.
        holder.execute(
            "UPDATE jobs SET status = 'running', worker_id = %s, deliveries = 1, attempts = 1"
            " WHERE id = %s",
            (DEAD, job_id),
        )
        holder.commit()
        wait_for(others_wait, timeout=WAIT_S, what="the delivery waiting to run alone")
        assert _row(job_id).deliveries == 1, "counted while waiting beside another job"
        middleware.after_process_message(broker, running)
        assert started.wait(WAIT_S)
    row = _row(job_id)
    assert (row.status, row.deliveries, row.worker_id) == ("running", 2, worker_identity())
    finish.set()
    thread.join(WAIT_S)
    assert _row(job_id).status == "succeeded"
