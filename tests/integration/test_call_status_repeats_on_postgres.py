"""Twilio sends a voice status or recording callback again when its first got no 2xx in time
(and may send one twice): each reaches the gateway as a new request, so the same call sid
and status is published, and followed up, again. On PostgreSQL and RabbitMQ, every actor on
an in-process worker, following it up twice, one after the other and two at once, has each
effect once: the outbound item is put back once (its person called again once for one busy
outcome), the call is logged once, and the business's webhooks for the call's end and its
recording are sent once, under one delivery key.

The races are held with the call's lock (``erasures/erased_calls.lock_call``, which the
follow-ups of a call take first) or the item's row lock, taken by a test transaction; each
waiter is awaited on ``pg_stat_activity``, never slept for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, update

from switchboard.common.db import tenant_session
from switchboard.common.events import CallEnded, CallStatusChanged, RecordingReady, utc_now
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import (
    CREATE_LEAD_FROM_CALL,
    FINALIZE_CALL_LOG,
    OUTBOUND_CALL_STATUS,
    OUTBOUND_RUN,
    PROCESS_RECORDING,
    SEND_PUSH_NOTIFICATION,
)
from switchboard.common.models import (
    CallLog,
    Job,
    Lead,
    OutboundItem,
    OutboundRun,
    WebhookEndpoint,
)
from switchboard.common.models.jobs import LIVE_STATUSES
from switchboard.common.settings import Settings
from switchboard.domain.calls.followups import enqueue_follow_ups
from switchboard.domain.calls.logs import finalize_call_log
from switchboard.domain.erasures.erased_calls import lock_call
from switchboard.domain.leads.store import upsert_lead
from switchboard.domain.outbound import runs
from switchboard.domain.outbound.calls import apply_call_status
from switchboard.worker.runtime.inprocess import start_worker
from tests.fakes.openai_http import FakeOpenAIServer, fake_openai
from tests.fakes.twilio_calls import silent_wav
from tests.fakes.twilio_rest import FakeTwilioServer, fake_twilio
from tests.fakes.webhook_receiver import FakeWebhookReceiver, webhook_receiver
from tests.support.environment import configured
from tests.support.factories import TestBusiness, make_business, unique_phone
from tests.support.lock_waits import until_waiting
from tests.support.waiting import wait_for
from tests.unit.worker.conftest import fake_service_env
from tests.unit.worker.jobs import jobs_of
from tests.unit.worker.world import World, make_world, sid

pytestmark = pytest.mark.integration

__all__ = ["fake_openai", "fake_twilio", "webhook_receiver"]

T = TypeVar("T")
TWICE = ["one_after_the_other", "at_once"]
#: The statements the races wait in.
_CALL_LOCK = "SELECT pg_advisory_xact_lock%"
#: The first of two handlers waits on the item's row; the second on the call's lock (taken
#: first, to look for an erasure of the call), which the first holds.
_LOCK_ITEM_OR_CALL = "SELECT %"


@pytest.fixture
def worker(
    pg_url: str,
    amqp_url: str,
    tmp_path: Path,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
) -> Iterator[Settings]:
    """PostgreSQL and RabbitMQ, the outside world faked, every actor on an in-process worker."""
    env = {**fake_service_env(fake_twilio, fake_openai), "public_base_url": "http://gw.test"}
    with configured(
        database_url=pg_url, amqp_url=amqp_url, var_dir=str(tmp_path), **env
    ) as settings:
        from switchboard.worker import actors

        broker = get_broker()
        actors.install(broker)
        running = start_worker(broker, threads=4, worker_timeout_ms=50)
        try:
            yield settings
        finally:
            running.stop()


def _at_once(
    business_id: int,
    call_sid: str,
    handle: Callable[[T], Any],
    items: list[T],
    *,
    lock: Callable[[Any], object],
    statement: str,
) -> list[Any]:
    """``handle`` each of ``items`` in a thread of its own, all held behind a lock a test
    transaction takes (``lock(session)``) until each waits for it in ``statement``."""
    with ThreadPoolExecutor(len(items)) as pool:
        with tenant_session(business_id) as holder:
            lock(holder)
            pending = [pool.submit(handle, item) for item in items]
            until_waiting(
                statement,
                *pending,
                what=f"{len(items)} of {call_sid}'s handlers waiting on its lock",
                backends=len(items),
            )
            holder.rollback()
        return [f.result(timeout=30) for f in pending]


def _follow_up_twice(way: str, business_id: int, call_sid: str, events: list[Any]) -> None:
    """Each event followed up, as the API's consumer does: one after the other, or at once
    (two consumers racing on the call's lock)."""
    if way == "one_after_the_other":
        for event in events:
            enqueue_follow_ups(event)
        return
    _at_once(
        business_id,
        call_sid,
        enqueue_follow_ups,
        events,
        lock=lambda session: lock_call(session, business_id, call_sid),
        statement=_CALL_LOCK,
    )


def _settled(business_id: int) -> bool:
    """No job of the business is queued or running (but an outbound run's driver)."""
    with tenant_session(business_id) as session:
        return (
            session.execute(
                select(Job.id)
                .where(
                    Job.business_id == business_id,
                    Job.status.in_(LIVE_STATUSES),
                    Job.actor_name != OUTBOUND_RUN.name,
                )
                .limit(1)
            ).first()
            is None
        )


def _until_settled(business_id: int) -> None:
    wait_for(lambda: _settled(business_id), what="the business's jobs to finish")


def _status(
    business: TestBusiness,
    call_sid: str,
    call_status: str,
    *,
    customer: str,
    direction: str = "outbound-api",
    run_id: int | None = None,
    item_id: int | None = None,
) -> CallStatusChanged:
    """Twilio's final status callback for the call, as the gateway publishes it."""
    outbound = direction != "inbound"
    return CallStatusChanged(
        business_id=business.id,
        call_sid=call_sid,
        call_status=call_status,
        direction=direction,
        from_number=business.phone_number if outbound else customer,
        to_number=customer if outbound else business.phone_number,
        call_duration_s=42 if call_status == "completed" else 0,
        run_id=run_id,
        item_id=item_id,
    )


def _calls_to(twilio: FakeTwilioServer, number: str) -> list[str]:
    """The sids of the calls placed to ``number``, in order."""
    return [call_sid for call_sid, call in twilio.calls.items() if call.params["To"] == number]


def _item(business_id: int, item_id: int) -> Any:
    with tenant_session(business_id) as session:
        return session.execute(
            select(
                OutboundItem.status,
                OutboundItem.call_sid,
                OutboundItem.attempts,
                OutboundItem.calls_placed,
                OutboundItem.completed_at,
            ).where(OutboundItem.business_id == business_id, OutboundItem.id == item_id)
        ).one()


def _call_logs(business_id: int) -> dict[str, tuple[str, int | None]]:
    """Each call log's status and duration, by call sid."""
    with tenant_session(business_id) as session:
        rows = session.execute(
            select(CallLog.call_sid, CallLog.status, CallLog.duration_s).where(
                CallLog.business_id == business_id
            )
        ).all()
    return {call_sid: (status, duration) for call_sid, status, duration in rows}


def _job_count(business_id: int, *specs: Any) -> dict[str, int]:
    return {spec.name: len(jobs_of(business_id, spec.name)) for spec in specs}


def _outbound_run(business: TestBusiness) -> tuple[int, int, str]:
    """A started run of one person, three attempts, redialed at once; its run and item ids
    and the person's number."""
    person = unique_phone()
    with tenant_session(business.id) as session:
        lead, _ = upsert_lead(session, business.id, person)
    new = runs.NewRun(name="Check-ups", lead_ids=[lead.id], max_attempts=3, retry_delay_s=0)
    run = runs.create_run(business.id, new)
    (item,) = runs.list_items(business.id, run.run.id)
    runs.start_run(business.id, run.run.id)
    return run.run.id, item.id, person


@pytest.mark.parametrize("way", TWICE)
def test_a_busy_outcome_twilio_reports_twice_calls_the_person_again_once(
    worker: Settings, fake_twilio: FakeTwilioServer, way: str
) -> None:
    """Reported once more after the person was dialed again (Twilio's retry came late), or
    twice at once before that: one more call either way, and the call's end once."""
    business = make_business()
    run_id, item_id, person = _outbound_run(business)
    [first] = wait_for(lambda: _calls_to(fake_twilio, person), what="the first call")
    fake_twilio.end_call(first, "busy")
    busy = [
        _status(business, first, "busy", customer=person, run_id=run_id, item_id=item_id)
        for _ in range(2)
    ]

    if way == "one_after_the_other":
        enqueue_follow_ups(busy[0])
        wait_for(lambda: len(_calls_to(fake_twilio, person)) == 2, what="the second call")
        wait_for(lambda: _item(business.id, item_id).call_sid is not None, what="its sid")
        enqueue_follow_ups(busy[1])  # Twilio's retry, after the person was dialed again
    else:
        _follow_up_twice(way, business.id, first, busy)
        wait_for(lambda: len(_calls_to(fake_twilio, person)) == 2, what="the second call")
    _until_settled(business.id)

    _, second = _calls_to(fake_twilio, person)
    item = _item(business.id, item_id)
    assert (item.status, item.call_sid, item.attempts) == ("in_progress", second, 2)

    fake_twilio.end_call(second, "completed")
    done = [
        _status(business, second, "completed", customer=person, run_id=run_id, item_id=item_id)
        for _ in range(2)
    ]
    _follow_up_twice(way, business.id, second, done)
    wait_for(
        lambda: runs.get_run(business.id, run_id).run.status == "completed", what="the run's end"
    )
    _until_settled(business.id)

    assert _calls_to(fake_twilio, person) == [first, second]
    item = _item(business.id, item_id)
    assert (item.status, item.attempts, item.calls_placed) == ("completed", 2, 2)
    assert _call_logs(business.id) == {first: ("busy", 0), second: ("completed", 42)}
    # One job per (call, status): a callback Twilio sent again queues nothing more.
    assert _job_count(business.id, OUTBOUND_CALL_STATUS, FINALIZE_CALL_LOG) == {
        OUTBOUND_CALL_STATUS.name: 2,
        FINALIZE_CALL_LOG.name: 2,
    }


def test_two_workers_applying_one_busy_at_once_put_the_item_back_once(worker: Settings) -> None:
    """Two jobs moving the item on the same status (two deliveries, or a status job and the
    driver's look-up of the call) race on the call's lock and the item's row: the second
    finds it moved."""
    business = make_business()
    person = unique_phone()
    with tenant_session(business.id) as session:
        lead, _ = upsert_lead(session, business.id, person)
    new = runs.NewRun(name="r", lead_ids=[lead.id], max_attempts=3, retry_delay_s=3600)
    run = runs.create_run(business.id, new)
    run_id = run.run.id
    (item,) = runs.list_items(business.id, run_id)
    call_sid = sid("CA")
    with tenant_session(business.id) as session:  # its call placed, the run running
        session.execute(
            update(OutboundItem)
            .where(OutboundItem.business_id == business.id, OutboundItem.id == item.id)
            .values(status="in_progress", call_sid=call_sid, attempts=1, calls_placed=1)
        )
        session.execute(
            update(OutboundRun)
            .where(OutboundRun.business_id == business.id, OutboundRun.id == run_id)
            .values(status="running")
        )

    def lock_item(session: Any) -> None:
        session.execute(
            select(OutboundItem.id).where(OutboundItem.id == item.id).with_for_update()
        ).one()

    outcomes = _at_once(
        business.id,
        call_sid,
        lambda _: apply_call_status(business.id, run_id, item.id, call_sid, "busy"),
        [1, 2],
        lock=lock_item,
        statement=_LOCK_ITEM_OR_CALL,
    )

    assert Counter(outcomes) == Counter({"pending": 1, None: 1})
    moved = _item(business.id, item.id)
    assert (moved.status, moved.call_sid, moved.attempts) == ("pending", call_sid, 1)


@pytest.mark.parametrize("call_status", ["completed", "busy", "no-answer"])
@pytest.mark.parametrize("way", TWICE)
def test_a_final_status_twilio_reports_twice_logs_the_call_once(
    worker: Settings, way: str, call_status: str
) -> None:
    business = make_business()
    caller, call_sid = unique_phone(), sid("CA")
    statuses = [
        _status(business, call_sid, call_status, customer=caller, direction="inbound")
        for _ in range(2)
    ]

    _follow_up_twice(way, business.id, call_sid, statuses)
    _until_settled(business.id)

    duration = 42 if call_status == "completed" else 0
    assert _call_logs(business.id) == {call_sid: (call_status, duration)}
    with tenant_session(business.id) as session:
        assert session.execute(select(Lead.phone)).scalars().all() == [caller]
    assert _job_count(business.id, FINALIZE_CALL_LOG, CREATE_LEAD_FROM_CALL) == {
        FINALIZE_CALL_LOG.name: 1,
        CREATE_LEAD_FROM_CALL.name: 1,
    }


def test_two_workers_finalizing_one_call_at_once_log_it_once(worker: Settings) -> None:
    """Two final-status jobs of one call race on its lock: one call log, its lead's job once."""
    business = make_business()
    caller, call_sid = unique_phone(), sid("CA")
    fields = {"status": "completed", "direction": "inbound", "duration_s": 42}
    fields |= {"from_number": caller, "to_number": business.phone_number}

    ids = _at_once(
        business.id,
        call_sid,
        lambda _: finalize_call_log(business.id, call_sid=call_sid, **fields),
        [1, 2],
        lock=lambda session: lock_call(session, business.id, call_sid),
        statement=_CALL_LOCK,
    )
    _until_settled(business.id)

    assert len(set(ids)) == 1
    assert _call_logs(business.id) == {call_sid: ("completed", 42)}
    assert _job_count(business.id, CREATE_LEAD_FROM_CALL) == {CREATE_LEAD_FROM_CALL.name: 1}


def _webhook_world(receiver: FakeWebhookReceiver) -> World:
    """A business with two endpoints (generic and n8n) on the receiver, every event each."""
    world = make_world(receiver.url_for("calls"))
    with tenant_session(world.id) as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.business_id == world.id)
            .values(secret=receiver.secret)
        )
    return world


def _hooks(receiver: FakeWebhookReceiver) -> Counter[tuple[str, str, str]]:
    """What the receiver got: (path, event type, delivery key) and how many times."""
    return Counter(
        (hook.path, hook.json()["type"], hook.headers["X-Switchboard-Delivery"])
        for hook in receiver.received
    )


@pytest.mark.parametrize("way", TWICE)
def test_a_recording_twilio_reports_twice_reaches_each_webhook_once(
    worker: Settings,
    fake_twilio: FakeTwilioServer,
    webhook_receiver: FakeWebhookReceiver,
    way: str,
) -> None:
    world = _webhook_world(webhook_receiver)
    recording_sid = fake_twilio.add_recording(silent_wav(), call_sid=world.call_sid)
    ready = [
        RecordingReady(
            business_id=world.id,
            call_sid=world.call_sid,
            recording_sid=recording_sid,
            recording_url=fake_twilio.recording_url(recording_sid),
            duration_s=1,
        )
        for _ in range(2)
    ]

    _follow_up_twice(way, world.id, world.call_sid, ready)
    _until_settled(world.id)

    assert len(fake_twilio.downloads) == 1
    assert _job_count(world.id, PROCESS_RECORDING) == {PROCESS_RECORDING.name: 1}
    hooks = _hooks(webhook_receiver)  # both endpoints share the URL: once each, one key
    assert list(hooks.values()) == [2], hooks
    [(_, event_type, _)] = hooks
    assert event_type == "recording.ready"


@pytest.mark.parametrize("way", TWICE)
def test_the_call_s_end_reaches_each_webhook_once_however_often_its_status_came(
    worker: Settings, webhook_receiver: FakeWebhookReceiver, way: str
) -> None:
    """``call.status`` is no webhook event; ``call.ended`` (the gateway's, once) is, once."""
    world = _webhook_world(webhook_receiver)
    business = world.business
    caller, call_sid = unique_phone(), sid("CA")
    statuses = [
        _status(business, call_sid, "completed", customer=caller, direction="inbound")
        for _ in range(2)
    ]
    ended_at = utc_now()
    ended = CallEnded(
        business_id=world.id,
        call_sid=call_sid,
        stream_sid=sid("MZ"),
        direction="inbound",
        from_number=caller,
        to_number=business.phone_number,
        started_at=ended_at,
        ended_at=ended_at,
        duration_s=42.0,
        end_reason="caller_hung_up",
    )

    _follow_up_twice(way, world.id, call_sid, statuses)
    enqueue_follow_ups(ended)
    _until_settled(world.id)

    assert _hooks(webhook_receiver) == {
        ("/hooks/calls", "call.ended", ended.event_id): 2  # once per endpoint
    }
    assert _job_count(world.id, SEND_PUSH_NOTIFICATION) == {SEND_PUSH_NOTIFICATION.name: 0}
