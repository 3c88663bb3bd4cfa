"""A batch of successes frees its jobs' fair-share slots in its own statement and publishes the
parked jobs they wake (``ledger._succeed_many``, ``fair_share._SuccessRelease``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dramatiq import Message
from sqlalchemy import select, text, update

from switchboard.common.db import system_session
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import PROCESS_WHATSAPP_WEBHOOK
from switchboard.common.jobs.enqueue import enqueue_many, prepare_job
from switchboard.common.models import Business, Job, JobSlot
from switchboard.common.settings import Settings
from switchboard.worker.runtime import fair_share, ledger, woken_here
from switchboard.worker.runtime.woken_messages import WOKEN
from tests.support.factories import make_business

pytestmark = pytest.mark.integration


@pytest.fixture
def business_id(pg: Settings, whatsapp_queues: None) -> Iterator[int]:
    business = make_business()
    with system_session() as session:
        session.execute(
            update(Business)
            .where(Business.id == business.id)
            .values(job_concurrency={"whatsapp": 2})
        )
    yield business.id
    with system_session() as session:
        for table in ("jobs", "outbox", "job_slots"):
            session.execute(
                text(f"DELETE FROM {table} WHERE business_id = :id"), {"id": business.id}
            )


def _enqueue(business_id: int, *message_ids: int) -> list[str]:
    jobs = [
        prepare_job(PROCESS_WHATSAPP_WEBHOOK, business_id=business_id, message_id=message_id)
        for message_id in message_ids
    ]
    return [ref.job_id for ref in enqueue_many(jobs)]


def _start(share: fair_share.FairShare, business_id: int, job_id: str) -> str:
    """What the fair-share middleware and the ledger do as a delivery starts."""
    answer = share.take(job_id, business_id, "whatsapp", None)
    assert ledger.mark_started(job_id, max_unfinished=3) is not None
    return answer


def test_a_success_frees_its_slot_in_its_own_statement_and_wakes_the_parked_job(
    business_id: int,
) -> None:
    share = fair_share.fair_share()
    assert share is not None
    (first,) = _enqueue(business_id, 1)
    assert _start(share, business_id, first) == "taken"  # one of two: freed with its success
    second, third = _enqueue(business_id, 2, 3)  # the third finds the limit held: parked
    assert _start(share, business_id, second) == "contended"
    queue = get_broker().queues["whatsapp"]  # the stub broker's
    while not queue.empty():
        queue.get_nowait()

    ledger.mark_succeeded_many([ledger.success_outcome(first)])

    with system_session() as session:
        held = dict(session.execute(select(JobSlot.job_id, JobSlot.worker_id)).all())
        statuses = dict(session.execute(select(Job.id, Job.status)).all())
        parked = session.scalar(select(Job.parked_at).where(Job.id == third))
    assert statuses[first] == "succeeded"
    assert first not in held  # freed by the success's statement
    assert second in held
    assert held[third] is None  # reserved for the woken job, not yet started
    assert parked is None
    published = [queue.get_nowait() for _ in range(queue.qsize())]
    assert [_job_id(body) for body in published] == [third]


def test_the_jobs_a_consumer_thread_s_success_wakes_go_to_it_not_to_the_broker(
    business_id: int,
) -> None:
    """Written by a queue's consumer thread (``consumer._write_owed``), a success's woken jobs
    are offered to that consumer to run in its process; only those it declines are published."""
    share = fair_share.fair_share()
    assert share is not None
    first, second = _enqueue(business_id, 1, 2)
    _start(share, business_id, first)
    assert _start(share, business_id, second) == "contended"
    third, fourth = _enqueue(business_id, 3, 4)  # parked behind them
    queue = get_broker().queues["whatsapp"]  # the stub broker's
    while not queue.empty():
        queue.get_nowait()
    offered: list[Message] = []

    def hold_one(messages: list[Message]) -> list[Message]:
        offered.extend(messages)
        return messages[1:]

    with woken_here.holding(hold_one):
        ledger.mark_succeeded_many([ledger.success_outcome(first), ledger.success_outcome(second)])

    # Both woken; one batch parked them at one instant, so in no order between them.
    assert sorted(message.message_id for message in offered) == sorted([third, fourth])
    assert all(message.options[WOKEN] == 0 for message in offered)
    published = [queue.get_nowait() for _ in range(queue.qsize())]
    declined = offered[1].message_id
    assert [_job_id(body) for body in published] == [declined]  # only the one it declined


def test_a_success_whose_slot_was_freed_as_it_ended_frees_nothing_more(
    business_id: int,
) -> None:
    """A contended slot is freed by the consumer as its job ends; its success batch must not
    free a slot again (the job's row is gone, and its business's count with it)."""
    share = fair_share.fair_share()
    assert share is not None
    first, second = _enqueue(business_id, 1, 2)
    _start(share, business_id, first)
    assert _start(share, business_id, second) == "contended"
    share.release([second])  # as the consumer does for a contended slot …
    with fair_share._freed_lock:
        fair_share._freed.add(second)  # … noting that its success batch has none to free

    assert ledger.slot_release is not None
    assert ledger.slot_release.held([first, second]) == ([first], share.defaults)
    assert second not in fair_share._freed


def test_a_consumer_threads_release_frees_the_slot_and_returns_the_woken_job(
    business_id: int,
) -> None:
    """The consumer thread's statement (a prepared one on its own connection): the freed
    slot goes to the parked job, whose message comes back marked as holding it."""
    share = fair_share.fair_share()
    assert share is not None
    first, second = _enqueue(business_id, 1, 2)
    _start(share, business_id, first)
    assert _start(share, business_id, second) == "contended"
    (third,) = _enqueue(business_id, 3)  # parked behind them

    woken = share.woken([second])

    assert [message.message_id for message in woken] == [third]
    assert woken[0].options[WOKEN] == 0
    with system_session() as session:
        held = dict(session.execute(select(JobSlot.job_id, JobSlot.worker_id)).all())
    assert second not in held
    assert held[third] is None  # reserved for the woken job
    assert share.woken([second]) == []  # freed once: nothing more to wake


def _job_id(body: bytes) -> str:
    return str(Message.decode(body).message_id)
