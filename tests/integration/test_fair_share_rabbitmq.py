"""Fair share between businesses through real RabbitMQ and real ``switchboard worker`` processes:
a business's limit per queue holds across worker processes, its jobs over the limit wait
(parked, no thread held, not dead-lettered) and then run, businesses alternate in a queue, and
a slot held by a worker that was SIGKILLed is freed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pika
import pytest
from sqlalchemy import func, select, text, update

from switchboard.common.db import system_session
from switchboard.common.jobs import enqueue
from switchboard.common.models import Business, Job, JobSlot
from tests.support import fair_actors
from tests.support.factories import TestBusiness, make_business
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

StartWorker = Callable[..., ServiceProcess]


@pytest.fixture
def start_fair_worker(start_service: Callable[..., ServiceProcess]) -> StartWorker:
    """A worker process on the ``test_fair`` queue; a dead worker's slots are freed fast."""

    def start(threads: int = 4, **env: str) -> ServiceProcess:
        return start_service(
            "worker",
            "tests.support.fair_actors",
            "--processes",
            "1",
            "--threads",
            str(threads),
            "--queue",
            "test_fair",
            worker_heartbeat_interval_s="0.5",
            worker_stale_after_s="2",
            **env,
        )

    return start


def set_limits(business_id: int, limits: dict[str, int]) -> None:
    with system_session() as session:
        session.execute(
            update(Business).where(Business.id == business_id).values(job_concurrency=limits)
        )


def statuses(business_id: int) -> list[str]:
    with system_session() as session:
        return list(session.scalars(select(Job.status).where(Job.business_id == business_id)))


def all_succeeded(*business_ids: int) -> bool:
    return all(set(statuses(b)) == {"succeeded"} for b in business_ids)


def parked(business_id: int) -> int:
    with system_session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.business_id == business_id, Job.parked_at.is_not(None))
            )
            or 0
        )


def slots(business_id: int) -> list[str | None]:
    with system_session() as session:
        return list(
            session.scalars(select(JobSlot.worker_id).where(JobSlot.business_id == business_id))
        )


def dead_lettered(amqp_url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        return int(channel.queue_declare("test_fair.XQ", passive=True).method.message_count)
    finally:
        connection.close()


def spans(business_id: int, log: Path, n: int, seconds: float) -> None:
    for _ in range(n):
        enqueue(fair_actors.SPAN, business_id=business_id, log=str(log), seconds=seconds)


def starts(log: Path) -> list[int]:
    """The businesses of the runs, in the order they started."""
    return [business for _, event, business, _ in fair_actors.events(log) if event == "start"]


def test_a_business_limit_holds_across_worker_processes_and_its_waiting_jobs_run_later(
    pg_rabbit, start_fair_worker: StartWorker, tmp_path: Path
) -> None:
    a, b = make_business(), make_business()
    set_limits(a.id, {"test_fair": 2})
    log = tmp_path / "runs.log"
    start_fair_worker()
    start_fair_worker()  # 8 threads over two processes, A may use 2 of them
    spans(a.id, log, 10, 0.4)
    spans(b.id, log, 1, 0.4)
    wait_for(lambda: parked(a.id) > 0, timeout=60, what="A's jobs over its limit to be parked")
    wait_for(lambda: all_succeeded(a.id, b.id), timeout=120, what="every job to run")
    assert fair_actors.most_at_once(log, a.id) == 2
    order = starts(log)
    # B's job did not wait for A's: A's waiting jobs held no worker thread.
    assert order.index(b.id) < 3, order
    assert len(order) == 11 and dead_lettered(pg_rabbit.amqp_url) == 0
    assert slots(a.id) == [] and parked(a.id) == 0


@pytest.mark.parametrize("fair", [True, False])
def test_two_businesses_backlogs_alternate_in_a_queue_unless_fair_share_is_off(
    pg_rabbit, start_fair_worker: StartWorker, tmp_path: Path, fair: bool
) -> None:
    a, b = make_business(), make_business()
    log = tmp_path / "runs.log"
    start_fair_worker(
        threads=2, job_business_concurrency="1", job_fair_share="true" if fair else "false"
    )
    spans(a.id, log, 1, 0.05)  # the worker is up once A's first job ran
    wait_for(lambda: all_succeeded(a.id), timeout=60, what="the worker to start")
    spans(a.id, log, 8, 0.1)  # A's backlog first, then B's
    spans(b.id, log, 8, 0.1)
    wait_for(lambda: all_succeeded(a.id, b.id), timeout=120, what="every job to run")
    order = starts(log)[1:]
    if fair:
        # Round robin: never more than 2 of one business's starts in a row.
        runs = "".join("a" if business == a.id else "b" for business in order)
        assert "aaa" not in runs and "bbb" not in runs[: len(runs) - 2], runs
        assert order[:4].count(b.id) >= 1, runs
    else:
        assert order == [a.id] * 8 + [b.id] * 8


def test_a_slot_held_by_a_sigkilled_worker_is_freed_and_the_waiting_job_runs(
    pg_rabbit, start_fair_worker: StartWorker, tmp_path: Path
) -> None:
    a = make_business()
    set_limits(a.id, {"test_fair": 1})
    log, marker = tmp_path / "runs.log", tmp_path / "held"
    first = start_fair_worker()
    enqueue(fair_actors.HOLD_UNTIL_KILLED, business_id=a.id, log=str(log), marker=str(marker))
    wait_for(marker.exists, timeout=60, what="the first job to hold A's only slot")
    spans(a.id, log, 1, 0.05)
    wait_for(lambda: parked(a.id) == 1, timeout=60, what="the second job to wait for the slot")
    first.kill()
    start_fair_worker()
    wait_for(lambda: all_succeeded(a.id), timeout=120, what="both jobs to run")
    assert len(starts(log)) == 3  # the held job twice (killed, then taken over), the other once
    assert slots(a.id) == [] and dead_lettered(pg_rabbit.amqp_url) == 0


def test_the_sweep_frees_a_slot_whose_worker_is_gone(
    pg_rabbit, start_fair_worker: StartWorker, tmp_path: Path
) -> None:
    a = make_business()
    set_limits(a.id, {"test_fair": 1})
    ghost = f"gone:{uuid.uuid4().hex[:8]}"  # no heartbeat: a worker that died long ago
    with system_session() as session:
        session.execute(
            text(
                "INSERT INTO job_slots (job_id, business_id, queue_name, worker_id, taken_at) "
                "VALUES (:job, :business, 'test_fair', :worker, now())"
            ),
            {"job": str(uuid.uuid4()), "business": a.id, "worker": ghost},
        )
    log = tmp_path / "runs.log"
    spans(a.id, log, 2, 0.05)
    start_fair_worker()
    wait_for(lambda: all_succeeded(a.id), timeout=60, what="the jobs to run")
    assert ghost not in slots(a.id) and json.dumps(starts(log)) == json.dumps([a.id, a.id])


def job_row(job_id: str) -> Job:
    with system_session() as session:
        row = session.get(Job, job_id)
        assert row is not None
        session.expunge(row)
        return row


def slot_of(job_id: str) -> list[str | None]:
    """The job's slot, if it has one: the worker named, None for a reservation."""
    with system_session() as session:
        return list(session.scalars(select(JobSlot.worker_id).where(JobSlot.job_id == job_id)))


def holding_the_only_slot(
    start_fair_worker: StartWorker, log: Path, seconds: float
) -> tuple[TestBusiness, ServiceProcess]:
    """A business with one slot in ``test_fair``, its first job (``seconds`` long) running in it
    on a worker whose reservations never expire in these tests; the business and the worker."""
    a = make_business()
    set_limits(a.id, {"test_fair": 1})
    worker = start_fair_worker(job_slot_reservation_s="600")
    spans(a.id, log, 1, seconds)
    wait_for(lambda: starts(log) == [a.id], timeout=60, what="A's first job to hold its slot")
    return a, worker


def test_a_job_woken_and_run_here_is_taken_over_once_its_killed_worker_goes_stale(
    pg_rabbit, start_fair_worker: StartWorker, tmp_path: Path
) -> None:
    # The worker runs the job its own slot woke without publishing it (``woken_here.py``):
    # killed mid-run, no RabbitMQ delivery comes back. The sweep's copy takes it over
    # (migration 0044); without it the job stays running and holds A's only slot for good.
    log, marker = tmp_path / "runs.log", tmp_path / "held"
    a, first = holding_the_only_slot(start_fair_worker, log, 1.0)
    held = enqueue(
        fair_actors.HOLD_UNTIL_KILLED, business_id=a.id, log=str(log), marker=str(marker)
    ).job_id
    assert parked(a.id) == 1  # parked at once: A is at its limit
    wait_for(marker.exists, timeout=60, what="the woken job to start where its slot was freed")
    wait_for(lambda: job_row(held).status == "running", timeout=30, what="its running mark")
    assert slot_of(held) == [None]  # it runs in the slot reserved when it woke
    first.kill()

    start_fair_worker(job_slot_reservation_s="600")
    wait_for(lambda: all_succeeded(a.id), timeout=90, what="the killed job to be taken over")
    assert len(starts(log)) == 3  # the first job, the held one killed, then taken over
    row = job_row(held)
    assert (row.deliveries, row.failures) == (2, 0)  # its death counted once, not twice
    assert slots(a.id) == [] and dead_lettered(pg_rabbit.amqp_url) == 0


def lock_waiters() -> list[int]:
    """The backends of this database waiting for a lock."""
    with system_session() as session:
        rows = session.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        )
        return [int(pid) for (pid,) in rows]


def test_a_woken_job_whose_worker_dies_before_its_outcome_is_written_keeps_its_slot(
    pg_rabbit, start_fair_worker: StartWorker, tmp_path: Path
) -> None:
    # A job run where it woke has no RabbitMQ delivery to bring it back: its reservation does.
    # Freed as the job ended (as a RabbitMQ delivery's contended slot is) and the process then
    # killed before the outcome was written, the job was left running, or queued if shorter
    # than a running mark, with no slot and no message: never run again (make test's
    # jobs-kill chaos found one).
    log = tmp_path / "runs.log"
    a, first = holding_the_only_slot(start_fair_worker, log, 1.5)
    held = enqueue(fair_actors.SPAN, business_id=a.id, log=str(log), seconds=2.0).job_id
    assert parked(a.id) == 1
    wait_for(
        lambda: job_row(held).status == "running" and slot_of(held) == [None],
        timeout=60,
        what="the woken job to run here in its reservation",
    )
    with system_session() as session:
        # PostgreSQL holds the job's outcome back: the process dies before it is written.
        session.execute(select(Job.id).where(Job.id == held).with_for_update())
        [writer] = wait_for(lock_waiters, timeout=30, what="the outcome's write to wait")
        first.kill()
        session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": writer})
        session.rollback()
    assert job_row(held).status == "running" and slot_of(held) == [None]

    start_fair_worker(job_slot_reservation_s="600")
    wait_for(lambda: all_succeeded(a.id), timeout=90, what="the killed job to be taken over")
    assert (job_row(held).deliveries, len(starts(log))) == (2, 3)
    assert slots(a.id) == [] and dead_lettered(pg_rabbit.amqp_url) == 0


def test_a_woken_job_that_fails_where_it_woke_frees_its_slot_for_its_retry(
    pg_rabbit, start_fair_worker: StartWorker, tmp_path: Path
) -> None:
    # Its slot is freed once its failure is settled, after its retry is published: kept, the
    # retry would be parked behind it for good; the retry, reaching a worker before the slot
    # is freed, is sent back for later, not dropped.
    log, marker = tmp_path / "runs.log", tmp_path / "failed"
    a, _ = holding_the_only_slot(start_fair_worker, log, 1.0)
    failing = enqueue(
        fair_actors.FAIL_ONCE, business_id=a.id, log=str(log), marker=str(marker)
    ).job_id
    spans(a.id, log, 1, 0.05)  # behind it: its slot must come free again after the retry
    assert parked(a.id) == 2
    wait_for(lambda: all_succeeded(a.id), timeout=60, what="the retry and the job behind it")
    row = job_row(failing)
    assert (row.failures, row.attempts) == (1, 2)
    assert len(starts(log)) == 4 and fair_actors.most_at_once(log, a.id) == 1
    assert slots(a.id) == [] and parked(a.id) == 0 and dead_lettered(pg_rabbit.amqp_url) == 0


def test_a_worker_stopped_gracefully_publishes_the_woken_jobs_it_did_not_run(
    pg_rabbit, start_fair_worker: StartWorker, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    a, first = holding_the_only_slot(start_fair_worker, log, 2.0)
    spans(a.id, log, 1, 0.05)
    assert parked(a.id) == 1
    # Stopping, the worker finishes its running job, whose slot wakes the parked one: the
    # worker holds it, runs it no more, and publishes it as it stops.
    assert first.stop(whole_group=False) == 0
    assert len(starts(log)) == 1 and parked(a.id) == 0

    start_fair_worker(job_slot_reservation_s="600")
    wait_for(lambda: all_succeeded(a.id), timeout=60, what="the woken job to run elsewhere")
    assert len(starts(log)) == 2 and slots(a.id) == [] and dead_lettered(pg_rabbit.amqp_url) == 0
