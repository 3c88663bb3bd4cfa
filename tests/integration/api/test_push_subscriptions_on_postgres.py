"""One browser's push subscription across businesses and their API keys, on PostgreSQL.

Each API key is a member of its business: the browser it registers gets the business's
notifications (a reminder's title, note and lead) while the key is live. The same browser
registered in two businesses is a row in each; re-registered with another key of the same
business, it moves to that key; a key revoked (its holder gone) takes its browsers with it.

Registration, revocation and unsubscribing go through the API; the reminders go through the
in-process worker and the real ``pywebpush`` to the fake push service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from switchboard.api.app import create_app
from switchboard.common.db import tenant_session
from switchboard.common.jobs.broker import get_broker
from switchboard.common.models import PushSubscription
from switchboard.common.settings import Settings
from switchboard.worker.runtime.inprocess import start_worker
from tests.fakes.web_push import FakePushService, fake_push_service
from tests.support.environment import configured
from tests.support.factories import TestBusiness, make_business
from tests.unit.api.rows import auth
from tests.unit.worker.jobs import finished, jobs_of, run

__all__ = ["fake_push_service"]

pytestmark = pytest.mark.integration

PUSH = "/api/v1/push-subscriptions"


@pytest.fixture
def settings(pg_url: str, tmp_path: Path) -> Iterator[Settings]:
    """PostgreSQL, the embedded broker, and pushes let through to the fake on 127.0.0.1."""
    with configured(
        database_url=pg_url, amqp_url="", var_dir=str(tmp_path), webhook_allowlist="127.0.0.1"
    ) as configured_settings:
        yield configured_settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def worker(settings: Settings) -> Iterator[dramatiq.Worker]:
    from switchboard.worker import actors

    broker = get_broker()
    actors.install(broker)
    running = start_worker(broker, threads=4, worker_timeout_ms=50)
    yield running
    running.stop()


class Browser:
    """A browser of the fake push service, as the dashboard hands it to the API."""

    def __init__(self, service: FakePushService) -> None:
        self.service = service
        self.subscription = service.subscribe()
        self.keys = self.subscription.as_subscription_info()["keys"]
        # Its push service's address as the API takes it (https only); the rows are then
        # pointed at the fake, which listens on http://127.0.0.1.
        self.endpoint = f"https://push.example.com/send/{id(self)}"

    def subscribe(self, client: TestClient, api_key: str) -> tuple[int, int]:
        """Register with ``api_key``: (the HTTP status, the subscription's id)."""
        answer = client.post(
            PUSH, json={"endpoint": self.endpoint, "keys": self.keys}, headers=auth(api_key)
        )
        assert answer.status_code in (200, 201), answer.text
        return answer.status_code, answer.json()["id"]

    def point(self, business_id: int, *, at_the_fake: bool) -> None:
        """The business's row of this browser pointed at the fake, or back at its address."""
        there, back = self.subscription.endpoint, self.endpoint
        old, new = (back, there) if at_the_fake else (there, back)
        with tenant_session(business_id) as session:
            session.execute(
                update(PushSubscription)
                .where(
                    PushSubscription.business_id == business_id, PushSubscription.endpoint == old
                )
                .values(endpoint=new)
            )

    def titles(self) -> list[str]:
        """The reminder titles this browser was pushed, in order."""
        return [
            push.json()["title"]
            for push in self.service.received
            if push.endpoint == self.subscription.endpoint
        ]


def _remind(
    client: TestClient, business: TestBusiness, title: str, *browsers: Browser, key: str = ""
) -> None:
    """A reminder of ``business`` (made with ``key``, else its first) due now, and its scan:
    each push job run to its end, the business's rows of ``browsers`` at the fake meanwhile."""
    for browser in browsers:
        browser.point(business.id, at_the_fake=True)
    answer = client.post(
        "/api/v1/reminders",
        json={"title": title, "due_at": "2020-01-01T00:00:00Z"},
        headers=auth(key or business.api_key),
    )
    assert answer.status_code == 201, answer.text
    before = {job.id for job in jobs_of(business.id, "send_push_notification_job")}
    assert run("schedule_reminders_job", business_id=business.id).status == "succeeded"
    for job in jobs_of(business.id, "send_push_notification_job"):
        if job.id not in before:
            finished(business.id, job.id)
    for browser in browsers:
        browser.point(business.id, at_the_fake=False)


def _issue_key(
    client: TestClient, admin: dict[str, str], business: TestBusiness
) -> tuple[int, str]:
    issued = client.post(f"/api/v1/businesses/{business.id}/api-keys", headers=admin).json()
    return issued["id"], issued["api_key"]


def _revoke(client: TestClient, admin: dict[str, str], business_id: int, key_id: int) -> None:
    url = f"/api/v1/businesses/{business_id}/api-keys/{key_id}"
    assert client.delete(url, headers=admin).status_code == 204


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_api_key}"}


def test_one_browser_in_two_businesses_is_a_row_in_each_and_hears_each_one_s_own(
    client: TestClient, worker: dramatiq.Worker, fake_push_service: FakePushService
) -> None:
    a, b = make_business("A"), make_business("B")
    browser = Browser(fake_push_service)
    every = [browser]

    in_a = browser.subscribe(client, a.api_key)
    in_b = browser.subscribe(client, b.api_key)

    assert (in_a[0], in_b[0]) == (201, 201) and in_a[1] != in_b[1]
    for business in (a, b):
        listed = client.get(PUSH, headers=auth(business.api_key)).json()["items"]
        assert [row["id"] for row in listed] == [in_a[1] if business is a else in_b[1]]
    assert client.get(f"{PUSH}/{in_b[1]}", headers=auth(a.api_key)).status_code == 404
    assert client.delete(f"{PUSH}/{in_b[1]}", headers=auth(a.api_key)).status_code == 404
    _remind(client, a, "A: call Jane", *every)
    _remind(client, b, "B: call Joe", *every)
    assert browser.titles() == ["A: call Jane", "B: call Joe"]

    # Logged out of A (the dashboard unsubscribes there): B's row, and B's pushes, stay.
    assert client.delete(f"{PUSH}/{in_a[1]}", headers=auth(a.api_key)).status_code == 204
    _remind(client, a, "A: not to this browser", *every)
    _remind(client, b, "B: still here", *every)
    assert browser.titles() == ["A: call Jane", "B: call Joe", "B: still here"]
    assert [row["id"] for row in client.get(PUSH, headers=auth(b.api_key)).json()["items"]] == [
        in_b[1]
    ]

    # The browser unsubscribed itself: the push service answers 410, and B forgets it.
    fake_push_service.mark_gone(browser.subscription, 410)
    _remind(client, b, "B: gone", *every)
    assert client.get(PUSH, headers=auth(b.api_key)).json()["items"] == []


def test_a_revoked_key_s_browser_hears_nothing_more_of_the_business(
    client: TestClient,
    worker: dramatiq.Worker,
    fake_push_service: FakePushService,
    admin: dict[str, str],
) -> None:
    a, b = make_business("A"), make_business("B")
    leaving = a.api_key_id
    _, staying_key = _issue_key(client, admin, a)
    shared, colleague = Browser(fake_push_service), Browser(fake_push_service)
    every = [shared, colleague]
    shared.subscribe(client, a.api_key)
    shared.subscribe(client, b.api_key)  # the same device, now also signed into B
    colleague.subscribe(client, staying_key)

    _revoke(client, admin, a.id, leaving)  # its holder left A
    _remind(client, a, "A: lead Jane Doe called", *every, key=staying_key)
    _remind(client, b, "B: call Joe", *every)

    assert shared.titles() == ["B: call Joe"]
    assert colleague.titles() == ["A: lead Jane Doe called"]
    listed = client.get(PUSH, headers=auth(staying_key)).json()["items"]
    assert len(listed) == 1  # only the colleague's browser is A's any more


def test_a_browser_registered_again_with_another_key_moves_to_that_key(
    client: TestClient,
    worker: dramatiq.Worker,
    fake_push_service: FakePushService,
    admin: dict[str, str],
) -> None:
    a = make_business("A")
    first_id = a.api_key_id
    second_id, second_key = _issue_key(client, admin, a)
    browser = Browser(fake_push_service)
    every = [browser]

    created = browser.subscribe(client, a.api_key)
    moved = browser.subscribe(client, second_key)  # another member signs in on it

    assert (created[0], moved[0]) == (201, 200) and created[1] == moved[1]
    _revoke(client, admin, a.id, first_id)  # the first member leaves: the browser stays
    _remind(client, a, "A: first", *every, key=second_key)
    _revoke(client, admin, a.id, second_id)  # the second leaves too: it goes
    _, third_key = _issue_key(client, admin, a)
    _remind(client, a, "A: second", *every, key=third_key)

    assert browser.titles() == ["A: first"]
    assert client.get(PUSH, headers=auth(third_key)).json()["items"] == []


def test_a_browser_registered_before_subscriptions_had_keys_is_pushed_once_registered_again(
    client: TestClient, worker: dramatiq.Worker, fake_push_service: FakePushService
) -> None:
    a = make_business("A")
    browser = Browser(fake_push_service)
    _, subscription_id = browser.subscribe(client, a.api_key)
    with tenant_session(a.id) as session:  # as migration 0042 left it: nobody's
        session.execute(
            update(PushSubscription)
            .where(PushSubscription.id == subscription_id)
            .values(api_key_id=None)
        )

    _remind(client, a, "A: to nobody", browser)
    [unheard] = client.get("/api/v1/reminders", headers=auth(a.api_key)).json()["items"]
    browser.point(a.id, at_the_fake=True)
    queued_before = run(  # a push queued for it before the migration
        "send_push_notification_job",
        business_id=a.id,
        subscription_id=subscription_id,
        reminder_id=unheard["id"],
    )
    browser.point(a.id, at_the_fake=False)
    again = browser.subscribe(client, a.api_key)  # the dashboard's next load
    _remind(client, a, "A: to this browser", browser)

    assert unheard["status"] == "unheard" and queued_before.status == "failed"
    assert again == (200, subscription_id)
    assert browser.titles() == ["A: to this browser"]
