"""A 15-minute worker outage: owed work all happens, time-bound work expires visibly.

The age limit's clock is moved 15 minutes ahead (``JOB_AGE_OFFSET_S=900``), so the jobs queued
while no worker ran are 15 minutes old when it starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.events import CallEnded, TranscriptTurn
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import (
    CREATE_LEAD,
    PROCESS_WHATSAPP_WEBHOOK,
    SEND_PUSH_NOTIFICATION,
    SEND_WEBHOOK_WITH_RETRY,
    WARMUP_BUSINESS,
)
from switchboard.common.metrics import LedgerCollector
from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.models import CallLog, Lead, WebhookEndpoint, WhatsAppMessage
from switchboard.common.settings import Settings
from switchboard.domain.calls.followups import enqueue_follow_ups
from switchboard.worker.runtime.inprocess import start_worker
from tests.fakes.openai_http import FakeOpenAIServer
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.fakes.web_push import FakePushService
from tests.fakes.webhook_receiver import SECRET, FakeWebhookReceiver
from tests.support.environment import configured
from tests.support.factories import unique_phone
from tests.support.waiting import wait_for
from tests.unit.worker.conftest import fake_service_env
from tests.unit.worker.jobs import finished, jobs_of
from tests.unit.worker.world import make_world, sid

OUTAGE_S = 15 * 60


@pytest.fixture
def after_an_outage(
    tmp_path: Path, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> Iterator[Settings]:
    """The embedded mode with the outside world faked, and every message 15 minutes older
    when the worker looks at it than when it was queued."""
    env = fake_service_env(fake_twilio, fake_openai)
    with configured(
        database_url="",
        amqp_url="",
        var_dir=str(tmp_path / "var"),
        job_age_offset_s=str(OUTAGE_S),
        **env,
    ) as settings:
        worker_startup_migrations()
        yield settings


def _call_ended(business_id: int, to_number: str) -> CallEnded:
    began = utcnow() - timedelta(minutes=2)
    return CallEnded(
        business_id=business_id,
        call_sid=sid("CA"),
        stream_sid=sid("MZ"),
        direction="inbound",
        from_number=unique_phone(),
        to_number=to_number,
        started_at=began,
        ended_at=utcnow(),
        duration_s=120.0,
        end_reason="caller_hung_up",
        transcript=[
            TranscriptTurn(role="caller", text="My name is Dana Smith, book me in", at=began)
        ],
    )


def _sent_replies(business_id: int, conversation_id: int) -> int:
    with tenant_session(business_id) as session:
        return len(
            session.execute(
                select(WhatsAppMessage.id).where(
                    WhatsAppMessage.conversation_id == conversation_id,
                    WhatsAppMessage.direction == "out",
                    WhatsAppMessage.status == "sent",
                )
            ).all()
        )


def test_after_a_15_minute_outage_owed_work_happens_and_time_bound_work_expires_visibly(
    after_an_outage: Settings,
    fake_twilio: FakeTwilioServer,
    fake_push_service: FakePushService,
    webhook_receiver: FakeWebhookReceiver,
) -> None:
    from switchboard.worker import actors

    broker = get_broker()
    actors.install(broker)  # declares the queues; no worker runs yet
    browser = fake_push_service.subscribe()
    world = make_world(
        endpoint_url=webhook_receiver.url_for("generic"),
        push_endpoint=browser.as_subscription_info()["endpoint"],
    )
    bid = world.id
    with tenant_session(bid) as session:  # the receiver checks the signatures with its secret
        session.execute(update(WebhookEndpoint).values(secret=SECRET))
    ended = _call_ended(bid, world.business.phone_number)
    follow_ups = enqueue_follow_ups(ended)  # the call log and session, the lead, the analysis
    owed = [ref.job_id for ref in follow_ups] + [
        enqueue(PROCESS_WHATSAPP_WEBHOOK, business_id=bid, message_id=world.inbound_id).job_id,
        enqueue(CREATE_LEAD, business_id=bid, conversation_id=world.conversation_id).job_id,
        enqueue(
            SEND_WEBHOOK_WITH_RETRY, business_id=bid, delivery_id=world.generic_delivery_id
        ).job_id,
    ]
    time_bound = [
        enqueue(
            SEND_PUSH_NOTIFICATION,
            business_id=bid,
            subscription_id=world.subscription_id,
            reminder_id=world.reminder_id,
        ).job_id,
        enqueue(WARMUP_BUSINESS, business_id=bid).job_id,
    ]

    worker = start_worker(broker, threads=4, worker_timeout_ms=50)
    try:
        outcomes = {job_id: finished(bid, job_id, timeout=60) for job_id in owed + time_bound}
        # What the owed jobs enqueue in turn (the reply's send, analyses) runs as well.
        wait_for(lambda: _sent_replies(bid, world.conversation_id) == 1, what="the reply")
        for job in jobs_of(bid, "analyze_conversation_job"):
            assert finished(bid, job.id, timeout=60).status == "succeeded"
    finally:
        worker.stop()

    assert {outcomes[job_id].status for job_id in owed} == {"succeeded"}, [
        (outcomes[j].actor_name, outcomes[j].status, outcomes[j].last_error) for j in owed
    ]
    for job_id in time_bound:
        expired = outcomes[job_id]
        assert expired.status == "dead"
        assert (expired.last_error or "").startswith("expired: older than 600 s"), expired
    with tenant_session(bid) as session:
        call_log = session.execute(
            select(CallLog).where(CallLog.call_sid == ended.call_sid)
        ).scalar_one()
        assert call_log.lead_id is not None
        assert session.get(Lead, call_log.lead_id) is not None
    assert len(fake_twilio.messages) == 1
    assert webhook_receiver.received
    assert all(hook.answered == 200 for hook in webhook_receiver.received)
    assert fake_push_service.received == []  # the reminder's moment had passed

    [family] = [m for m in LedgerCollector().collect() if m.name == "switchboard_jobs_expired"]
    expired_by_actor = {
        sample.labels["actor"]: sample.value
        for sample in family.samples
        if sample.name == "switchboard_jobs_expired_total"
    }
    assert expired_by_actor == {SEND_PUSH_NOTIFICATION.name: 1, WARMUP_BUSINESS.name: 1}
