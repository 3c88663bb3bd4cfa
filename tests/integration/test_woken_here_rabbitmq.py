"""A woken job of the consumer's own queue runs in the process that woke it (``woken_here.py``).

The consumer is driven by hand, on real RabbitMQ: its connection's thread turns only when the
test calls ``next``. A slot freed here (``free_slot``) wakes a parked job; the release's answer
is given by the test (the slot functions' own tests are in ``test_fair_share_on_postgres``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pika
import pytest
from dramatiq import Message

from switchboard.common.jobs import enqueue
from switchboard.common.jobs.broker import use_broker
from switchboard.worker.runtime import ledger
from switchboard.worker.runtime.broker import worker_broker
from switchboard.worker.runtime.consumer import LedgerConsumer
from switchboard.worker.runtime.owed_marks import (
    defer_retry,
    owe_outcome,
    owe_success,
    requeue_instead_of_ack,
)
from switchboard.worker.runtime.woken_here import WokenHere, free_when_settled, held_wakes
from switchboard.worker.runtime.woken_messages import WOKEN
from tests.integration.test_jobs_rabbitmq import job, queue_depth
from tests.support.actors import NOOP
from tests.support.factories import make_business
from tests.support.queues import drain
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

QUEUE = NOOP.queue
OTHER = "test_woken_other"


@pytest.fixture
def queues(pg_rabbit) -> Iterator[str]:
    """The consumer's queue and another one, declared as the worker's broker does, empty; the
    AMQP URL."""
    held_wakes(QUEUE).forget()  # another test's consumer may have left some unsettled
    broker = use_broker(worker_broker(pg_rabbit))
    for queue in (QUEUE, OTHER):
        broker.declare_queue(queue, ensure=True)
    for queue in (QUEUE, OTHER, f"{QUEUE}.XQ"):
        drain(pg_rabbit.amqp_url, queue)
    yield pg_rabbit.amqp_url
    held_wakes(QUEUE).forget()
    connection = pika.BlockingConnection(pika.URLParameters(pg_rabbit.amqp_url))
    try:
        for queue in (OTHER, f"{OTHER}.DQ", f"{OTHER}.XQ"):
            connection.channel().queue_delete(queue)
    finally:
        connection.close()


def woken(queue: str = QUEUE) -> Message[Any]:
    """A parked job's message as the release returns it: the reservation for its attempt."""
    options = {"business_id": 1, WOKEN: 0}
    return Message(queue, NOOP.name, (), {}, options, str(uuid.uuid4()))


def waking(*messages: Message[Any]) -> Callable[[list[str]], list[Any]]:
    """The slot release: freeing the slot wakes ``messages``."""
    return lambda job_ids: list(messages)


def consumer_of(amqp_url: str, pg_rabbit: Any, prefetch: int = 4) -> LedgerConsumer:
    consumer = use_broker(worker_broker(pg_rabbit)).consume(QUEUE, prefetch=prefetch, timeout=100)
    assert isinstance(consumer, LedgerConsumer)
    return consumer


def test_a_job_woken_for_the_consumer_s_queue_is_handed_out_here_not_published(
    pg_rabbit, queues: str
) -> None:
    consumer = consumer_of(queues, pg_rabbit)
    try:
        assert next(consumer) is None  # idle: nothing in RabbitMQ
        mine, theirs = woken(), woken(OTHER)
        assert consumer.free_slot("ended-job", waking(mine, theirs))
        # The very next turn hands it out, without waiting for the consume call's timeout.
        held = next(consumer)
        assert isinstance(held, WokenHere)
        assert held.message_id == mine.message_id
        assert (held.redelivered, held.options[WOKEN]) == (False, 0)
        assert queue_depth(queues, QUEUE) == 0  # never published
        # A job of another queue is published for that queue's consumers.
        assert [m.message_id for m in drain(queues, OTHER)] == [theirs.message_id]
        assert held_wakes(QUEUE).unsettled() == 1
        consumer.ack(held)  # it ran: there is no delivery to acknowledge
        assert held_wakes(QUEUE).unsettled() == 0
        assert next(consumer) is None
    finally:
        consumer.close()


def test_woken_jobs_beyond_the_prefetch_are_published_for_any_process(
    pg_rabbit, queues: str
) -> None:
    consumer = consumer_of(queues, pg_rabbit, prefetch=2)
    try:
        jobs = [woken() for _ in range(3)]
        assert consumer.free_slot("ended-job", waking(*jobs))
        first = next(consumer)
        second = next(consumer)
        assert [first.message_id, second.message_id] == [m.message_id for m in jobs[:2]]
        assert isinstance(first, WokenHere) and isinstance(second, WokenHere)
        # The third went through RabbitMQ (which delivers it back here: this consumer has no
        # RabbitMQ delivery unacknowledged), as a first delivery of the woken publication.
        third = wait_for(lambda: next(consumer), what="the third woken job")
        assert not isinstance(third, WokenHere) and third._tag is not None
        assert third.message_id == jobs[2].message_id and third.options[WOKEN] == 0
        assert not third.options.get("republished") and third.redelivered is False
    finally:
        consumer.close()


def test_held_jobs_the_process_will_not_run_are_published_as_it_stops(
    pg_rabbit, queues: str
) -> None:
    consumer = consumer_of(queues, pg_rabbit)
    first, second = woken(), woken()
    assert consumer.free_slot("ended-job", waking(first, second))
    taken = next(consumer)  # in Dramatiq's in-memory queue, not started
    assert taken is not None and taken.message_id == first.message_id
    consumer.requeue([taken])  # the worker stops: what its threads did not start
    consumer.close()  # what the consumer still held
    copies = drain(queues, QUEUE)
    assert [m.message_id for m in copies] == [first.message_id, second.message_id]
    # Copies ask the ledger (another execution may exist) and keep the job's reservation.
    assert all(m.options["republished"] is True and m.options[WOKEN] == 0 for m in copies)
    assert held_wakes(QUEUE).unsettled() == 0


def test_a_held_job_dramatiq_failed_for_good_is_dead_lettered(pg_rabbit, queues: str) -> None:
    consumer = consumer_of(queues, pg_rabbit)
    try:
        job = woken()
        assert consumer.free_slot("ended-job", waking(job))
        held = next(consumer)
        assert held is not None
        held.fail()
        consumer.nack(held)
        assert next(consumer) is None  # the turn that settles it
        dead = wait_for(lambda: drain(queues, f"{QUEUE}.XQ"), what="the dead-lettered job")
        assert [m.message_id for m in dead] == [job.message_id]
        assert queue_depth(queues, QUEUE) == 0
    finally:
        consumer.close()


def test_a_held_job_sent_back_is_held_again_as_a_redelivery(pg_rabbit, queues: str) -> None:
    # The ledger could not publish its delayed copy (``_requeue``): RabbitMQ would have the
    # delivery back at the head of its queue, marked redelivered; a held job comes back here.
    consumer = consumer_of(queues, pg_rabbit)
    try:
        job = woken()
        assert consumer.free_slot("ended-job", waking(job))
        held = next(consumer)
        assert held is not None and held.redelivered is False
        requeue_instead_of_ack(held)
        consumer.ack(held)
        again = next(consumer)
        assert isinstance(again, WokenHere) and again.message_id == job.message_id
        assert again.redelivered is True  # it starts through the ledger's checks
        assert queue_depth(queues, QUEUE) == 0
    finally:
        consumer.close()


def test_a_held_job_ending_after_its_consumer_closed_is_settled_by_the_next_one(
    pg_rabbit, queues: str
) -> None:
    # RabbitMQ went away while the job ran: Dramatiq closed the consumer, and the job's end
    # reaches that closed consumer. A RabbitMQ delivery would come back; a held job's outcome
    # must not be lost with it (its row would say running, and its slot stay held, for good).
    business = make_business()
    job_id = enqueue(NOOP, business_id=business.id).job_id
    drain(queues, QUEUE)  # the job's own publication: this test wakes it instead
    old = consumer_of(queues, pg_rabbit)
    parked = woken()
    assert old.free_slot("ended-job", waking(parked.copy(message_id=job_id)))
    held = next(old)
    assert isinstance(held, WokenHere) and held.message_id == job_id
    assert ledger.mark_started(job_id, max_unfinished=3) is not None
    old.close()  # the connection is lost while the job runs

    owe_success(held, job_id)
    old.ack(held)  # the job ends
    assert job(job_id).status == "running"
    new = consumer_of(queues, pg_rabbit)
    try:
        assert next(new) is None  # its first turn writes the outcome
        assert job(job_id).status == "succeeded"
        assert held_wakes(QUEUE).unsettled() == 0
    finally:
        new.close()


@pytest.mark.parametrize("outcome", ["retried", "succeeded"])
def test_a_held_job_s_slot_is_freed_once_its_outcome_is_written(
    pg_rabbit, queues: str, outcome: str
) -> None:
    # No RabbitMQ delivery brings a held job back: until its outcome is written, its
    # reservation does (``woken_here.free_when_settled``). A failure's slot is freed once the
    # failure is settled; a success's by its mark's own statement, not again.
    business = make_business()
    job_id = enqueue(NOOP, business_id=business.id).job_id
    drain(queues, QUEUE)  # the job's own publication: this test wakes it instead
    consumer = consumer_of(queues, pg_rabbit)
    try:
        assert consumer.free_slot("ended-job", waking(woken().copy(message_id=job_id)))
        held = next(consumer)
        assert isinstance(held, WokenHere)
        assert ledger.mark_started(job_id, max_unfinished=3) is not None
        freed: list[str] = []
        free_when_settled(held, lambda: freed.append(job(job_id).status))
        if outcome == "retried":
            owe_outcome(held, ledger.failure_outcome(job_id, "boom", status="queued"))
            defer_retry(held, None)
        else:
            owe_success(held, job_id)
        consumer.ack(held)  # the job ended: its outcome is owed
        assert freed == [] and job(job_id).status == "running"
        delivered = next(consumer)  # the turn that writes and settles it
        if outcome == "retried":
            assert freed == ["queued"]  # after the failure's mark
            retry = delivered or wait_for(lambda: next(consumer), what="the retry, via RabbitMQ")
            assert retry.message_id == job_id and not isinstance(retry, WokenHere)
            consumer.ack(retry)
        else:
            assert delivered is None
            assert freed == [] and job(job_id).status == "succeeded"
        assert held_wakes(QUEUE).unsettled() == 0
    finally:
        consumer.close()
