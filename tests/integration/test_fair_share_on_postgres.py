"""Fair share on PostgreSQL without a worker: a job enqueued while its business holds its
limit in the queue, or has jobs parked there, is parked at once (no outbox row), through
``enqueue`` and through the one SQL insert the WhatsApp functions use; and the console's
queues view shows each queue's limit and the jobs parked for a slot."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dramatiq import Message
from dramatiq.middleware import SkipMessage
from sqlalchemy import func, select, text, update

from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import PROCESS_WHATSAPP_WEBHOOK
from switchboard.common.jobs.enqueue import PreparedJob, enqueue_many, prepare_job
from switchboard.common.jobs.fair_share import limits_in
from switchboard.common.models import Business, Job, JobSlot, OutboxMessage
from switchboard.common.settings import Settings, get_settings
from switchboard.domain.operations import queue_rows
from switchboard.worker.runtime import fair_share as fair_share_runtime
from switchboard.worker.runtime.fair_share import FairShareMiddleware
from switchboard.worker.runtime.middleware import LedgerMiddleware
from switchboard.worker.runtime.woken_messages import WOKEN
from tests.support.actors import NOOP
from tests.support.clock import MonotonicClock
from tests.support.deliveries import delivery
from tests.support.factories import make_business
from tests.support.ledger_rows import heartbeat, job_in, running_on

pytestmark = pytest.mark.integration


@pytest.fixture
def two_businesses(pg: Settings, whatsapp_queues: None) -> Iterator[tuple[int, int]]:
    """Two businesses whose jobs and outbox rows are removed afterwards: no worker of a later
    test wakes a parked job, and no relay trips on an outbox row."""
    ids = [make_business().id, make_business().id]
    yield ids[0], ids[1]
    with system_session() as session:
        for table in ("jobs", "outbox", "job_slots"):
            session.execute(
                text(f"DELETE FROM {table} WHERE business_id = ANY(:ids)"), {"ids": ids}
            )


def set_limits(business_id: int, limits: dict[str, int]) -> None:
    with system_session() as session:
        session.execute(
            update(Business).where(Business.id == business_id).values(job_concurrency=limits)
        )


def test_the_queues_view_shows_the_business_s_limits_and_its_parked_jobs(
    pg: Settings, two_businesses: tuple[int, int]
) -> None:
    business_id, other_id = two_businesses
    parked = [job_in(business_id, "queued") for _ in range(3)]
    job_in(other_id, "queued")
    with system_session() as session:
        session.execute(update(Job).where(Job.id.in_(parked[:2])).values(parked_at=utcnow()))
    set_limits(business_id, {"test_jobs": 2})
    rows = {row.queue: row for row in queue_rows(business_id)}
    assert (rows["test_jobs"].depth, rows["test_jobs"].parked, rows["test_jobs"].limit) == (3, 2, 2)
    assert rows["analysis"].limit == pg.job_business_concurrency  # the deployment's
    theirs = {row.queue: row for row in queue_rows(other_id)}["test_jobs"]
    assert (theirs.depth, theirs.parked, theirs.limit) == (1, 0, pg.job_business_concurrency)


def test_a_business_s_own_limit_comes_first_then_the_queue_s_then_the_default(
    pg: Settings, two_businesses: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    business_id, other_id = two_businesses
    monkeypatch.setenv("JOB_BUSINESS_CONCURRENCY", "4")
    monkeypatch.setenv("JOB_BUSINESS_CONCURRENCY_BY_QUEUE", "analysis=2")
    get_settings.cache_clear()
    try:
        set_limits(business_id, {"analysis": 9, "calls": 1})
        queues = ["analysis", "calls", "whatsapp"]
        with tenant_session(business_id) as session:
            own = limits_in(session, business_id, queues)
        with tenant_session(other_id) as session:
            theirs = limits_in(session, other_id, queues)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert own == {"analysis": 9, "calls": 1, "whatsapp": 4}
    assert theirs == {"analysis": 2, "calls": 4, "whatsapp": 4}


def _published(job_id: str) -> bool:
    """Not parked; a parked job has no outbox row (a published one's is gone once the broker
    took it)."""
    with system_session() as session:
        parked = session.scalar(select(Job.parked_at).where(Job.id == job_id))
        outbox = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.job_id == job_id)
        )
    if parked is not None:
        assert outbox == 0
    return parked is None


def _sql_enqueue(business_id: int, job: PreparedJob) -> list[tuple[Any, ...]]:
    """``job`` through the one SQL insert the WhatsApp functions use (migration 0010, as 0022
    redefines it): its (job id, outbox id or None when parked, payload)."""
    with tenant_session(business_id) as session:
        rows = session.execute(
            text(
                "SELECT * FROM switchboard_enqueue_jobs(:b, :now, :ids, :queues, :actors, "
                "CAST(:retries AS integer[]), :messages)"
            ),
            {
                "b": business_id,
                "now": utcnow(),
                "ids": [job.message.message_id],
                "queues": [job.message.queue_name],
                "actors": [job.message.actor_name],
                "retries": [job.max_retries],
                "messages": [job.payload],
            },
        ).all()
    return [tuple(row) for row in rows]


def test_a_business_at_its_limit_has_new_jobs_parked_at_enqueue(
    two_businesses: tuple[int, int],
) -> None:
    business_id, other_id = two_businesses
    set_limits(business_id, {"whatsapp": 1})
    with system_session() as session:
        session.add(
            JobSlot(job_id=str(uuid.uuid4()), business_id=business_id, queue_name="whatsapp")
        )
    spec = PROCESS_WHATSAPP_WEBHOOK
    assert not _published(enqueue(spec, business_id=business_id, message_id=1).job_id)
    assert _published(enqueue(spec, business_id=other_id, message_id=2).job_id)
    with system_session() as session:
        session.execute(text("DELETE FROM job_slots WHERE business_id = :b"), {"b": business_id})
    # A free slot, but a job parked first: the new one queues behind it.
    assert not _published(enqueue(spec, business_id=business_id, message_id=3).job_id)
    # The WhatsApp functions' one SQL insert (migration 0010, as 0022 redefines it) parks too.
    job = prepare_job(spec, business_id=business_id, message_id=4)
    assert _sql_enqueue(business_id, job) == [(job.message.message_id, None, None)]
    assert not _published(job.message.message_id)


def test_the_sql_insert_parks_a_job_whose_business_holds_its_limit(
    two_businesses: tuple[int, int],
) -> None:
    business_id, other_id = two_businesses
    set_limits(business_id, {"whatsapp": 1})
    set_limits(other_id, {"whatsapp": 1})
    with system_session() as session:
        held = JobSlot(job_id=str(uuid.uuid4()), business_id=business_id, queue_name="whatsapp")
        session.add(held)
    spec = PROCESS_WHATSAPP_WEBHOOK
    outbox_ids = {}
    for owner in (business_id, other_id):
        job = prepare_job(spec, business_id=owner, message_id=5)
        [(_, outbox_id, _)] = _sql_enqueue(owner, job)
        outbox_ids[owner] = outbox_id
    assert outbox_ids[business_id] is None  # its one slot is held: parked
    assert outbox_ids[other_id] is not None  # published


def test_a_batch_publishes_only_what_its_business_has_slots_for_and_parks_the_rest(
    two_businesses: tuple[int, int],
) -> None:
    """``enqueue_many``'s one statement counts the batch's own earlier jobs in each queue:
    10 jobs against a limit of 3 with one slot held publish 2 and park 8 (a backlog is never
    in the broker whole), and the queue of a business without parked jobs is not affected by
    another queue's."""
    business_id, _ = two_businesses
    set_limits(business_id, {"whatsapp": 3})
    with system_session() as session:
        session.add(
            JobSlot(job_id=str(uuid.uuid4()), business_id=business_id, queue_name="whatsapp")
        )
    spec = PROCESS_WHATSAPP_WEBHOOK
    jobs = [prepare_job(spec, business_id=business_id, message_id=100 + n) for n in range(10)]
    refs = enqueue_many(jobs)
    published = [_published(ref.job_id) for ref in refs]
    assert published == [True, True] + [False] * 8  # the first two, in the order given
    with system_session() as session:
        parked = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.business_id == business_id, Job.parked_at.is_not(None))
        )
    assert parked == 8


def test_the_sweep_plans_with_the_server_s_defaults_not_the_ledger_connection_s(
    pg: Settings,
) -> None:
    """The sweep runs on a worker's ledger connection, whose session forbids sequential, hash
    and merge plans; under those its scans took 0.5-0.8 s on a queue's consumer thread once a
    second. Its own settings put the defaults back while it runs."""
    with system_session() as session:
        config = session.scalar(
            text("SELECT proconfig FROM pg_proc WHERE proname = 'switchboard_sweep_slots'")
        )
    assert set(config) >= {
        "enable_seqscan=on",
        "enable_bitmapscan=on",
        "enable_hashjoin=on",
        "enable_mergejoin=on",
        "plan_cache_mode=auto",
    }


@pytest.fixture
def business_id(two_businesses: tuple[int, int]) -> int:
    """A business with one slot in ``test_jobs``."""
    set_limits(two_businesses[0], {"test_jobs": 1})
    return two_businesses[0]


def _reserve(business_id: int, job_id: str, *, age_s: float) -> None:
    """A slot reserved for the job ``age_s`` seconds ago, as a wake leaves it (no worker)."""
    with system_session() as session:
        session.execute(
            text(
                "INSERT INTO job_slots (job_id, business_id, queue_name, worker_id, taken_at) "
                "VALUES (:job, :business, 'test_jobs', NULL, now() - make_interval(secs => :age))"
            ),
            {"job": job_id, "business": business_id, "age": age_s},
        )


def _sweep(reservation_s: float) -> list[str]:
    """One sweep, reservations older than ``reservation_s`` expiring; the jobs it woke."""
    with system_session() as session:
        rows = session.execute(
            text(
                "SELECT woken_job FROM switchboard_sweep_slots(now() - interval '30 seconds',"
                " now() - make_interval(secs => :reservation), '{}')"
            ),
            {"reservation": reservation_s},
        )
        return [row.woken_job for row in rows]


def _slot_holders(business_id: int) -> list[str]:
    with system_session() as session:
        return list(
            session.scalars(select(JobSlot.job_id).where(JobSlot.business_id == business_id))
        )


def test_a_woken_job_running_past_its_reservation_keeps_its_slot(business_id: int) -> None:
    # Its delivery started in the reserved slot without taking it again (``WOKEN``): the slot
    # names no worker. A minute into its run on a live worker, it is still the business's one
    # slot.
    live = f"live:{uuid.uuid4().hex[:6]}"
    heartbeat(live)
    woken = running_on(business_id, live)
    waiting = job_in(business_id, "queued")
    with system_session() as session:
        session.execute(update(Job).where(Job.id == waiting).values(parked_at=utcnow()))
    _reserve(business_id, woken, age_s=120)

    assert waiting not in _sweep(reservation_s=60)
    assert _slot_holders(business_id) == [woken]

    # Never started (its publisher died first): the reservation expires, the job is parked
    # again, and the oldest parked job gets the slot.
    with system_session() as session:
        session.execute(update(Job).where(Job.id == woken).values(status="queued"))
    swept = _sweep(reservation_s=60)
    assert woken in swept and waiting not in swept
    assert _slot_holders(business_id) == [woken]


def _swept_copies(reservation_s: float) -> dict[str, dict[str, Any]]:
    """One sweep; the messages it returned, by job (their options)."""
    with system_session() as session:
        rows = session.execute(
            text(
                "SELECT woken_job, woken_message FROM switchboard_sweep_slots("
                "now() - interval '30 seconds', now() - make_interval(secs => :reservation), '{}')"
            ),
            {"reservation": reservation_s},
        )
        return {row.woken_job: json.loads(row.woken_message)["options"] for row in rows}


def test_the_sweep_publishes_one_copy_of_a_woken_job_whose_worker_died_running_it(
    business_id: int,
) -> None:
    # A worker ran a job it woke itself (no RabbitMQ delivery: ``woken_here.py``) and was
    # killed: its row says running on a worker whose heartbeat is stale, its slot is still a
    # reservation. Nothing else would deliver it again.
    live, dead = f"live:{uuid.uuid4().hex[:6]}", f"dead:{uuid.uuid4().hex[:6]}"
    heartbeat(live)
    heartbeat(dead, age_s=120)
    lost, on_live, claimed, lately = (running_on(business_id, w) for w in (dead, live, dead, dead))
    for job_id in (lost, on_live, claimed):
        _reserve(business_id, job_id, age_s=120)
    _reserve(business_id, lately, age_s=5)  # woken moments ago: its worker's death is older
    with system_session() as session:  # a RabbitMQ redelivery claimed this one already
        session.execute(update(JobSlot).where(JobSlot.job_id == claimed).values(worker_id=live))

    copies = _swept_copies(reservation_s=60)
    assert list(copies) == [lost]
    assert copies[lost]["republished"] is True  # its delivery takes the ledger's checked path
    assert copies[lost]["business_id"] == business_id
    # One copy per staleness period: the next sweeps leave it to the copy under way.
    assert lost not in _swept_copies(reservation_s=60)
    assert sorted(_slot_holders(business_id)) == sorted([lost, on_live, claimed, lately])
    # The copy's delivery claims the reservation from the dead worker: the job is taken over.
    assert _take(business_id, lost, f"copy:{uuid.uuid4().hex[:6]}") == "contended"


def _take(business_id: int, job_id: str, worker: str) -> str:
    """``worker``'s delivery of the job takes a slot (``FairShare.take``'s statement)."""
    with system_session() as session:
        answer = session.scalar(
            text(
                "SELECT switchboard_take_slot(:job, :business, 'test_jobs', :worker, '{}',"
                " now() - interval '30 seconds', NULL)"
            ),
            {"job": job_id, "business": business_id, "worker": worker},
        )
    return str(answer)


def _slot_worker(job_id: str) -> str | None:
    with system_session() as session:
        return session.scalar(select(JobSlot.worker_id).where(JobSlot.job_id == job_id))


def test_another_copy_of_a_woken_job_takes_its_reserved_slot_only_to_take_it_over(
    business_id: int,
) -> None:
    # The woken publication runs in the reserved slot without taking it. Another copy (the
    # relay's, a requeue) must neither run the job beside it nor free the slot under it.
    live, dead = f"live:{uuid.uuid4().hex[:6]}", f"dead:{uuid.uuid4().hex[:6]}"
    heartbeat(live)
    copy_s_worker = f"copy:{uuid.uuid4().hex[:6]}"
    not_started, on_live, on_dead, done = (
        job_in(business_id, "queued"),
        running_on(business_id, live),
        running_on(business_id, dead),  # no heartbeat: it died
        job_in(business_id, "succeeded"),
    )
    for job_id in (not_started, on_live, on_dead, done):
        _reserve(business_id, job_id, age_s=1)

    answers = [_take(business_id, job_id, copy_s_worker) for job_id in (not_started, on_live)]
    assert answers == ["reserved", "held"]
    assert [_slot_worker(job_id) for job_id in (not_started, on_live)] == [None, None]
    assert _take(business_id, done, copy_s_worker) == "final"
    assert _take(business_id, on_dead, copy_s_worker) == "contended"  # taken over
    assert _slot_worker(on_dead) == copy_s_worker

    # The worker's middleware drops the copy of the job not started: its message is acked
    # unrun, and the job keeps its reservation for the woken publication.
    copy = delivery(business_id, not_started, again=False, republished=True)
    with pytest.raises(SkipMessage):
        FairShareMiddleware().before_process_message(get_broker(), copy)
    assert _slot_worker(not_started) is None
    assert _slot_holders(business_id).count(not_started) == 1

    # The woken publication itself, delivered again (its worker lost RabbitMQ before it
    # started the job), is the reservation's: it goes on to the ledger, to run in that slot.
    again = delivery(business_id, not_started, again=True, **{WOKEN: 0})
    FairShareMiddleware().before_process_message(get_broker(), again)  # not skipped
    assert _slot_worker(not_started) is None


def _woken_not_started(business_id: int) -> tuple[str, Any]:
    """A queued job holding the slot reserved when it woke, a second ago; the broker (stub)."""
    job_id = job_in(business_id, "queued")
    _reserve(business_id, job_id, age_s=1)
    broker = get_broker()
    broker.declare_queue(NOOP.queue)
    return job_id, broker


def test_a_retry_of_a_woken_attempt_finding_its_slot_still_reserved_is_sent_back_not_dropped(
    business_id: int,
) -> None:
    # An attempt run where it woke frees its reserved slot once its failure is settled, just
    # after its retry is published (``consumer._settle_held``). A retry delivered in between
    # finds the reservation: dropped as another copy, it left the job queued with neither a
    # slot nor a message once the slot was freed. It is sent back for later.
    job_id, broker = _woken_not_started(business_id)
    retry = delivery(business_id, job_id, again=False, retries=1, **{WOKEN: 0})
    with pytest.raises(SkipMessage):
        FairShareMiddleware().before_process_message(broker, retry)
    [body] = list(broker.queues[f"{NOOP.queue}.DQ"].queue)
    copy = Message.decode(body)
    assert copy.message_id == job_id and copy.options["republished"] is True
    assert (copy.options["retries"], copy.options[WOKEN]) == (1, 0)
    assert _slot_worker(job_id) is None  # the reservation is left to its attempt


def test_a_woken_delivery_sent_back_while_its_job_runs_here_leaves_the_slot_to_it(
    business_id: int,
) -> None:
    # Another delivery of the job runs in this process (it took the job over); the woken
    # publication arrives, inherits the reservation, and the ledger sends it back for later.
    # Its skip must not free the slot the running execution holds.
    job_id, broker = _woken_not_started(business_id)
    fair, ledger_middleware = FairShareMiddleware(), LedgerMiddleware()

    # The woken publication's redelivery runs; its first delivery arrives after.
    running = delivery(business_id, job_id, again=True, **{WOKEN: 0})
    fair.before_process_message(broker, running)
    ledger_middleware.before_process_message(broker, running)
    woken = delivery(business_id, job_id, again=False, **{WOKEN: 0})
    fair.before_process_message(broker, woken)
    with pytest.raises(SkipMessage):
        ledger_middleware.before_process_message(broker, woken)
    ledger_middleware.after_skip_message(broker, woken)
    fair.after_skip_message(broker, woken)

    assert _slot_holders(business_id) == [job_id]
    ledger_middleware.after_process_message(broker, running)
    fair.after_process_message(broker, running)


def test_a_booted_worker_sweeps_one_interval_after_its_boot_not_before_its_first_job(
    business_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A parked job with its business's slots all free: the first sweep wakes it. On the
    # consumers' first turn that sweep would delay the worker's first job; it comes one
    # interval after the boot.
    get_broker().declare_queue(NOOP.queue)
    parked = job_in(business_id, "queued")
    with system_session() as session:
        session.execute(update(Job).where(Job.id == parked).values(parked_at=utcnow()))
    clock = MonotonicClock()
    monkeypatch.setattr(fair_share_runtime, "time", clock)
    middleware = FairShareMiddleware(interval_s=5)

    middleware.tick()  # before the boot (the CLI's parent process): never
    middleware.after_worker_boot(get_broker(), None)
    middleware.tick()  # the first turns after the boot
    assert not _published(parked)

    clock.now += 5
    middleware.tick()
    assert _published(parked)
