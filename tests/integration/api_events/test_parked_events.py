"""Call events the consumer cannot handle are parked, shown and replayed; transient failures
are retried. Real RabbitMQ and PostgreSQL, and the embedded mode's bus and SQLite."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import aio_pika
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from switchboard.api.app import create_app
from switchboard.api.events import CallEventConsumer, parking
from switchboard.common.db import system_session, tenant_session
from switchboard.common.events import (
    CallEnded,
    CallStatusChanged,
    TranscriptTurn,
    get_in_process_bus,
    utc_now,
)
from switchboard.common.models import CallLog, Job, ParkedEvent
from switchboard.common.settings import Settings
from switchboard.domain.calls.followups import enqueue_follow_ups
from tests.support.environment import configured
from tests.support.factories import make_business, unique_phone
from tests.support.log_capture import capture_logs

TRANSCRIPT = "I'm Kim, kim@example.com, call me on +15550001234"


def _call_ended(business_id: int, to_number: str, call_sid: str | None = None) -> CallEnded:
    started = utc_now() - timedelta(minutes=1)
    return CallEnded(
        business_id=business_id,
        call_sid=call_sid or "CA" + uuid.uuid4().hex,
        stream_sid="MZ" + uuid.uuid4().hex,
        direction="inbound",
        from_number=unique_phone(),
        to_number=to_number,
        started_at=started,
        ended_at=utc_now(),
        duration_s=60.0,
        end_reason="caller_hung_up",
        transcript=[TranscriptTurn(role="caller", text=TRANSCRIPT, at=started)],
    )


async def _eventually(condition: Callable[[], object], limit_s: float = 30) -> None:
    # Polls the database without blocking the consumer's event loop.
    deadline = asyncio.get_running_loop().time() + limit_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _parked(event_id: str) -> ParkedEvent | None:
    with system_session() as session:
        query = select(ParkedEvent).where(ParkedEvent.event_id == event_id)
        return session.execute(query).scalar_one_or_none()


def _call_logs(business_id: int, call_sid: str) -> int:
    with tenant_session(business_id) as session:
        query = select(func.count()).where(
            CallLog.business_id == business_id, CallLog.call_sid == call_sid
        )
        return int(session.execute(query).scalar_one())


def _jobs(business_id: int, actor: str) -> int:
    with tenant_session(business_id) as session:
        query = select(func.count()).where(Job.business_id == business_id, Job.actor_name == actor)
        return int(session.execute(query).scalar_one())


def _owned_by_another_business(call_sid: str) -> int:
    """A call log of another business with ``call_sid``: an event claiming it is refused."""
    owner = make_business()
    enqueue_follow_ups(_call_ended(owner.id, owner.phone_number, call_sid))
    return owner.id


def _metric(client: TestClient, event_type: str) -> float:
    text = client.get("/metrics").text
    match = re.search(rf'^switchboard_parked_events{{type="{event_type}"}} (\S+)$', text, re.M)
    assert match, text
    return float(match.group(1))


class _Rabbit:
    """Publishes raw bodies straight to the consumer's queue."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel, queue: str) -> None:
        self._channel, self._queue = channel, queue

    async def publish(self, body: bytes) -> None:
        await self._channel.default_exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=self._queue,
        )


@pytest.fixture
async def consuming(pg_rabbit: Settings) -> AsyncIterator[_Rabbit]:
    queue = f"test.api.call-events.{uuid.uuid4().hex[:8]}"
    consumer = CallEventConsumer(pg_rabbit, queue_name=queue, retry_delay_s=0.05)
    await consumer.start()
    connection = await aio_pika.connect(pg_rabbit.amqp_url)
    try:
        await asyncio.wait_for(consumer.ready.wait(), 30)
        yield _Rabbit(await connection.channel(), queue)
    finally:
        await connection.close()
        await consumer.stop()


async def test_poison_events_are_parked_with_their_error_and_the_queue_keeps_flowing(
    pg_rabbit: Settings, consuming: _Rabbit
) -> None:
    business = make_business()
    client = TestClient(create_app(pg_rabbit))  # no lifespan: /metrics and the admin routes
    before = _metric(client, "call.ended"), _metric(client, "unreadable")
    foreign = _call_ended(business.id, business.phone_number)
    _owned_by_another_business(foreign.call_sid)
    no_such_business = _call_ended(2_000_000_000, business.phone_number)
    incomplete = b'{"type": "call.ended", "business_id": %d, "call_sid": "CA1"}' % business.id
    unreadable = b"\x00 not even JSON " + uuid.uuid4().bytes
    good = _call_ended(business.id, business.phone_number)

    for body in (
        incomplete,
        unreadable,
        foreign.to_json_bytes(),
        no_such_business.to_json_bytes(),
        good.to_json_bytes(),
    ):
        await consuming.publish(body)

    await _eventually(lambda: _call_logs(business.id, good.call_sid) == 1)
    await _eventually(lambda: _parked(no_such_business.event_id) is not None)
    refused = _parked(foreign.event_id)
    assert refused is not None and refused.error.startswith("NotFoundError: call CA…")
    assert foreign.call_sid not in refused.error
    assert (refused.event_type, refused.event_business_id) == ("call.ended", business.id)
    assert parking.read_facts(refused.body) == parking.read_facts(foreign.to_json_bytes())
    failed = _parked(no_such_business.event_id)
    assert failed is not None
    assert failed.error == "NotFoundError: business 2000000000 does not exist"
    with system_session() as session:
        [garbled, unread] = session.execute(
            select(ParkedEvent)
            .where(ParkedEvent.body.in_([incomplete, unreadable]))
            .order_by(ParkedEvent.id)
        ).scalars()
    assert garbled.event_id.startswith("sha256:") and garbled.event_business_id == business.id
    assert garbled.error.startswith("ValidationError: call.ended.")
    assert (unread.event_type, unread.event_business_id) == (None, None)
    assert unread.error.startswith("ValidationError: Invalid JSON")
    assert _call_logs(business.id, foreign.call_sid) == 0

    assert _metric(client, "call.ended") >= before[0] + 3
    assert _metric(client, "unreadable") >= before[1] + 1
    admin = {"Authorization": f"Bearer {pg_rabbit.admin_api_key}"}
    listed = client.get("/api/v1/admin/parked-events", headers=admin).json()
    shown = {item["event_id"]: item for item in listed["items"]}
    assert shown[foreign.event_id]["call_sid"] == f"CA…{foreign.call_sid[-4:]}"
    assert TRANSCRIPT not in str(listed) and foreign.from_number not in str(listed)


async def test_replay_after_fixing_the_cause_handles_the_event_once(
    pg_rabbit: Settings, consuming: _Rabbit
) -> None:
    business = make_business()
    event = _call_ended(business.id, business.phone_number)
    owner = _owned_by_another_business(event.call_sid)
    await consuming.publish(event.to_json_bytes())
    await _eventually(lambda: _parked(event.event_id) is not None)
    client = TestClient(create_app(pg_rabbit))
    admin = {"Authorization": f"Bearer {pg_rabbit.admin_api_key}"}
    parked = _parked(event.event_id)
    assert parked is not None

    still = client.post(f"/api/v1/admin/parked-events/{parked.id}/replay", headers=admin)
    assert still.status_code == 200 and still.json()["replayed"] == []
    assert _parked(event.event_id).failures == 2  # type: ignore[union-attr]
    with tenant_session(owner) as session:  # the cause: the other business's call log
        session.execute(delete(CallLog).where(CallLog.call_sid == event.call_sid))

    replayed = client.post(f"/api/v1/admin/parked-events/{parked.id}/replay", headers=admin)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["replayed"] == [event.event_id]
    assert _parked(event.event_id) is None
    again = client.post(f"/api/v1/admin/parked-events/{parked.id}/replay", headers=admin)
    assert again.status_code == 404
    await consuming.publish(event.to_json_bytes())  # delivered once more: nothing new
    await asyncio.sleep(0.5)
    assert _call_logs(business.id, event.call_sid) == 1
    assert _jobs(business.id, "finalize_call_session_job") == 1
    assert _parked(event.event_id) is None
    assert client.post("/api/v1/admin/parked-events/replay").status_code == 401
    key = {"Authorization": f"Bearer {business.api_key}"}
    assert client.get("/api/v1/admin/parked-events", headers=key).status_code == 403


async def test_a_transient_database_failure_is_retried_then_handled_not_parked(
    pg_url: str, amqp_url: str, tmp_path
) -> None:
    # Every connection of this process gives up on a lock after 200 ms.
    with configured(
        database_url=f"{pg_url}?options=-c%20lock_timeout%3D200",
        amqp_url=amqp_url,
        var_dir=str(tmp_path),
    ) as settings:
        business = make_business()
        event = _call_ended(business.id, business.phone_number)
        queue = f"test.api.call-events.{uuid.uuid4().hex[:8]}"
        consumer = CallEventConsumer(settings, queue_name=queue, retry_delay_s=0.05)
        await consumer.start()
        connection = await aio_pika.connect(amqp_url)
        locker = psycopg.connect(pg_url)
        try:
            await asyncio.wait_for(consumer.ready.wait(), 30)
            locker.execute("LOCK TABLE call_logs IN ACCESS EXCLUSIVE MODE")
            await _Rabbit(await connection.channel(), queue).publish(event.to_json_bytes())
            await asyncio.sleep(1.5)  # lock timeouts, retried with a growing pause
            assert _parked(event.event_id) is None
            locker.rollback()  # the database is usable again

            await _eventually(lambda: _call_logs(business.id, event.call_sid) == 1)
            assert _parked(event.event_id) is None
            assert _jobs(business.id, "finalize_call_session_job") == 1
        finally:
            locker.rollback()
            locker.close()
            await connection.close()
            await consumer.stop()


async def test_in_embedded_mode_a_poison_event_is_parked_in_sqlite_and_replayed(
    embedded: Settings,
) -> None:
    business = make_business()
    poison = _call_ended(business.id, business.phone_number)
    owner = _owned_by_another_business(poison.call_sid)
    good = _call_ended(business.id, business.phone_number)
    consumer = CallEventConsumer(embedded, retry_delay_s=0.05)
    await consumer.start()
    try:
        await asyncio.wait_for(consumer.ready.wait(), 10)
        get_in_process_bus().publish(poison)
        get_in_process_bus().publish(good)
        await _eventually(lambda: _call_logs(business.id, good.call_sid) == 1)
        parked = _parked(poison.event_id)
        assert parked is not None and parked.error.startswith("NotFoundError")
        assert parking.count_parked(business.id) == 1
        [shown] = parking.list_parked(business.id)
        assert shown.call_sid == f"CA…{poison.call_sid[-4:]}"

        with tenant_session(owner) as session:
            session.execute(delete(CallLog).where(CallLog.call_sid == poison.call_sid))
        report = parking.replay_parked(enqueue_follow_ups)
        assert report.replayed == [poison.event_id] and report.failed == []
        assert parking.replay_parked(enqueue_follow_ups).replayed == []
        assert _call_logs(business.id, poison.call_sid) == 1
        assert _jobs(business.id, "finalize_call_session_job") == 2  # one per call
        assert parking.count_parked() == 0
    finally:
        await consumer.stop()


def _status(business_id: int, call_sid: str) -> CallStatusChanged:
    """A final status with numbers: the consumer writes them on the call's log itself."""
    return CallStatusChanged(
        business_id=business_id,
        call_sid=call_sid,
        call_status="completed",
        direction="inbound",
        from_number=unique_phone(),
        to_number=unique_phone(),
    )


#: Events no table holds as they read (QA's, from signed status callbacks before the gateway
#: checked its fields): a call sid over 64 characters or with a NUL, a business id past BIGINT.
UNSTORABLE = {
    "long call sid": lambda business_id: _status(business_id, "CA" + "1" * 100),
    "NUL in the call sid": lambda business_id: _status(business_id, "CA" + "1" * 31 + "\x00"),
    "business id past BIGINT": lambda _: _status(10**20, "CA" + uuid.uuid4().hex),
}


@pytest.mark.parametrize("unstorable", UNSTORABLE.values(), ids=UNSTORABLE.keys())
async def test_an_event_that_cannot_be_parked_as_it_reads_is_parked_without_its_facts(
    pg_rabbit: Settings, consuming: _Rabbit, unstorable: Callable[[int], CallStatusChanged]
) -> None:
    business = make_business()
    bad = unstorable(business.id)
    good = _call_ended(business.id, business.phone_number)

    with capture_logs() as logs:
        await consuming.publish(bad.to_json_bytes())
        await consuming.publish(good.to_json_bytes())
        await _eventually(lambda: _parked(bad.event_id) is not None)
        await _eventually(lambda: _call_logs(business.id, good.call_sid) == 1)

    parked = _parked(bad.event_id)
    assert parked is not None and parked.body == bad.to_json_bytes()  # kept whole, for replay
    assert (parked.event_type, parked.failures) == ("call.status", 1)  # parked once, acked
    fits = len(bad.call_sid) <= 64 and "\x00" not in bad.call_sid
    assert parked.call_sid == (bad.call_sid if fits else None)  # the facts that fit are kept
    assert parked.event_business_id == (business.id if bad.business_id < 2**63 else None)
    assert parked.error.startswith("DataError") and "[parked without its facts: " in parked.error
    assert "\x00" not in parked.error and bad.call_sid not in parked.error
    assert not [line for line in logs if line["event"] == "call_event.park_failed"]
    (line,) = [line for line in logs if line["event"] == "call_event.parked_without_facts"]
    assert bad.call_sid not in repr(line)


async def test_in_embedded_mode_an_event_sqlite_cannot_hold_is_parked_without_its_facts(
    embedded: Settings,
) -> None:
    business = make_business()
    bad = _status(10**20, "CA" + uuid.uuid4().hex)
    good = _call_ended(business.id, business.phone_number)
    consumer = CallEventConsumer(embedded, retry_delay_s=0.05)
    await consumer.start()
    try:
        await asyncio.wait_for(consumer.ready.wait(), 10)
        get_in_process_bus().publish(bad)
        get_in_process_bus().publish(good)
        await _eventually(lambda: _call_logs(business.id, good.call_sid) == 1)
        parked = _parked(bad.event_id)
        assert parked is not None and parked.event_business_id is None
        assert parked.body == bad.to_json_bytes()
    finally:
        await consumer.stop()


async def test_parking_that_fails_because_the_database_is_busy_is_retried_not_stripped(
    pg_url: str, amqp_url: str, tmp_path
) -> None:
    # Every connection of this process gives up on a lock after 200 ms.
    with configured(
        database_url=f"{pg_url}?options=-c%20lock_timeout%3D200",
        amqp_url=amqp_url,
        var_dir=str(tmp_path),
    ) as settings:
        business = make_business()
        bad = _status(business.id, "CA" + "1" * 100)
        queue = f"test.api.call-events.{uuid.uuid4().hex[:8]}"
        consumer = CallEventConsumer(settings, queue_name=queue, retry_delay_s=0.05)
        await consumer.start()
        connection = await aio_pika.connect(amqp_url)
        locker = psycopg.connect(pg_url)
        try:
            await asyncio.wait_for(consumer.ready.wait(), 30)
            locker.execute("LOCK TABLE parked_events IN ACCESS EXCLUSIVE MODE")
            with capture_logs() as logs:
                await _Rabbit(await connection.channel(), queue).publish(bad.to_json_bytes())
                await _eventually(
                    lambda: any(line["event"] == "call_event.retry_later" for line in logs)
                )
            assert not [line for line in logs if line["event"].startswith("call_event.parked")]
            locker.rollback()  # the database is usable again

            await _eventually(lambda: _parked(bad.event_id) is not None)
            parked = _parked(bad.event_id)
            assert parked is not None and parked.failures == 1 and parked.call_sid is None
        finally:
            locker.rollback()
            locker.close()
            await connection.close()
            await consumer.stop()


async def test_an_event_of_a_business_that_does_not_exist_is_parked_with_that_reason(
    pg_rabbit: Settings, consuming: _Rabbit
) -> None:
    """Not the database's foreign-key error (its table and constraint): the reason, in words,
    when the event is parked and when it is replayed (``/api/v1/admin/parked-events``)."""
    missing = 9_000_000_000 + uuid.uuid4().int % 1_000_000
    event = _call_ended(missing, unique_phone())
    reason = f"NotFoundError: business {missing} does not exist"
    await consuming.publish(event.to_json_bytes())
    await _eventually(lambda: _parked(event.event_id) is not None)
    parked = _parked(event.event_id)
    assert parked is not None and (parked.error, parked.failures) == (reason, 1)

    client = TestClient(create_app(pg_rabbit))
    admin = {"Authorization": f"Bearer {pg_rabbit.admin_api_key}"}
    replay = client.post(f"/api/v1/admin/parked-events/{parked.id}/replay", headers=admin)
    assert replay.status_code == 200, replay.text
    assert replay.json()["failed"] == [{"event_id": event.event_id, "error": reason}]
    assert _parked(event.event_id).error == reason  # type: ignore[union-attr]
