"""Jobs queued for a person's rows before their erasure, run by the worker after it, on
PostgreSQL: each finds its row gone and ends ``succeeded``, not ``failed`` (its work is no
longer owed, nothing went wrong), with one line at info naming ids and the reason only; and
nothing goes to the AI, the business's webhooks or WhatsApp.

Only a row the erasure remembered deleting (``erasures/erased_rows.py``) is not owed: a job
for a row that never existed, or that went without an erasure, still fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from switchboard.common.bootstrap import Adapters
from switchboard.common.db import system_session, tenant_session
from switchboard.common.integrations.storage import make_recording_storage
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import (
    ANALYZE_CONVERSATION,
    AUTO_SUMMARY_WHATSAPP_SESSION,
    CREATE_LEAD,
    CREATE_LEAD_FROM_CALL,
    PROCESS_WHATSAPP_WEBHOOK,
    SEND_PUSH_NOTIFICATION,
    SEND_WEBHOOK_TO_N8N,
    SEND_WEBHOOK_WITH_RETRY,
    SEND_WHATSAPP_MESSAGE,
    SEND_WHATSAPP_WITH_RETRY,
    ActorSpec,
)
from switchboard.common.models import (
    CallLog,
    Job,
    OutboxMessage,
    WebhookDelivery,
    WebhookEndpoint,
    WhatsAppConversation,
    WhatsAppMessage,
)
from switchboard.common.settings import Settings
from switchboard.domain.erasures import run_erasure
from switchboard.domain.erasures.erased_rows import was_erased
from switchboard.domain.whatsapp.inbound import InboundMessage, store_inbound
from switchboard.worker.runtime.inprocess import start_worker
from tests.fakes.openai_http import FakeOpenAIServer, fake_openai
from tests.fakes.twilio_rest import FakeTwilioServer, fake_twilio
from tests.fakes.webhook_receiver import SECRET, FakeWebhookReceiver, webhook_receiver
from tests.support.environment import configured
from tests.support.lock_waits import until_waiting
from tests.support.log_capture import capture_logs
from tests.unit.worker.conftest import fake_service_env
from tests.unit.worker.erasure_world import ERASED, Person, erasure_row, person_world, traces
from tests.unit.worker.jobs import finished, jobs_of
from tests.unit.worker.world import World, sid

pytestmark = pytest.mark.integration

__all__ = ["fake_openai", "fake_twilio", "webhook_receiver"]

#: Each job an erased row's id names, with that id's argument from the person's world.
_JOBS: tuple[tuple[ActorSpec, Callable[[World], dict[str, int]]], ...] = (
    (ANALYZE_CONVERSATION, lambda w: {"call_log_id": w.call_log_id}),
    (ANALYZE_CONVERSATION, lambda w: {"conversation_id": w.conversation_id}),
    (CREATE_LEAD_FROM_CALL, lambda w: {"call_log_id": w.call_log_id}),
    (CREATE_LEAD, lambda w: {"conversation_id": w.conversation_id}),
    (SEND_WEBHOOK_WITH_RETRY, lambda w: {"delivery_id": w.generic_delivery_id}),
    (SEND_WEBHOOK_TO_N8N, lambda w: {"delivery_id": w.n8n_delivery_id}),
    (PROCESS_WHATSAPP_WEBHOOK, lambda w: {"message_id": w.inbound_id}),
    (SEND_WHATSAPP_MESSAGE, lambda w: {"message_id": w.outbound_id}),
    (SEND_WHATSAPP_WITH_RETRY, lambda w: {"message_id": w.outbound_id}),
    (AUTO_SUMMARY_WHATSAPP_SESSION, lambda w: {"session_id": w.session_id}),
    (
        SEND_PUSH_NOTIFICATION,
        lambda w: {"subscription_id": w.subscription_id, "reminder_id": w.reminder_id},
    ),
)


@pytest.fixture
def env(
    pg_url: str, tmp_path: Path, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> Iterator[Settings]:
    """PostgreSQL, the outside world faked, every actor declared; no worker yet.

    The outbox rows earlier tests left (other businesses' jobs, never published) are dropped:
    this test's worker relays the database's outbox, and would run them against its fakes.
    """
    extra = fake_service_env(fake_twilio, fake_openai)
    with configured(database_url=pg_url, amqp_url="", var_dir=str(tmp_path), **extra) as settings:
        from switchboard.worker import actors

        with system_session() as session:
            session.execute(delete(OutboxMessage))
        actors.install(get_broker())
        yield settings


@pytest.fixture
def start_jobs(env: Settings) -> Iterator[Callable[[], None]]:
    """Start an in-process worker running every actor (stopped at the test's end)."""
    running: list[Any] = []

    def start() -> None:
        running.append(start_worker(get_broker(), threads=4, worker_timeout_ms=50))

    yield start
    for worker in running:
        worker.stop()


def _person(env: Settings, fake_twilio: FakeTwilioServer, receiver: FakeWebhookReceiver) -> Person:
    """The person, their business's webhooks sent to ``receiver``."""
    person = person_world(fake_twilio, make_recording_storage(env))
    with tenant_session(person.business_id) as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.business_id == person.business_id)
            .values(url=receiver.url_for(), secret=SECRET)
        )
    return person


def _outcomes(business_id: int, job_ids: list[str]) -> list[Job]:
    return [finished(business_id, job_id, timeout=30) for job_id in job_ids]


def test_jobs_queued_for_the_person_s_rows_before_the_erasure_succeed_after_it_doing_nothing(
    env: Settings,
    start_jobs: Callable[[], None],
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
    webhook_receiver: FakeWebhookReceiver,
) -> None:
    person = _person(env, fake_twilio, webhook_receiver)
    bid = person.business_id
    job_ids = [enqueue(spec, business_id=bid, **ids(person.world)).job_id for spec, ids in _JOBS]
    assert run_erasure(bid, person.world.erasure_id, Adapters(env)) is True

    with capture_logs(with_context=True) as logs:
        start_jobs()
        jobs = _outcomes(bid, job_ids)

    assert [(job.actor_name, job.status, job.last_error) for job in jobs] == [
        (spec.name, "succeeded", None) for spec, _ in _JOBS
    ]
    assert fake_openai.chat_requests == []
    assert webhook_receiver.received == []
    assert fake_twilio.messages == []
    assert traces(bid, person.phone, person.world.call_sid, "Dana") == []
    # This business's lines: the worker also runs what earlier tests left queued (the outbox
    # it relays is the database's), their erased rows' jobs included.
    not_owed = [
        line for line in logs if line["event"] == "job.not_owed" and line["business_id"] == bid
    ]
    # Each job's own line (a delivery the outbox relay made again may add a second, at least
    # once being the broker's promise; the ledger keeps one outcome).
    assert {line["job_id"] for line in not_owed} == set(job_ids)
    assert {line["reason"] for line in not_owed} == {"erased"}
    assert {line["log_level"] for line in not_owed} == {"info"}
    for private in (person.phone, person.world.call_sid, "Dana"):
        assert private not in repr(not_owed)


def test_a_job_for_a_row_no_erasure_deleted_still_fails(
    env: Settings,
    start_jobs: Callable[[], None],
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
    webhook_receiver: FakeWebhookReceiver,
) -> None:
    """A call log that never existed, and a delivery deleted by no erasure (a bug), while the
    person's erasure erased other rows of the business: their jobs fail, not found."""
    person = _person(env, fake_twilio, webhook_receiver)
    bid = person.business_id
    with tenant_session(bid) as session:
        never = int(session.execute(select(func.max(CallLog.id))).scalar_one()) + 1000
        session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.id == person.kept_delivery_id)
        )
    job_ids = [
        enqueue(ANALYZE_CONVERSATION, business_id=bid, call_log_id=never).job_id,
        enqueue(
            SEND_WEBHOOK_WITH_RETRY, business_id=bid, delivery_id=person.kept_delivery_id
        ).job_id,
    ]
    assert run_erasure(bid, person.world.erasure_id, Adapters(env)) is True

    start_jobs()
    jobs = _outcomes(bid, job_ids)

    assert [job.status for job in jobs] == ["failed", "failed"]
    assert all("not found" in (job.last_error or "") for job in jobs)
    assert fake_openai.chat_requests == []
    assert webhook_receiver.received == []


def _arrived(person: Person) -> int:
    """A WhatsApp message from the person, stored as the webhook stores it (its reply job
    queued in the same transaction); its id."""
    with tenant_session(person.business_id) as session:
        business_number = session.execute(
            select(WhatsAppConversation.business_number).where(
                WhatsAppConversation.id == person.world.conversation_id
            )
        ).scalar_one()
    message = InboundMessage(
        message_sid=sid("SM"),
        from_number=f"whatsapp:{person.phone}",
        to_number=f"whatsapp:{business_number}",
        body="Dana again: please call me back",
    )
    message_id = store_inbound(person.business_id, message)
    assert message_id is not None
    return message_id


def test_a_message_that_arrives_after_the_messages_step_is_remembered_and_its_reply_not_owed(
    env: Settings,
    start_jobs: Callable[[], None],
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
    webhook_receiver: FakeWebhookReceiver,
) -> None:
    """The erasure's messages step is held (one of the person's messages locked here) while
    a new message from the person arrives: the step's delete does not see it, and it goes
    with its conversation in the next step. It is remembered and counted all the same, so
    its reply job, run by the worker after the erasure, ends ``succeeded`` and not owed:
    nothing goes to the AI or WhatsApp."""
    person = _person(env, fake_twilio, webhook_receiver)
    bid = person.business_id
    with ThreadPoolExecutor(1) as pool:
        with tenant_session(bid) as holder:  # holds the erasure in its messages step
            holder.execute(
                select(WhatsAppMessage.id)
                .where(WhatsAppMessage.id == person.world.inbound_id)
                .with_for_update()
            ).one()
            erasure = pool.submit(run_erasure, bid, person.world.erasure_id, Adapters(env))
            until_waiting(
                "DELETE FROM whatsapp_messages%", erasure, what="the erasure at its messages"
            )
            late = _arrived(person)
        assert erasure.result(timeout=30) is True

    assert was_erased(bid, "whatsapp_messages", late)
    counts = erasure_row(bid, person.world.erasure_id).counts
    assert counts["whatsapp_messages"] == ERASED["whatsapp_messages"] + 1
    [reply] = jobs_of(bid, PROCESS_WHATSAPP_WEBHOOK.name)
    with capture_logs(with_context=True) as logs:
        start_jobs()
        job = finished(bid, reply.id, timeout=30)

    assert (job.status, job.last_error) == ("succeeded", None)
    assert fake_openai.chat_requests == []
    assert fake_twilio.messages == []
    assert traces(bid, person.phone, "Dana") == []
    not_owed = [
        (line["table"], line["row_id"], line["reason"], line["log_level"])
        for line in logs
        if line["event"] == "job.not_owed" and line["job_id"] == reply.id
    ]  # one per delivery (the relay may deliver twice; the ledger keeps one outcome)
    assert set(not_owed) == {("whatsapp_messages", late, "erased", "info")}
