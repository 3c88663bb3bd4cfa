"""Outgoing webhooks (signed, logged per attempt, SSRF-guarded) and Web Push with reminders."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import dramatiq
import pytest
from sqlalchemy import delete, func, select, update

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.events import RecordingReady
from switchboard.common.integrations.push import MAX_PAYLOAD_BYTES
from switchboard.common.models import (
    Job,
    PushSubscription,
    Reminder,
    WebhookDelivery,
    WebhookEndpoint,
)
from switchboard.common.settings import Settings
from switchboard.domain.calls.followups import enqueue_follow_ups
from switchboard.domain.notifications.reminders import update_reminder
from switchboard.domain.webhooks.delivery import UNKNOWN_OUTCOME
from switchboard.domain.webhooks.endpoints import QueuedTest, send_test
from tests.fakes.flooding_receiver import FloodingReceiver
from tests.fakes.web_push import FakePushService
from tests.fakes.webhook_receiver import SECRET, FakeWebhookReceiver
from tests.unit.worker.jobs import finished, jobs_of, run
from tests.unit.worker.world import World, make_world


def _deliveries(business_id: int, event_id: str) -> list[tuple[int, str, int | None]]:
    with tenant_session(business_id) as session:
        rows = session.execute(
            select(WebhookDelivery.attempt, WebhookDelivery.status, WebhookDelivery.response_status)
            .where(WebhookDelivery.event_id == event_id)
            .order_by(WebhookDelivery.id)
        ).all()
    return [tuple(row) for row in rows]


def _only_endpoint(world: World, url: str, kind: str) -> int:
    with tenant_session(world.id) as session:
        session.execute(update(WebhookEndpoint).values(active=False))
        endpoint = session.get(WebhookEndpoint, world.n8n_endpoint_id)
        assert endpoint is not None
        endpoint.url, endpoint.kind, endpoint.secret, endpoint.active = url, kind, SECRET, True
        endpoint.events = ["recording.ready"]
    return world.n8n_endpoint_id


def test_a_call_event_reaches_n8n_signed_after_retries_with_one_log_row_per_attempt(
    worker: dramatiq.Worker, webhook_receiver: FakeWebhookReceiver
) -> None:
    world = make_world()
    _only_endpoint(world, webhook_receiver.url_for("n8n"), "n8n")
    webhook_receiver.fail_next(2)
    event = RecordingReady(
        business_id=world.id,
        call_sid=world.call_sid,
        recording_sid=world.recording_sid,
        recording_url="https://api.twilio.com/x",
    )

    enqueue_follow_ups(event)
    enqueue_follow_ups(event)

    [job] = jobs_of(world.id, "send_webhook_to_n8n_job")
    assert set(json.loads(job.message)["kwargs"]) == {"business_id", "delivery_id"}
    assert finished(world.id, job.id).status == "succeeded"
    assert _deliveries(world.id, event.event_id) == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "delivered", 200),
    ]
    attempts = webhook_receiver.received
    assert [hook.answered for hook in attempts] == [500, 500, 200]
    assert all(hook.signature_valid for hook in attempts)
    assert {hook.body for hook in attempts} == {attempts[0].body}  # each retry sends the same
    assert {hook.headers["X-Switchboard-Delivery"] for hook in attempts} == {event.event_id}
    assert attempts[-1].json() == event.model_dump(mode="json")


def test_an_attempt_whose_answer_was_never_written_is_logged_unknown_and_sent_again(
    worker: dramatiq.Worker, webhook_receiver: FakeWebhookReceiver
) -> None:
    """An attempt is written ``pending`` with its number before it is sent; one its worker
    never wrote the answer of is logged as unknown by the next, which sends the same event."""
    world = make_world()
    endpoint_id = _only_endpoint(world, webhook_receiver.url_for("generic"), "generic")
    queued = send_test(world.id, endpoint_id)
    assert finished(world.id, queued.job_id).status == "succeeded"
    with tenant_session(world.id) as session:  # as if its worker had died mid-request
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.event_id == queued.event_id)
            .values(status="pending", response_status=None, delivered_at=None)
        )

    row_id = _row(world, queued)
    again = run("send_webhook_with_retry_job", business_id=world.id, delivery_id=row_id)

    assert again.status == "succeeded"
    assert _deliveries(world.id, queued.event_id) == [(1, "failed", None), (2, "delivered", 200)]
    with tenant_session(world.id) as session:
        errors = session.execute(
            select(WebhookDelivery.error)
            .where(WebhookDelivery.event_id == queued.event_id)
            .order_by(WebhookDelivery.id)
        ).scalars()
        assert list(errors) == [UNKNOWN_OUTCOME, None]
    first, second = webhook_receiver.received
    assert first.body == second.body
    assert first.headers["X-Switchboard-Delivery"] == second.headers["X-Switchboard-Delivery"]


def _row(world: World, queued: QueuedTest) -> int:
    with tenant_session(world.id) as session:
        return int(
            session.execute(
                select(func.min(WebhookDelivery.id)).where(
                    WebhookDelivery.event_id == queued.event_id
                )
            ).scalar_one()
        )


def test_a_test_delivery_is_stored_pending_with_its_body_and_its_job_gets_the_row_s_id(
    jobs_env: Settings,
) -> None:
    world = make_world()

    queued = send_test(world.id, world.generic_endpoint_id)

    with tenant_session(world.id) as session:
        [stored] = session.execute(
            select(WebhookDelivery).where(WebhookDelivery.event_id == queued.event_id)
        ).scalars()
        job = session.get(Job, queued.job_id)
    assert (stored.endpoint_id, stored.status, stored.attempt) == (
        world.generic_endpoint_id,
        "pending",
        0,
    )
    assert stored.payload["type"] == "webhook.test" and stored.payload["id"] == queued.event_id
    # Its time is written as a real event's are (``occurred_at``: UTC, ``Z``).
    created_at = stored.payload["created_at"]
    assert created_at.endswith("Z") and datetime.fromisoformat(created_at).tzinfo is not None
    assert job is not None
    assert json.loads(job.message)["kwargs"] == {"business_id": world.id, "delivery_id": stored.id}


def test_a_delivery_to_an_inactive_endpoint_is_skipped_and_to_an_active_one_sent(
    worker: dramatiq.Worker, webhook_receiver: FakeWebhookReceiver
) -> None:
    world = make_world()
    endpoint_id = _only_endpoint(world, webhook_receiver.url_for("generic"), "generic")
    with tenant_session(world.id) as session:
        session.execute(update(WebhookEndpoint).values(active=False))

    skipped = send_test(world.id, endpoint_id)
    assert finished(world.id, skipped.job_id).status == "succeeded"
    assert _deliveries(world.id, skipped.event_id) == [(0, "skipped", None)]

    with tenant_session(world.id) as session:
        session.execute(update(WebhookEndpoint).values(active=True))
    sent = send_test(world.id, endpoint_id)
    assert finished(world.id, sent.job_id).status == "succeeded"
    assert _deliveries(world.id, sent.event_id) == [(1, "delivered", 200)]
    [hook] = webhook_receiver.received
    assert hook.signature_valid and hook.json()["id"] == sent.event_id


def test_a_webhook_to_a_private_address_is_refused_and_logged(worker: dramatiq.Worker) -> None:
    world = make_world()
    endpoint_id = _only_endpoint(world, "http://10.1.2.3/hook", "generic")

    assert endpoint_id == world.n8n_endpoint_id

    job = run(
        "send_webhook_with_retry_job", business_id=world.id, delivery_id=world.n8n_delivery_id
    )

    assert (job.status, job.attempts) == ("failed", 1)
    assert _deliveries(world.id, f"ev-world-{endpoint_id}") == [(1, "refused", None)]


def test_a_receiver_answering_an_endless_body_costs_the_worker_an_excerpt(
    worker: dramatiq.Worker,
) -> None:
    world = make_world()
    with FloodingReceiver.running() as receiver:
        endpoint_id = _only_endpoint(world, f"{receiver.url}/hook", "generic")

        sent = send_test(world.id, endpoint_id)

        assert finished(world.id, sent.job_id).status == "succeeded"
        assert _deliveries(world.id, sent.event_id) == [(1, "delivered", 200)]
        receiver.wait_for(lambda: receiver.ended)
        assert receiver.written < receiver.size // 2


def test_a_push_reaches_the_browser_and_a_gone_subscription_is_removed(
    worker: dramatiq.Worker, fake_push_service: FakePushService
) -> None:
    browser = fake_push_service.subscribe()
    info = browser.as_subscription_info()
    world = make_world(push_endpoint=info["endpoint"])
    with tenant_session(world.id) as session:
        subscription = session.get(PushSubscription, world.subscription_id)
        assert subscription is not None
        subscription.p256dh, subscription.auth = info["keys"]["p256dh"], info["keys"]["auth"]

        reminder = session.get(Reminder, world.reminder_id)
        assert reminder is not None
        reminder.title = "New lead: call back"  # the text is read when the push is sent

    sent = run(
        "send_push_notification_job",
        business_id=world.id,
        subscription_id=world.subscription_id,
        reminder_id=world.reminder_id,
    )
    fake_push_service.mark_gone(browser)
    gone = run(
        "send_push_notification_job",
        business_id=world.id,
        subscription_id=world.subscription_id,
        reminder_id=world.reminder_id,
    )

    assert (sent.status, gone.status) == ("succeeded", "succeeded")
    assert [push.json() for push in fake_push_service.received] == [
        {
            "type": "reminder",
            "reminder_id": world.reminder_id,
            "title": "New lead: call back",
            "lead_id": world.lead_id,
        }
    ]
    # A second push of the reminder (a redelivery) replaces one the service still holds.
    assert [push.topic for push in fake_push_service.received] == [f"reminder-{world.reminder_id}"]
    with tenant_session(world.id) as session:
        assert session.execute(select(func.count()).select_from(PushSubscription)).scalar() == 0


def test_a_reminder_s_long_note_is_pushed_as_its_body_shortened_to_fit(
    worker: dramatiq.Worker, fake_push_service: FakePushService
) -> None:
    browser = fake_push_service.subscribe()
    info = browser.as_subscription_info()
    world = make_world(push_endpoint=info["endpoint"])
    note = "Ask about the 😀 offer. " * 400  # 9,600 characters, 11,200 bytes
    with tenant_session(world.id) as session:
        subscription = session.get(PushSubscription, world.subscription_id)
        assert subscription is not None
        subscription.p256dh, subscription.auth = info["keys"]["p256dh"], info["keys"]["auth"]
        reminder = session.get(Reminder, world.reminder_id)
        assert reminder is not None
        reminder.title, reminder.note = "Émile 😀" * 25, note

    job = run(
        "send_push_notification_job",
        business_id=world.id,
        subscription_id=world.subscription_id,
        reminder_id=world.reminder_id,
    )

    assert job.status == "succeeded"
    [push] = fake_push_service.received
    assert 3000 < len(push.payload) <= MAX_PAYLOAD_BYTES
    body = push.json()
    assert body["title"] == "Émile 😀" * 25
    assert body["body"].endswith("…") and note.startswith(body["body"][:-1])


def test_a_push_the_service_took_but_answered_500_is_pushed_again_under_its_topic(
    worker: dramatiq.Worker, fake_push_service: FakePushService
) -> None:
    """At least once (docs/reliability.md): Web Push cannot be asked what it took, so the retry
    pushes again; the same ``Topic`` replaces the first while the service still holds it."""
    browser = fake_push_service.subscribe()
    info = browser.as_subscription_info()
    world = make_world(push_endpoint=info["endpoint"])
    with tenant_session(world.id) as session:
        subscription = session.get(PushSubscription, world.subscription_id)
        assert subscription is not None
        subscription.p256dh, subscription.auth = info["keys"]["p256dh"], info["keys"]["auth"]
    fake_push_service.lose_answer_next(status=500)

    job = run(
        "send_push_notification_job",
        business_id=world.id,
        subscription_id=world.subscription_id,
        reminder_id=world.reminder_id,
    )

    assert (job.status, job.attempts) == ("succeeded", 2)
    first, second = fake_push_service.received
    assert first.payload == second.payload
    assert first.topic == second.topic == f"reminder-{world.reminder_id}"


def test_a_push_rate_limited_with_retry_after_is_tried_again_no_sooner_than_asked(
    worker: dramatiq.Worker, fake_push_service: FakePushService
) -> None:
    """A 429's ``Retry-After`` (3 s) outlasts the job's first back-off (1-2 s): it is obeyed."""
    browser = fake_push_service.subscribe()
    info = browser.as_subscription_info()
    world = make_world(push_endpoint=info["endpoint"])
    with tenant_session(world.id) as session:
        subscription = session.get(PushSubscription, world.subscription_id)
        assert subscription is not None
        subscription.p256dh, subscription.auth = info["keys"]["p256dh"], info["keys"]["auth"]
    fake_push_service.throttle_next(retry_after="3")

    job = run(
        "send_push_notification_job",
        business_id=world.id,
        subscription_id=world.subscription_id,
        reminder_id=world.reminder_id,
    )

    assert (job.status, job.attempts) == ("succeeded", 2)
    [throttled] = fake_push_service.throttled
    [push] = fake_push_service.received
    assert push.at - throttled >= 3


@pytest.mark.parametrize(
    "change",
    [{"due_at": "later"}, {"status": "done"}, {"status": "cancelled"}],
    ids=["snoozed", "done", "cancelled"],
)
def test_a_reminder_snoozed_or_closed_after_its_push_was_queued_is_not_pushed(
    worker: dramatiq.Worker, fake_push_service: FakePushService, change: dict[str, object]
) -> None:
    browser = fake_push_service.subscribe()
    info = browser.as_subscription_info()
    world = make_world(push_endpoint=info["endpoint"])
    with tenant_session(world.id) as session:
        subscription = session.get(PushSubscription, world.subscription_id)
        assert subscription is not None
        subscription.p256dh, subscription.auth = info["keys"]["p256dh"], info["keys"]["auth"]
        reminder = session.get(Reminder, world.reminder_id)
        assert reminder is not None
        reminder.status = "sent"  # as the sweep leaves it when it queues the push
    if change.get("due_at") == "later":
        change = {"due_at": utcnow() + timedelta(hours=1)}
    update_reminder(world.id, world.reminder_id, change)

    job = run(
        "send_push_notification_job",
        business_id=world.id,
        subscription_id=world.subscription_id,
        reminder_id=world.reminder_id,
    )

    assert job.status == "succeeded"
    assert fake_push_service.received == []


def test_a_due_reminder_is_pushed_once(
    worker: dramatiq.Worker, fake_push_service: FakePushService
) -> None:
    browser = fake_push_service.subscribe()
    info = browser.as_subscription_info()
    world = make_world(push_endpoint=info["endpoint"])
    with tenant_session(world.id) as session:
        subscription = session.get(PushSubscription, world.subscription_id)
        assert subscription is not None
        subscription.p256dh, subscription.auth = info["keys"]["p256dh"], info["keys"]["auth"]

    assert run("schedule_reminders_job", business_id=world.id).status == "succeeded"
    assert run("schedule_reminders_job", business_id=world.id).status == "succeeded"

    fake_push_service.wait_for(lambda: fake_push_service.received, timeout=20)
    [push_job] = jobs_of(world.id, "send_push_notification_job")
    done = finished(world.id, push_job.id)
    assert done.status == "succeeded"
    # The payload was kept only until the job succeeded (it named ids, never the push's text).
    assert done.message == ""
    assert [push.json()["title"] for push in fake_push_service.received] == ["Call Dana back"]
    with tenant_session(world.id) as session:
        reminder = session.get(Reminder, world.reminder_id)
    assert reminder is not None and reminder.status == "sent"


def test_a_reminder_due_with_no_browser_subscribed_is_unheard_once_and_a_snooze_revives_it(
    worker: dramatiq.Worker,
) -> None:
    world = make_world()
    with tenant_session(world.id) as session:
        session.execute(delete(PushSubscription))

    assert run("schedule_reminders_job", business_id=world.id).status == "succeeded"
    assert run("schedule_reminders_job", business_id=world.id).status == "succeeded"

    with tenant_session(world.id) as session:
        reminder = session.get(Reminder, world.reminder_id)
    assert reminder is not None and (reminder.status, reminder.sent_at) == ("unheard", None)
    assert jobs_of(world.id, "send_push_notification_job") == []
    snoozed = update_reminder(world.id, world.reminder_id, {"due_at": utcnow()})
    assert snoozed.status == "pending"


def test_a_gone_browser_is_dropped_and_the_reminder_s_other_browsers_still_get_it(
    worker: dramatiq.Worker, fake_push_service: FakePushService
) -> None:
    gone, live = fake_push_service.subscribe(), fake_push_service.subscribe()
    gone_info, live_info = gone.as_subscription_info(), live.as_subscription_info()
    world = make_world(push_endpoint=gone_info["endpoint"])
    with tenant_session(world.id) as session:
        subscription = session.get(PushSubscription, world.subscription_id)
        assert subscription is not None
        subscription.p256dh, subscription.auth = gone_info["keys"].values()
        session.add(
            PushSubscription(
                business_id=world.id,
                api_key_id=world.business.api_key_id,
                endpoint=live_info["endpoint"],
                p256dh=live_info["keys"]["p256dh"],
                auth=live_info["keys"]["auth"],
            )
        )
    fake_push_service.mark_gone(gone, 410)

    assert run("schedule_reminders_job", business_id=world.id).status == "succeeded"
    jobs = jobs_of(world.id, "send_push_notification_job")
    assert [finished(world.id, job.id).status for job in jobs] == ["succeeded"] * 2
    update_reminder(world.id, world.reminder_id, {"due_at": utcnow()})  # a snooze: due again
    assert run("schedule_reminders_job", business_id=world.id).status == "succeeded"
    fake_push_service.wait_for(lambda: len(fake_push_service.received) == 2, timeout=20)

    assert {push.endpoint for push in fake_push_service.received} == {live.endpoint}
    assert len(jobs_of(world.id, "send_push_notification_job")) == 3  # none to the gone one
    with tenant_session(world.id) as session:
        endpoints = session.execute(select(PushSubscription.endpoint)).scalars().all()
    assert endpoints == [live.endpoint]


def test_a_reminder_moved_on_after_its_push_is_pushed_again_at_its_new_time(
    worker: dramatiq.Worker, fake_push_service: FakePushService
) -> None:
    """Snoozing: a sent reminder given a new due time (PATCH ``due_at``) is pending again, and
    its push at the new time is a new job, not the first one's key seen again."""
    browser = fake_push_service.subscribe()
    info = browser.as_subscription_info()
    world = make_world(push_endpoint=info["endpoint"])
    with tenant_session(world.id) as session:
        subscription = session.get(PushSubscription, world.subscription_id)
        assert subscription is not None
        subscription.p256dh, subscription.auth = info["keys"]["p256dh"], info["keys"]["auth"]
    assert run("schedule_reminders_job", business_id=world.id).status == "succeeded"
    fake_push_service.wait_for(lambda: len(fake_push_service.received) == 1, timeout=20)

    snoozed = update_reminder(world.id, world.reminder_id, {"due_at": utcnow()})
    assert snoozed.status == "pending"
    assert run("schedule_reminders_job", business_id=world.id).status == "succeeded"

    fake_push_service.wait_for(lambda: len(fake_push_service.received) == 2, timeout=20)
    assert len(jobs_of(world.id, "send_push_notification_job")) == 2
    with tenant_session(world.id) as session:
        reminder = session.get(Reminder, world.reminder_id)
    assert reminder is not None and reminder.status == "sent"
