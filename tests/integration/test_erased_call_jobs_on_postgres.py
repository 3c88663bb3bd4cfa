"""The jobs an erased call's recording or events queued before the erasure (its transcript's
analysis, its webhook deliveries), run while the erasure runs or after it, on PostgreSQL:
nothing of the call goes to the AI or to the business's webhooks, and no row about it is
written again.

After the erasure the jobs find nothing (their call log and delivery rows are gone: "not
found", ids only). While it runs they look for the erasure under the call's lock
(``erasures/erased_calls.py``): a job that comes once the erasure has remembered the call
finds it erased. The interleavings are held with database locks, each step awaited on
``pg_stat_activity``, never slept for.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from switchboard.common.bootstrap import Adapters
from switchboard.common.db import tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.storage import make_recording_storage
from switchboard.common.models import Job, WebhookDelivery, WebhookEndpoint
from switchboard.common.settings import Settings
from switchboard.domain.analysis.conversations import OrmAnalysisStore, analyze_conversation
from switchboard.domain.calls.recordings import process_recording
from switchboard.domain.erasures import run_erasure
from switchboard.domain.erasures.erased_calls import lock_call, remember_erased_calls
from switchboard.domain.webhooks.delivery import deliver_webhook
from tests.fakes.openai_http import FakeOpenAIServer, fake_openai
from tests.fakes.twilio_rest import FakeTwilioServer, fake_twilio
from tests.fakes.webhook_receiver import SECRET, FakeWebhookReceiver, webhook_receiver
from tests.support.environment import configured
from tests.support.lock_waits import until_waiting
from tests.support.log_capture import capture_logs
from tests.unit.worker.conftest import fake_service_env
from tests.unit.worker.erasure_world import Person, late_recording, person_world, traces

pytestmark = pytest.mark.integration

__all__ = ["fake_openai", "fake_twilio", "webhook_receiver"]

_CALL_LOCK = "SELECT pg_advisory_xact_lock%"
_DELETE_DELIVERIES = "DELETE FROM webhook_deliveries%"


@pytest.fixture
def env(
    pg_url: str, tmp_path: Path, fake_twilio: FakeTwilioServer, fake_openai: FakeOpenAIServer
) -> Iterator[Settings]:
    """PostgreSQL, the outside world faked."""
    extra = fake_service_env(fake_twilio, fake_openai)
    with configured(database_url=pg_url, amqp_url="", var_dir=str(tmp_path), **extra) as settings:
        yield settings


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


def _analyse(person: Person, adapters: Adapters) -> object:
    """The analysis job of the person's call (``analyze_conversation_job``'s body)."""
    return analyze_conversation(
        person.business_id,
        adapters.ai_text,
        OrmAnalysisStore(),
        call_log_id=person.world.call_log_id,
    )


def _deliver(person: Person, adapters: Adapters) -> bool:
    """The delivery job of the world's ``call.ended`` of the person's call, to its generic
    endpoint (``send_webhook_with_retry_job``'s body)."""
    return deliver_webhook(
        person.business_id,
        adapters.webhooks,
        kind="generic",
        delivery_id=person.world.generic_delivery_id,
    )


def _nothing_sent_or_left(
    person: Person, fake_openai: FakeOpenAIServer, receiver: FakeWebhookReceiver
) -> None:
    assert fake_openai.chat_requests == []
    assert receiver.received == []
    assert traces(person.business_id, person.phone, person.world.call_sid, "Dana") == []


def _logged_ids_only(person: Person, logs: list[MutableMapping[str, Any]], event: str) -> None:
    """The job said it found its call erased, in a line that names neither the person's
    number nor the call."""
    assert event in [line["event"] for line in logs]
    for private in (person.phone, person.world.call_sid, "Dana"):
        assert private not in repr(logs)


def test_an_analysis_and_a_delivery_queued_before_the_erasure_find_nothing_after_it(
    env: Settings,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
    webhook_receiver: FakeWebhookReceiver,
) -> None:
    """A late recording's attach commits before the erasure and queues the call's analysis
    (the world's deliveries of the call are queued too); the erasure runs; then the jobs:
    each finds its row gone, not found, naming ids only (the erasure remembered the rows: the
    jobs end ``succeeded``, ``test_erased_row_jobs_on_postgres.py``)."""
    adapters = Adapters(env)
    person = _person(env, fake_twilio, webhook_receiver)
    bid, call_sid = person.business_id, person.world.call_sid
    late = late_recording(person, fake_twilio, adapters.storage, transcript="I am Dana Smith")
    assert process_recording(bid, adapters, recording_sid=late, call_sid=call_sid) is True
    with tenant_session(bid) as session:  # the attach queued the call's analysis
        assert session.execute(
            select(Job.id).where(
                Job.business_id == bid,
                Job.dedup_key == f"analyze-call:{bid}:{person.world.call_log_id}",
            )
        ).first()
    assert run_erasure(bid, person.world.erasure_id, adapters) is True

    with pytest.raises(NotFoundError) as analysis:
        _analyse(person, adapters)
    with pytest.raises(NotFoundError) as delivery:
        _deliver(person, adapters)

    _nothing_sent_or_left(person, fake_openai, webhook_receiver)
    for error in (str(analysis.value), str(delivery.value)):
        assert person.phone not in error and call_sid not in error


def test_an_analysis_once_the_erasure_remembered_the_call_sends_nothing_to_the_ai(
    env: Settings,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
    webhook_receiver: FakeWebhookReceiver,
) -> None:
    """The erasure has remembered the person's call and is held at its first step (the call
    log not deleted yet) when the analysis job runs: it finds the call erased and analyses
    nothing."""
    adapters = Adapters(env)
    person = _person(env, fake_twilio, webhook_receiver)
    bid = person.business_id
    with ThreadPoolExecutor(1) as pool:
        with tenant_session(bid) as holder:  # holds the erasure at its first step
            holder.execute(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.business_id == bid)
                .with_for_update()
            ).all()
            erasure = pool.submit(run_erasure, bid, person.world.erasure_id, adapters)
            until_waiting(_DELETE_DELIVERIES, erasure, what="the erasure held at its first step")
            with capture_logs() as logs:
                analysed = _analyse(person, adapters)
        assert erasure.result(timeout=30) is True

    assert analysed is None
    _logged_ids_only(person, logs, "calls.erased_call_ignored")
    _nothing_sent_or_left(person, fake_openai, webhook_receiver)


def test_a_delivery_while_the_erasure_remembers_the_call_sends_nothing(
    env: Settings,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
    webhook_receiver: FakeWebhookReceiver,
) -> None:
    """The erasure waits for the call's lock to remember the call (held here) when the
    call's delivery job comes: the job waits for it too, then finds the call erased, sends
    nothing and writes no attempt (its rows go)."""
    adapters = Adapters(env)
    person = _person(env, fake_twilio, webhook_receiver)
    bid, call_sid = person.business_id, person.world.call_sid
    with ThreadPoolExecutor(2) as pool:
        with tenant_session(bid) as holder:
            lock_call(holder, bid, call_sid)
            erasure = pool.submit(run_erasure, bid, person.world.erasure_id, adapters)
            until_waiting(_CALL_LOCK, erasure, what="the erasure waiting on the call")
            job = pool.submit(_deliver, person, adapters)
            until_waiting(_CALL_LOCK, erasure, job, what="the job waiting too", backends=2)
        assert erasure.result(timeout=30) is True
        assert job.result(timeout=30) is True  # nothing to send

    _nothing_sent_or_left(person, fake_openai, webhook_receiver)


def test_a_delivery_between_the_erasure_remembering_the_call_and_deleting_it_sends_nothing(
    env: Settings,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
    webhook_receiver: FakeWebhookReceiver,
) -> None:
    """The erasure's first transaction has committed (the call remembered, as ``run_erasure``
    remembers it) and its deliveries step has not come yet when the call's delivery job
    runs: nothing is sent, and the event's rows for the endpoint go; the erasure then
    leaves nothing either."""
    adapters = Adapters(env)
    person = _person(env, fake_twilio, webhook_receiver)
    bid, call_sid = person.business_id, person.world.call_sid
    with tenant_session(bid) as session:
        remember_erased_calls(session, bid, person.world.erasure_id, [call_sid])

    with capture_logs() as logs:
        assert _deliver(person, adapters) is True  # nothing to send
    assert webhook_receiver.received == []
    _logged_ids_only(person, logs, "webhooks.erased_call_not_sent")
    with tenant_session(bid) as session:
        assert session.get(WebhookDelivery, person.world.generic_delivery_id) is None

    assert run_erasure(bid, person.world.erasure_id, adapters) is True
    _nothing_sent_or_left(person, fake_openai, webhook_receiver)
