"""Outbound dials, webhooks and pushes when the worker is SIGKILLed after the outside service
carried out its request and before the worker heard back (real ``switchboard worker``
processes, PostgreSQL and RabbitMQ; the fakes, in this process, hold their answer until the
kill).

A dial Twilio made is found in Twilio's calls by the next driver tick and recorded, never
dialed again. A webhook and a push have no way to be looked up: the redelivered job sends them
again, the webhook with the same body and ``X-Switchboard-Delivery`` key (its delivery log
showing the attempt cut off, its outcome unknown), the push with the same ``Topic``
(docs/reliability.md, "Known limits").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import SEND_PUSH_NOTIFICATION
from switchboard.common.models import (
    Job,
    OutboundItem,
    PushSubscription,
    Reminder,
    WebhookDelivery,
    WebhookEndpoint,
)
from switchboard.common.settings import Settings
from switchboard.domain.leads.store import upsert_lead
from switchboard.domain.outbound import runs
from switchboard.domain.outbound.scheduled import reconcile_runs
from switchboard.domain.webhooks.delivery import UNKNOWN_OUTCOME
from switchboard.domain.webhooks.endpoints import send_test
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer
from tests.fakes.web_push import FakePushService
from tests.fakes.webhook_receiver import SECRET, FakeWebhookReceiver
from tests.support.factories import make_business, unique_phone
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def twilio() -> Iterator[FakeTwilioServer]:
    with FakeTwilioServer.running() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[FakeWebhookReceiver]:
    with FakeWebhookReceiver.running() as server:
        yield server


@pytest.fixture
def push_service() -> Iterator[FakePushService]:
    with FakePushService.running() as server:
        yield server


@pytest.fixture
def start_killable_worker(
    start_service: Callable[..., ServiceProcess], twilio: FakeTwilioServer
) -> Callable[[str], ServiceProcess]:
    """A worker on one queue, pointed at the fakes; a dead one's job is taken over quickly."""

    def start(queue: str) -> ServiceProcess:
        return start_service(
            "worker",
            "--processes",
            "1",
            "--threads",
            "2",
            "--queue",
            queue,
            twilio_api_base_url=twilio.url,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            public_base_url="http://gateway.test",
            webhook_allowlist="127.0.0.1",
            worker_heartbeat_interval_s="0.5",
            worker_stale_after_s="2",
        )

    return start


def _job_status(business_id: int, job_id: str) -> str:
    with tenant_session(business_id) as session:
        return str(session.execute(select(Job.status).where(Job.id == job_id)).scalar_one())


def _item(business_id: int, run_id: int) -> OutboundItem:
    [item] = runs.list_items(business_id, run_id)
    return item


def test_a_call_twilio_placed_as_the_worker_died_is_recorded_by_the_next_tick_not_redialed(
    pg_rabbit: Settings,
    twilio: FakeTwilioServer,
    start_killable_worker: Callable[[str], ServiceProcess],
) -> None:
    business = make_business()
    lead_phone = unique_phone()  # the worker may also drive runs other tests left: ours alone
    with tenant_session(business.id) as session:
        lead_id = upsert_lead(session, business.id, lead_phone)[0].id
    run_id = runs.create_run(business.id, runs.NewRun(name="r", lead_ids=[lead_id])).run.id
    twilio.hold_next("create_call", to=lead_phone)
    first = start_killable_worker("outbound")
    runs.start_run(business.id, run_id)

    twilio.wait_for(lambda: twilio.held, timeout=60)
    first.kill()  # Twilio made the call; the dial's transaction, with its sid, dies
    start_killable_worker("outbound")
    # The dead tick's lease runs out; the scheduler's reconciler (run here) resumes the run.
    wait_for(
        lambda: reconcile_runs(business.id).resumed,
        timeout=60,
        what="the run to be resumed once the dead driver's lease ran out",
    )

    wait_for(
        lambda: _item(business.id, run_id).status == "in_progress",
        timeout=60,
        what="the next tick to find the call at Twilio",
    )
    # Dialed once: by the request the killed worker never heard back from.
    [call] = [sid for sid, made in twilio.calls.items() if made.params["To"] == lead_phone]
    item = _item(business.id, run_id)
    assert (item.call_sid, item.calls_placed, item.attempts, item.error) == (call, 1, 1, None)
    assert runs.get_run(business.id, run_id).progress.placed == 1


def _add(business_id: int, row: Any) -> Any:
    with tenant_session(business_id) as session:
        session.add(row)
        session.flush()
        session.expunge(row)
        return row


def test_a_webhook_the_receiver_took_as_the_worker_died_comes_again_with_its_key(
    pg_rabbit: Settings,
    receiver: FakeWebhookReceiver,
    start_killable_worker: Callable[[str], ServiceProcess],
) -> None:
    business = make_business()
    endpoint = _add(
        business.id,
        WebhookEndpoint(
            business_id=business.id, url=receiver.url_for("crm"), kind="generic", secret=SECRET
        ),
    )
    receiver.hold_next()
    first = start_killable_worker("webhooks")
    queued = send_test(business.id, endpoint.id)

    receiver.wait_for(lambda: receiver.held, timeout=60)
    first.kill()
    start_killable_worker("webhooks")
    wait_for(
        lambda: _job_status(business.id, queued.job_id) == "succeeded",
        timeout=90,
        what="the redelivered webhook job",
    )

    # At least once: the receiver had it before the kill, and has it again; a receiver that
    # keeps the X-Switchboard-Delivery keys it has seen takes it once.
    hooks = [hook for hook in receiver.received if hook.json()["id"] == queued.event_id]
    assert len(hooks) == 2
    assert all(hook.signature_valid for hook in hooks)
    assert {hook.body for hook in hooks} == {hooks[0].body}
    assert {hook.headers["X-Switchboard-Delivery"] for hook in hooks} == {queued.event_id}
    # The delivery log says so: the attempt cut off is there, its outcome unknown.
    with tenant_session(business.id) as session:
        logged = session.execute(
            select(WebhookDelivery.attempt, WebhookDelivery.status, WebhookDelivery.error)
            .where(WebhookDelivery.event_id == queued.event_id)
            .order_by(WebhookDelivery.attempt)
        ).all()
    assert [tuple(row) for row in logged] == [
        (1, "failed", UNKNOWN_OUTCOME),
        (2, "delivered", None),
    ]


def test_a_push_the_service_took_as_the_worker_died_comes_again_under_its_topic(
    pg_rabbit: Settings,
    push_service: FakePushService,
    start_killable_worker: Callable[[str], ServiceProcess],
) -> None:
    business = make_business()
    browser = push_service.subscribe().as_subscription_info()
    subscription = _add(
        business.id,
        PushSubscription(
            business_id=business.id,
            api_key_id=business.api_key_id,
            endpoint=browser["endpoint"],
            p256dh=browser["keys"]["p256dh"],
            auth=browser["keys"]["auth"],
        ),
    )
    reminder = _add(
        business.id, Reminder(business_id=business.id, title="Call Sam back", due_at=utcnow())
    )
    push_service.hold_next()
    first = start_killable_worker("notifications")
    ref = enqueue(
        SEND_PUSH_NOTIFICATION,
        business_id=business.id,
        subscription_id=subscription.id,
        reminder_id=reminder.id,
    )

    push_service.wait_for(lambda: push_service.held, timeout=60)
    first.kill()
    start_killable_worker("notifications")
    wait_for(
        lambda: _job_status(business.id, ref.job_id) == "succeeded",
        timeout=90,
        what="the redelivered push job",
    )

    pushes = [push for push in push_service.received if push.endpoint == browser["endpoint"]]
    assert [push.json()["reminder_id"] for push in pushes] == [reminder.id, reminder.id]
    assert {push.topic for push in pushes} == {f"reminder-{reminder.id}"}
