"""WhatsApp: the signed webhook, the reply through (fake) Twilio, retries, limits, summaries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import dramatiq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from twilio.request_validator import RequestValidator

from switchboard.api.app import create_app
from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.integrations.twilio_client import TwilioRestClient
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import PROCESS_WHATSAPP_WEBHOOK
from switchboard.common.models import (
    Business,
    Job,
    Lead,
    WhatsAppConversation,
    WhatsAppMessage,
    WhatsAppSession,
)
from switchboard.common.settings import Settings
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer
from tests.support.factories import make_business, unique_phone
from tests.support.waiting import wait_for
from tests.unit.worker.jobs import finished, jobs_of, run
from tests.unit.worker.world import World, add, make_world, sid

PATH = "/webhooks/twilio/whatsapp"


@pytest.fixture
def client(jobs_env: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(jobs_env)) as test_client:
        yield test_client


def signed(settings: Settings, params: dict[str, str]) -> dict[str, str]:
    url = settings.api_base_url + PATH
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)}


def inbound(to: str, body: str = "Hi, how much is a haircut?") -> dict[str, str]:
    return {
        "MessageSid": sid("SM"),
        "From": f"whatsapp:{unique_phone()}",
        "To": f"whatsapp:{to}",
        "Body": body,
        "NumMedia": "0",
    }


def _messages(business_id: int) -> list[WhatsAppMessage]:
    with tenant_session(business_id) as session:
        return list(session.execute(select(WhatsAppMessage).order_by(WhatsAppMessage.id)).scalars())


def test_an_unsigned_webhook_is_403_and_stores_nothing(
    client: TestClient, jobs_env: Settings
) -> None:
    business = make_business()
    params = inbound(business.phone_number)

    unsigned = client.post(PATH, data=params)
    forged = client.post(PATH, data=params, headers={"X-Twilio-Signature": "bm90IGl0"})

    assert (unsigned.status_code, forged.status_code) == (403, 403)
    assert _messages(business.id) == []


def test_a_signed_webhook_stores_the_message_and_its_job_once_per_message_sid(
    client: TestClient, jobs_env: Settings
) -> None:
    business = make_business()
    params = inbound(business.phone_number)

    first = client.post(PATH, data=params, headers=signed(jobs_env, params))
    retry = client.post(PATH, data=params, headers=signed(jobs_env, params))

    assert (first.status_code, retry.status_code) == (200, 200)
    assert first.text.endswith("<Response></Response>")
    [message] = _messages(business.id)
    assert (message.direction, message.message_sid, message.body) == (
        "in",
        params["MessageSid"],
        params["Body"],
    )
    [job] = jobs_of(business.id, "process_whatsapp_webhook_job")
    assert job.status == "queued"  # no worker in this test: stored and queued, nothing else


def test_an_inbound_message_is_answered_through_twilio_end_to_end(
    client: TestClient, jobs_env: Settings, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    business = make_business()
    params = inbound(business.phone_number, "Hello, my name is Ana Ruiz, I want to book a visit")

    assert client.post(PATH, data=params, headers=signed(jobs_env, params)).status_code == 200

    [sent] = fake_twilio.wait_for(lambda: fake_twilio.messages or None, timeout=20)
    assert (sent["To"], sent["From"]) == (params["From"], params["To"])
    wait_for(lambda: [m.status for m in _messages(business.id)] == ["replied", "sent"])
    reply = _messages(business.id)[1]
    assert (reply.direction, reply.message_sid, reply.body) == ("out", sent["sid"], sent["Body"])
    wait_for(lambda: _lead(business.id) is not None and _lead(business.id).name == "Ana Ruiz")
    # The reply job sent its reply itself: no send job between the reply and Twilio.
    assert jobs_of(business.id, "send_whatsapp_with_retry_job") == []


def test_a_reply_twilio_keeps_refusing_is_marked_failed_after_its_retries(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    world = make_world()
    fake_twilio.fail_next("create_message", count=50, status=503)

    job = run("send_whatsapp_with_retry_job", business_id=world.id, message_id=world.outbound_id)

    assert (job.status, job.attempts) == ("dead", 6)
    message = _messages(world.id)[1]
    assert (message.status, message.attempts) == ("failed", 6)
    assert "503" in (message.error or "")


def test_a_reply_to_an_invalid_number_fails_at_once(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    world = make_world()
    with tenant_session(world.id) as session:
        session.execute(
            update(WhatsAppConversation)
            .where(WhatsAppConversation.id == world.conversation_id)
            .values(contact_number="12345")
        )

    job = run("send_whatsapp_message_job", business_id=world.id, message_id=world.outbound_id)

    assert (job.status, job.attempts) == ("failed", 1)
    assert _messages(world.id)[1].status == "failed"


def test_a_business_at_its_concurrency_limit_waits_without_using_up_retries(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    world = make_world()
    before = len(_messages(world.id))
    _set_concurrency(world.id, 0)
    job_id = enqueue(
        PROCESS_WHATSAPP_WEBHOOK, business_id=world.id, message_id=world.inbound_id
    ).job_id
    wait_for(lambda: _job(world.id, job_id).failures >= 5, what="several deferrals")
    assert _job(world.id, job_id).status in ("queued", "running")
    assert fake_twilio.messages == []
    assert len(_messages(world.id)) == before  # a deferral writes no reply

    _set_concurrency(world.id, 4)

    assert finished(world.id, job_id).status == "succeeded"
    fake_twilio.wait_for(lambda: fake_twilio.messages, timeout=20)


def test_an_idle_session_gets_a_summary_and_is_closed(worker: dramatiq.Worker) -> None:
    world = make_world()
    fresh = add(
        world.id,
        WhatsAppSession(
            business_id=world.id,
            conversation_id=world.conversation_id,
            started_at=utcnow(),
            last_activity_at=utcnow() - timedelta(minutes=5),
        ),
    )

    job = run("auto_summary_whatsapp_session_job", business_id=world.id)

    assert job.status == "succeeded", job.last_error
    [summary] = [
        j for j in jobs_of(world.id, "auto_summary_whatsapp_session_job") if j.id != job.id
    ]
    assert finished(world.id, summary.id).status == "succeeded"
    with tenant_session(world.id) as session:
        idle = session.get(WhatsAppSession, world.session_id)
        active = session.get(WhatsAppSession, fresh.id)
        lead = session.get(Lead, world.lead_id)
    assert idle is not None and idle.closed_at is not None and idle.summary
    assert lead is not None and lead.summary == idle.summary
    assert active is not None and active.closed_at is None


def _set_concurrency(business_id: int, limit: int) -> None:
    with tenant_session(business_id) as session:
        session.execute(
            update(Business).where(Business.id == business_id).values(whatsapp_concurrency=limit)
        )


def _job(business_id: int, job_id: str) -> Job:
    with tenant_session(business_id) as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _lead(business_id: int) -> Lead | None:
    with tenant_session(business_id) as session:
        return session.execute(select(Lead)).scalar_one_or_none()


def _unsettled(
    world: World,
    fake_twilio: FakeTwilioServer,
    *,
    reached_twilio: bool,
    died: timedelta = timedelta(minutes=5),
) -> None:
    """Leave the reply as an attempt that died mid-send ``died`` ago leaves it: ``sending``,
    outcome unknown."""
    with tenant_session(world.id) as session:
        session.execute(
            update(WhatsAppMessage)
            .where(WhatsAppMessage.id == world.outbound_id)
            .values(status="sending", attempts=1, updated_at=utcnow() - died)
        )
        contact = session.get(WhatsAppConversation, world.conversation_id).contact_number
    if reached_twilio:  # the attempt's request got through before it died
        twilio = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url)
        twilio.send_whatsapp(contact, world.business.phone_number, "Sure!")


def test_a_reply_twilio_took_before_the_attempt_died_is_recorded_not_sent_again(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    world = make_world()
    _unsettled(world, fake_twilio, reached_twilio=True)
    [earlier] = fake_twilio.messages

    job = run("send_whatsapp_message_job", business_id=world.id, message_id=world.outbound_id)

    assert job.status == "succeeded", job.last_error
    assert fake_twilio.messages == [earlier]  # looked up, not sent twice
    reply = _messages(world.id)[1]
    assert (reply.status, reply.message_sid, reply.attempts) == ("sent", earlier["sid"], 2)


def test_a_reply_whose_dead_attempt_never_reached_twilio_is_sent(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    world = make_world()
    _unsettled(world, fake_twilio, reached_twilio=False)

    job = run("send_whatsapp_message_job", business_id=world.id, message_id=world.outbound_id)

    assert job.status == "succeeded", job.last_error
    [sent] = fake_twilio.messages
    assert sent["Body"] == "Sure!"
    reply = _messages(world.id)[1]
    assert (reply.status, reply.message_sid) == ("sent", sent["sid"])


def test_the_same_text_sent_as_another_message_is_not_mistaken_for_this_one(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    world = make_world()
    first = run("send_whatsapp_message_job", business_id=world.id, message_id=world.outbound_id)
    assert first.status == "succeeded", first.last_error
    second = add(
        world.id,
        WhatsAppMessage(
            business_id=world.id,
            conversation_id=world.conversation_id,
            direction="out",
            body="Sure!",
            status="sending",
            attempts=1,
            updated_at=utcnow() - timedelta(minutes=5),
        ),
    )

    job = run("send_whatsapp_message_job", business_id=world.id, message_id=second.id)

    assert job.status == "succeeded", job.last_error
    assert len(fake_twilio.messages) == 2
    sids = [m.message_sid for m in _messages(world.id) if m.direction == "out"]
    assert sids == [fake_twilio.messages[0]["sid"], fake_twilio.messages[1]["sid"]]


def test_a_send_twilio_took_but_never_answered_is_looked_up_not_resent(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    world = make_world()
    fake_twilio.drop_next("create_message")

    job = run("send_whatsapp_message_job", business_id=world.id, message_id=world.outbound_id)

    assert job.status == "succeeded", job.last_error
    [sent] = fake_twilio.messages  # created once, by the request that heard nothing back
    reply = _messages(world.id)[1]
    assert (reply.status, reply.message_sid, reply.attempts) == ("sent", sent["sid"], 1)


def test_a_final_attempt_that_cannot_look_up_an_unsettled_send_fails_without_sending(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    world = make_world()
    _unsettled(world, fake_twilio, reached_twilio=False)
    fake_twilio.fail_next("list_messages", status=503)

    job = run("send_whatsapp_message_job", business_id=world.id, message_id=world.outbound_id)

    assert job.status == "dead"
    assert fake_twilio.messages == []  # not sent blind: it might have been sent already
    reply = _messages(world.id)[1]
    assert reply.status == "failed" and "503" in (reply.error or "")
