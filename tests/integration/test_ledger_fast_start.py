"""First deliveries that start with no ledger round trip, on PostgreSQL (``jobs/inflight.py``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dramatiq import Message
from dramatiq.middleware import SkipMessage
from sqlalchemy import select, update

from switchboard.common.db import tenant_session
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import PROCESS_WHATSAPP_WEBHOOK
from switchboard.common.jobs.context import JobContext, set_current_job
from switchboard.common.jobs.service import cancel_job
from switchboard.common.models import Business, Job
from switchboard.common.settings import Settings
from switchboard.domain.whatsapp.concurrency import business_is_busy
from switchboard.worker.runtime import inflight, ledger
from switchboard.worker.runtime.broker import LedgerRabbitmqBroker
from switchboard.worker.runtime.middleware import LedgerMiddleware
from tests.support.actors import NOOP
from tests.support.deliveries import delivery
from tests.support.factories import make_business
from tests.support.log_capture import capture_logs

pytestmark = pytest.mark.integration


def _queued(business_id: int, n: int) -> list[str]:
    with tenant_session(business_id):
        return [enqueue(NOOP, business_id=business_id).job_id for _ in range(n)]


def _row(business_id: int, job_id: str) -> Job:
    with tenant_session(business_id) as session:
        return session.execute(select(Job).where(Job.id == job_id)).scalar_one()


def _refresh_knowledge(business_id: int) -> None:
    """Run one job the checked way: its success batch reads the recent cancellations."""
    (job_id,) = _queued(business_id, 1)
    assert ledger.mark_started(job_id, max_unfinished=3) is not None
    ledger.mark_succeeded(job_id)


def test_a_first_delivery_starts_only_once_a_batch_has_read_the_cancellations(
    pg: Settings, fresh: None
) -> None:
    business = make_business()
    (job_id,) = _queued(business.id, 1)
    assert ledger.start_fast(job_id) is False, "no batch has run in this process yet"

    _refresh_knowledge(business.id)
    assert ledger.start_fast(job_id) is True
    assert _row(business.id, job_id).status == "queued", "nothing was written before it ran"

    ledger.mark_succeeded(job_id)
    done = _row(business.id, job_id)
    assert (done.status, done.attempts, done.deliveries) == ("succeeded", 1, 1)
    assert done.started_at is not None and done.finished_at is not None
    assert done.started_at <= done.finished_at


def test_a_job_cancelled_before_the_batch_read_takes_the_checked_path_and_is_skipped(
    pg: Settings, fresh: None
) -> None:
    business = make_business()
    cancelled, other = _queued(business.id, 2)
    cancel_job(business.id, cancelled)

    _refresh_knowledge(business.id)

    assert ledger.start_fast(cancelled) is False
    assert ledger.mark_started(cancelled, max_unfinished=3) is None, "a final job is skipped"
    assert ledger.start_fast(other) is True


def test_knowledge_older_than_the_bound_is_not_used(pg: Settings, fresh: None, monkeypatch) -> None:
    business = make_business()
    (job_id,) = _queued(business.id, 1)
    _refresh_knowledge(business.id)

    monkeypatch.setattr(inflight, "FRESH_S", 0.0)

    assert ledger.start_fast(job_id) is False


def test_a_fast_job_running_for_a_while_is_marked_running_by_the_consumer_loop(
    pg_rabbit: Settings, fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inflight, "RUNNING_AFTER_S", 60.0)
    business = make_business()
    (job_id,) = _queued(business.id, 1)
    _refresh_knowledge(business.id)
    assert ledger.start_fast(job_id)
    broker = LedgerRabbitmqBroker(url=pg_rabbit.amqp_url)
    consumer = broker.consume("test_fast_marks", timeout=50)
    try:
        next(consumer)  # the job has run for less than RUNNING_AFTER_S: nothing to mark
        assert _row(business.id, job_id).status == "queued"

        monkeypatch.setattr(inflight, "RUNNING_AFTER_S", 0.0)
        next(consumer)
        running = _row(business.id, job_id)
        assert (running.status, running.attempts, running.deliveries) == ("running", 1, 1)

        ledger.mark_succeeded(job_id)
    finally:
        consumer.close()
        broker.close()
    done = _row(business.id, job_id)
    assert (done.status, done.attempts, done.deliveries) == ("succeeded", 1, 1)


def test_progress_from_a_fast_job_marks_it_running_first(pg: Settings, fresh: None) -> None:
    business = make_business()
    (job_id,) = _queued(business.id, 1)
    _refresh_knowledge(business.id)
    assert ledger.start_fast(job_id)

    assert ledger.record_progress(job_id, 0.5, "half way") is True

    row = _row(business.id, job_id)
    assert (row.status, row.attempts, row.progress, row.progress_message) == (
        "running",
        1,
        0.5,
        "half way",
    )


def test_a_fast_job_that_fails_is_recorded_and_a_redelivery_after_a_fast_start_counts_once(
    pg: Settings, fresh: None
) -> None:
    business = make_business()
    failing, crashing = _queued(business.id, 2)
    _refresh_knowledge(business.id)

    assert ledger.start_fast(failing)
    ledger.mark_failed(failing, "ValueError: boom", status="queued")  # a retry is scheduled
    retried = _row(business.id, failing)
    assert (retried.status, retried.attempts, retried.deliveries, retried.failures) == (
        "queued",
        1,
        1,
        1,
    )

    # The worker died during a fast-path delivery, before its running mark: nothing was
    # recorded, exactly as for a message it had only prefetched. RabbitMQ redelivers it with
    # its redelivered flag set; that delivery is the first the ledger counts.
    assert ledger.start_fast(crashing)
    inflight.inflight.forget()  # a new process knows nothing
    again = ledger.mark_started(crashing, max_unfinished=1, redelivered=True)
    assert again is not None and (again.status, again.deliveries) == ("running", 1)


def test_redeliveries_and_republished_messages_never_take_the_fast_path(
    pg: Settings, fresh: None
) -> None:
    business = make_business()
    first, redelivered, republished = _queued(business.id, 3)
    _refresh_knowledge(business.id)
    middleware = LedgerMiddleware()

    fast = middleware._start_fast(delivery(business.id, first, again=False))
    assert fast is not None and (fast.status, fast.business_id) == ("running", business.id)
    assert middleware._start_fast(delivery(business.id, redelivered, again=True)) is None
    copy = delivery(business.id, republished, again=False, republished=True)
    assert middleware._start_fast(copy) is None
    assert _row(business.id, first).status == "queued"


def test_a_copy_skipped_while_its_job_runs_on_the_fast_path_leaves_that_start_recorded(
    pg: Settings, fresh: None
) -> None:
    # The outbox relay's copy of a job parked and woken at once (fair share) can reach this
    # process while the woken copy runs: skipped, it must not forget the running one's start,
    # or that one's success matches no row (still ``queued``) and the job is never finished.
    business = make_business()
    (job_id,) = _queued(business.id, 1)
    _refresh_knowledge(business.id)
    broker = get_broker()
    broker.declare_queue(NOOP.queue)
    middleware = LedgerMiddleware()
    running = delivery(business.id, job_id, again=False)
    middleware.before_process_message(broker, running)
    assert _row(business.id, job_id).status == "queued", "it started on the fast path"

    copy = delivery(business.id, job_id, again=False, republished=True)
    with pytest.raises(SkipMessage):  # running in this process: published again for later
        middleware.before_process_message(broker, copy)
    middleware.after_skip_message(broker, copy)
    middleware.after_process_message(broker, running)

    done = _row(business.id, job_id)
    assert (done.status, done.attempts, done.deliveries) == ("succeeded", 1, 1)


def test_the_cancellations_read_reaches_back_over_the_lookback(pg: Settings, fresh: None) -> None:
    business = make_business()
    (job_id,) = _queued(business.id, 1)
    cancel_job(business.id, job_id)
    with tenant_session(business.id) as session:  # cancelled by a host whose clock is behind
        row = session.execute(select(Job).where(Job.id == job_id)).scalar_one()
        row.updated_at = row.updated_at - ledger.CANCELLATION_LOOKBACK + timedelta(seconds=5)

    _refresh_knowledge(business.id)

    assert ledger.start_fast(job_id) is False


def test_the_outbox_relay_marks_what_it_republishes(pg: Settings) -> None:
    from switchboard.common.jobs.broker import get_broker
    from switchboard.common.jobs.outbox import add_to_outbox, relay_outbox

    business = make_business()
    message = Message(NOOP.queue, NOOP.name, (), {}, {"business_id": business.id})
    with tenant_session(business.id) as session:  # the publisher dies before it publishes
        add_to_outbox(
            session, business.id, message.message_id, NOOP.queue, message.encode().decode()
        )
        session.info.pop("outbox_pending")
    broker = get_broker()
    broker.declare_queue(NOOP.queue)

    relayed_rows = relay_outbox(min_age_s=0)
    assert relayed_rows >= 1
    while relayed_rows:  # other tests' rows may come first, a batch at a time
        relayed_rows = relay_outbox(min_age_s=0)

    queue = broker.queues[NOOP.queue]
    relayed = [Message.decode(queue.get_nowait()) for _ in range(queue.qsize())]
    (ours,) = [m for m in relayed if m.message_id == message.message_id]
    assert ours.options == {"business_id": business.id, "republished": True}


def test_a_fast_started_reply_counts_against_its_business_whatsapp_limit(
    pg: Settings, fresh: None
) -> None:
    """The per-business limit counts running rows; a fast start is marked running first."""
    business = make_business()
    with tenant_session(business.id) as session:
        session.execute(
            update(Business).where(Business.id == business.id).values(whatsapp_concurrency=1)
        )
        first, second = (
            enqueue(PROCESS_WHATSAPP_WEBHOOK, business_id=business.id, message_id=n).job_id
            for n in (1, 2)
        )
    _refresh_knowledge(business.id)
    assert ledger.start_fast(first) and ledger.start_fast(second)

    def busy_as(job_id: str) -> bool:
        set_current_job(
            JobContext(
                job_id, PROCESS_WHATSAPP_WEBHOOK.name, business.id, attempt=1, control=ledger
            )
        )
        try:
            with tenant_session(business.id) as session:
                return business_is_busy(session, business.id)
        finally:
            set_current_job(None)

    assert busy_as(first) is False  # alone at the limit of one
    assert busy_as(second) is True  # the first one runs: the second would be one too many
    assert _row(business.id, first).status == "running"


def test_a_success_that_records_nothing_for_a_job_not_final_is_an_error(
    pg: Settings, fresh: None
) -> None:
    # What the skipped copy above used to leave: a success for a ``queued`` row with no fast
    # start known for it. Nothing would run the job again: the batch says so.
    business = make_business()
    lost, ran = _queued(business.id, 2)
    assert ledger.mark_started(ran, max_unfinished=3) is not None
    with capture_logs() as events:
        ledger.mark_succeeded_many([ledger.success_outcome(lost), ledger.success_outcome(ran)])

    assert (_row(business.id, lost).status, _row(business.id, ran).status) == (
        "queued",
        "succeeded",
    )
    errors = [event for event in events if event["log_level"] == "error"]
    assert [(e["event"], e["job_ids"], e["jobs"]) for e in errors] == [
        ("jobs.success_unrecorded", [lost], 1)
    ]
