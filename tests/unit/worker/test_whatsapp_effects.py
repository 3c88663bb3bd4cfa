"""WhatsApp's outside effects happen once: an unsettled send waits for Twilio's list before it
sends again, a retried dead send sends, the reply job sends its own reply once however it
dies or fails, and idle sessions are summarised one job each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import dramatiq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from switchboard.api.app import create_app
from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.integrations.ai_text import OfflineAIText
from switchboard.common.integrations.twilio_client import TwilioRestClient
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import (
    AUTO_SUMMARY_WHATSAPP_SESSION,
    PROCESS_WHATSAPP_WEBHOOK,
    SEND_WHATSAPP_WITH_RETRY,
)
from switchboard.common.models import (
    Job,
    WhatsAppConversation,
    WhatsAppMessage,
    WhatsAppSession,
)
from switchboard.common.settings import Settings
from switchboard.domain.whatsapp import replies
from switchboard.domain.whatsapp.sessions import queue_idle_session_summaries
from switchboard.worker.bootstrap import stores
from tests.fakes.openai_http import FakeOpenAIServer
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer
from tests.support.factories import make_business, unique_phone
from tests.support.waiting import wait_for
from tests.unit.worker.jobs import finished, jobs_of, run
from tests.unit.worker.world import World, add, make_world


@pytest.fixture
def client(jobs_env: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(jobs_env)) as test_client:
        yield test_client


def _reply(world: World) -> WhatsAppMessage:
    with tenant_session(world.id) as session:
        reply = session.get(WhatsAppMessage, world.outbound_id)
        assert reply is not None
        return reply


def _retried_through_the_api(client: TestClient, world: World, job_id: str) -> Job:
    """Retry a dead job as the business would (``POST /api/v1/jobs/{id}/retry``); its end."""
    answer = client.post(
        f"/api/v1/jobs/{job_id}/retry",
        headers={"Authorization": f"Bearer {world.business.api_key}"},
    )
    assert answer.status_code == 200, answer.text
    return finished(world.id, job_id)


def _replies_to(world: World) -> list[WhatsAppMessage]:
    """The outbound messages stored besides the world's own (the agent's replies)."""
    with tenant_session(world.id) as session:
        inbound = session.get(WhatsAppMessage, world.inbound_id)
        assert inbound is not None
        return list(
            session.execute(
                select(WhatsAppMessage).where(
                    WhatsAppMessage.direction == "out",
                    WhatsAppMessage.id != world.outbound_id,
                )
            ).scalars()
        )


def _reply_job(world: World, timeout: float = 20) -> Job:
    return run(
        PROCESS_WHATSAPP_WEBHOOK.name,
        business_id=world.id,
        message_id=world.inbound_id,
        timeout=timeout,
    )


def _died_mid_send_just_now(world: World, fake_twilio: FakeTwilioServer) -> dict[str, str]:
    """The reply as a worker killed in the middle of Twilio's create leaves it: Twilio took the
    message, the reply is still ``sending`` since a moment ago. Returns what Twilio has."""
    with tenant_session(world.id) as session:
        session.execute(
            update(WhatsAppMessage)
            .where(WhatsAppMessage.id == world.outbound_id)
            .values(status="sending", attempts=1, updated_at=utcnow())
        )
        conversation = session.get(WhatsAppConversation, world.conversation_id)
        assert conversation is not None
        contact = conversation.contact_number
    twilio = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url)
    twilio.send_whatsapp(contact, world.business.phone_number, "Sure!")
    [taken] = fake_twilio.messages
    return taken


def test_a_send_that_died_just_now_waits_for_twilio_to_list_it_instead_of_sending_again(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer, jobs_env: Settings
) -> None:
    assert jobs_env.whatsapp_send_lookup_window_s == 2
    fake_twilio.list_lag_s = 1.0  # Twilio lists a message a second after taking it
    world = make_world()
    taken = _died_mid_send_just_now(world, fake_twilio)

    job = run("send_whatsapp_message_job", business_id=world.id, message_id=world.outbound_id)

    assert job.status == "succeeded", job.last_error
    assert fake_twilio.messages == [taken]  # looked up again after the lag, never resent
    reply = _reply(world)
    assert (reply.status, reply.message_sid) == ("sent", taken["sid"])


def test_twilio_listing_later_than_the_window_is_the_one_case_sent_twice(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer, jobs_env: Settings
) -> None:
    """The limit of exactly-once (docs/reliability.md): Twilio took the message, the worker
    died before it heard back, and Twilio's list lags longer than the lookup window."""
    fake_twilio.list_lag_s = jobs_env.whatsapp_send_lookup_window_s + 2
    world = make_world()
    _died_mid_send_just_now(world, fake_twilio)

    job = run("send_whatsapp_message_job", business_id=world.id, message_id=world.outbound_id)

    assert job.status == "succeeded", job.last_error
    assert len(fake_twilio.messages) == 2
    assert _reply(world).message_sid == fake_twilio.messages[1]["sid"]


def test_a_send_that_stepped_back_still_has_all_its_retries(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer, jobs_env: Settings
) -> None:
    """Waiting out the lookup window is not a failed try: after it, the job still gets its
    five retries, and sends on the last one."""
    world = make_world()
    with tenant_session(world.id) as session:  # an earlier attempt, unheard, just now
        session.execute(
            update(WhatsAppMessage)
            .where(WhatsAppMessage.id == world.outbound_id)
            .values(status="sending", attempts=1, updated_at=utcnow())
        )
    retries = SEND_WHATSAPP_WITH_RETRY.max_retries
    fake_twilio.fail_next("create_message", count=retries, status=503)

    job = run(
        SEND_WHATSAPP_WITH_RETRY.name,
        business_id=world.id,
        message_id=world.outbound_id,
        timeout=60,
    )

    assert job.status == "succeeded", job.last_error
    [sent] = fake_twilio.messages
    reply = _reply(world)
    assert (reply.status, reply.message_sid) == ("sent", sent["sid"])


def test_retrying_a_dead_send_through_the_api_sends_the_message_and_marks_it_sent(
    client: TestClient, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    world = make_world()
    fake_twilio.fail_next("create_message", count=6, status=503)  # every try of the job
    dead = run("send_whatsapp_with_retry_job", business_id=world.id, message_id=world.outbound_id)
    assert (dead.status, _reply(world).status) == ("dead", "failed")
    assert fake_twilio.messages == []

    assert _retried_through_the_api(client, world, dead.id).status == "succeeded"
    [sent] = fake_twilio.messages
    reply = _reply(world)
    assert (reply.status, reply.message_sid, reply.error) == ("sent", sent["sid"], None)


def test_fifty_idle_sessions_are_fifty_jobs_each_summarising_one(
    jobs_env: Settings, fake_openai: FakeOpenAIServer, request: pytest.FixtureRequest
) -> None:
    business = make_business()
    long_ago = utcnow() - timedelta(minutes=20)
    ids = []
    for _ in range(50):
        conversation = add(
            business.id,
            WhatsAppConversation(
                business_id=business.id,
                contact_number=unique_phone(),
                business_number=business.phone_number,
            ),
        )
        add(
            business.id,
            WhatsAppMessage(
                business_id=business.id,
                conversation_id=conversation.id,
                direction="in",
                body="Do you open on Sundays?",
                created_at=long_ago,
            ),
        )
        chat = add(
            business.id,
            WhatsAppSession(
                business_id=business.id,
                conversation_id=conversation.id,
                started_at=long_ago,
                last_activity_at=long_ago,
            ),
        )
        ids.append(chat.id)

    get_broker().declare_queue(AUTO_SUMMARY_WHATSAPP_SESSION.queue)  # they wait: no worker yet
    assert queue_idle_session_summaries(business.id) == 50
    # the next sweep, while they wait: no new job
    assert queue_idle_session_summaries(business.id) == 50

    jobs = jobs_of(business.id, "auto_summary_whatsapp_session_job")
    assert sorted(json.loads(job.message)["kwargs"]["session_id"] for job in jobs) == ids
    request.getfixturevalue("worker")
    for job in jobs:
        assert finished(business.id, job.id, timeout=60).status == "succeeded"
    with tenant_session(business.id) as session:
        chats = session.execute(select(WhatsAppSession)).scalars().all()
    assert all(chat.closed_at is not None and chat.summary for chat in chats)
    wait_for(lambda: len(fake_openai.chat_requests) >= 50)
    assert len(fake_openai.chat_requests) == 50  # one summary each, none twice


@pytest.mark.parametrize("reached_twilio", [False, True])
def test_a_reply_job_that_died_after_storing_its_reply_sends_it_once_when_redelivered(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer, reached_twilio: bool
) -> None:
    """Killed between storing the reply (claimed for its first send) and learning whether
    Twilio took it: the redelivery asks the agent nothing, looks the reply up at Twilio, and
    sends it only if Twilio never got it."""
    world = make_world()
    stored = replies.reply_to_inbound(world.id, world.inbound_id, OfflineAIText(), stores().replies)
    assert stored is not None and stored.outgoing is not None  # ...and the worker dies here
    with tenant_session(world.id) as session:  # long enough ago for the lookup window to pass
        session.execute(
            update(WhatsAppMessage)
            .where(WhatsAppMessage.id == stored.reply_id)
            .values(updated_at=utcnow() - timedelta(minutes=5))
        )
    if reached_twilio:
        twilio = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url)
        twilio.send_whatsapp(stored.outgoing.to, stored.outgoing.from_, stored.outgoing.body)

    job = _reply_job(world)

    assert job.status == "succeeded", job.last_error
    [sent] = fake_twilio.messages  # once, whoever sent it
    [reply] = _replies_to(world)
    assert (reply.id, reply.status, reply.message_sid) == (stored.reply_id, "sent", sent["sid"])
    assert reply.attempts == 2


def test_a_reply_twilio_keeps_refusing_is_stored_once_and_failed_after_the_job_s_retries(
    client: TestClient, worker: dramatiq.Worker, fake_twilio: FakeTwilioServer
) -> None:
    """The reply job's retries are its reply's send retries: one reply, failed at the end;
    retried from the API, the job re-opens it and sends it (the agent is not asked again)."""
    world = make_world()
    tries = PROCESS_WHATSAPP_WEBHOOK.max_retries + 1
    fake_twilio.fail_next("create_message", count=tries, status=503)

    dead = _reply_job(world, timeout=60)

    assert (dead.status, dead.attempts) == ("dead", tries)
    [reply] = _replies_to(world)
    assert (reply.status, reply.attempts) == ("failed", tries)
    assert "503" in (reply.error or "") and fake_twilio.messages == []

    assert _retried_through_the_api(client, world, dead.id).status == "succeeded"
    [sent] = fake_twilio.messages
    [again] = _replies_to(world)
    assert (again.id, again.status, again.message_sid) == (reply.id, "sent", sent["sid"])


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_reply_twilio_took_but_answered_with_a_server_error_is_sent_once(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer, status: int
) -> None:
    """Twilio created the message and answered 500, 502 or 504 (its gateway failed after the
    work was done): the reply job looks it up and records it instead of sending it again."""
    world = make_world()
    fake_twilio.lose_answer_next("create_message", status=status)

    job = _reply_job(world)

    assert job.status == "succeeded", job.last_error
    [sent] = fake_twilio.messages  # before, the job's retry sent a second one
    [reply] = _replies_to(world)
    assert (reply.status, reply.message_sid, reply.attempts) == ("sent", sent["sid"], 1)
