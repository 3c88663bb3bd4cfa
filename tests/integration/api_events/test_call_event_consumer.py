"""The API's call-event consumer on real RabbitMQ and PostgreSQL, with or without a real
``switchboard worker`` process."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from switchboard.api.events import CallEventConsumer
from switchboard.common.db import tenant_session
from switchboard.common.events import CallEnded, TranscriptTurn, utc_now
from switchboard.common.models import CallLog, Job, Lead, WebhookDelivery, WebhookEndpoint
from switchboard.common.settings import Settings
from switchboard.domain.calls.followups import enqueue_follow_ups
from switchboard.voice_gateway.adapters.amqp_publisher import AmqpEventPublisher
from tests.support.factories import make_business, unique_phone
from tests.support.processes import ServiceProcess


def _counts(business_id: int) -> tuple[int, int, int]:
    with tenant_session(business_id) as session:
        leads = session.execute(select(func.count()).select_from(Lead)).scalar_one()
        logs = session.execute(select(func.count()).select_from(CallLog)).scalar_one()
        done = session.execute(
            select(func.count())
            .select_from(Job)
            .where(Job.actor_name == "create_lead_from_call_job", Job.status == "succeeded")
        ).scalar_one()
    return leads, logs, done


async def _eventually(condition: Callable[[], bool], limit_s: float = 60) -> None:
    # Polls the database (no event to await) without blocking the consumer's event loop.
    deadline = asyncio.get_running_loop().time() + limit_s
    for _ in iter(condition, True):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


def _call_ended(business_id: int, to_number: str) -> CallEnded:
    started = utc_now() - timedelta(minutes=1)
    return CallEnded(
        business_id=business_id,
        call_sid="CA" + uuid.uuid4().hex,
        stream_sid="MZ" + uuid.uuid4().hex,
        direction="inbound",
        from_number=unique_phone(),
        to_number=to_number,
        started_at=started,
        ended_at=utc_now(),
        duration_s=60.0,
        end_reason="caller_hung_up",
        transcript=[TranscriptTurn(role="caller", text="I'm Kim, kim@example.com", at=started)],
    )


def _call_log(business_id: int) -> CallLog | None:
    with tenant_session(business_id) as session:
        return session.execute(select(CallLog)).scalar_one_or_none()


async def test_with_no_worker_running_call_ended_s_transcript_is_stored_by_the_consumer(
    pg_rabbit: Settings, tmp_path: Path
) -> None:
    business = make_business()
    queue = f"test.api.call-events.{uuid.uuid4().hex[:8]}"
    consumer = CallEventConsumer(pg_rabbit, queue_name=queue)
    publisher = AmqpEventPublisher(pg_rabbit.amqp_url, tmp_path / "spool")
    ended = _call_ended(business.id, business.phone_number)
    await consumer.start()
    await publisher.start()
    try:
        await asyncio.wait_for(consumer.ready.wait(), 30)
        assert await publisher.wait_connected(30)

        await publisher.publish(ended)

        await _eventually(lambda: _call_log(business.id) is not None)
        log = _call_log(business.id)
        assert log is not None
        assert (log.status, log.end_reason, log.from_number) == (
            "completed",
            "caller_hung_up",
            ended.from_number,
        )
        assert [turn["text"] for turn in log.transcript or []] == ["I'm Kim, kim@example.com"]
        with tenant_session(business.id) as session:
            messages = session.execute(select(Job.message)).scalars().all()
        assert messages and not any("kim@example.com" in message for message in messages)
    finally:
        await publisher.close()
        await consumer.stop()


async def test_a_call_ended_delivered_twice_creates_one_lead_and_one_call_log(
    pg_rabbit: Settings, start_service: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    business = make_business()
    worker = start_service("worker", "--processes", "1", "--threads", "4")
    queue = f"test.api.call-events.{uuid.uuid4().hex[:8]}"
    consumer = CallEventConsumer(pg_rabbit, queue_name=queue)
    publisher = AmqpEventPublisher(pg_rabbit.amqp_url, tmp_path / "spool")
    ended = _call_ended(business.id, business.phone_number)
    await consumer.start()
    await publisher.start()
    try:
        await asyncio.wait_for(consumer.ready.wait(), 30)
        assert await publisher.wait_connected(30)

        await publisher.publish(ended)
        await publisher.publish(ended)  # at-least-once: the same event again

        await _eventually(lambda: _counts(business.id) == (1, 1, 1))
        await asyncio.sleep(1.0)  # the second delivery had its chance to do harm
        assert _counts(business.id) == (1, 1, 1)
        with tenant_session(business.id) as session:
            actors = session.execute(select(Job.actor_name)).scalars().all()
            log = session.execute(select(CallLog)).scalar_one()
        assert "finalize_call_log_job" not in actors  # the consumer wrote the call log itself
        assert sorted(actors).count("finalize_call_session_job") == 1
        assert [turn["text"] for turn in log.transcript] == ["I'm Kim, kim@example.com"]
        assert worker.alive
    finally:
        await publisher.close()
        await consumer.stop()


def test_call_ended_stores_each_webhook_body_once_and_its_job_gets_the_delivery_id(
    pg: Settings,
) -> None:
    business = make_business()
    with tenant_session(business.id) as session:
        endpoint = WebhookEndpoint(
            business_id=business.id,
            url="https://hooks.example.com/in",
            kind="generic",
            secret="s",
            events=["call.ended"],
        )
        session.add(endpoint)
    ended = _call_ended(business.id, business.phone_number)

    enqueue_follow_ups(ended)
    enqueue_follow_ups(ended)  # redelivered: no second delivery row, no second job

    with tenant_session(business.id) as session:
        [delivery] = session.execute(select(WebhookDelivery)).scalars()
        [job] = session.execute(
            select(Job).where(Job.actor_name == "send_webhook_with_retry_job")
        ).scalars()
    assert (delivery.status, delivery.attempt, delivery.event_id) == ("pending", 0, ended.event_id)
    assert delivery.payload == ended.model_dump(mode="json")
    assert json.loads(job.message)["kwargs"] == {
        "business_id": business.id,
        "delivery_id": delivery.id,
    }
