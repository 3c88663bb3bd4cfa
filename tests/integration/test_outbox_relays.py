"""Relaying the outbox without a scheduler: the API and each worker publish what is left once
RabbitMQ is back, two relays never publish one row, and every message is processed once."""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from switchboard.common.db import system_session, tenant_session
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.async_outbox import AsyncOutboxPublisher
from switchboard.common.jobs.catalog import ActorSpec
from switchboard.common.models import Job, OutboxMessage
from switchboard.common.settings import Settings
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer, fake_twilio
from tests.support import actors, services
from tests.support.factories import make_business
from tests.support.processes import ServiceProcess, free_port
from tests.support.queues import drain
from tests.support.waiting import wait_for

__all__ = ["fake_twilio"]

WEBHOOK = "/webhooks/twilio/whatsapp"
#: Seconds from RabbitMQ's return within which every stranded outbox row must be published
#: (the test settings relay every 0.2 s rows older than 0.5 s).
RELAYED_WITHIN_S = 10.0


def _strand(business_id: int, spec: ActorSpec = actors.NOOP) -> str:
    """A job whose publisher died between its commit and its publish."""
    with tenant_session(business_id) as session:
        ref = enqueue(spec, business_id=business_id)
        session.info.pop("outbox_pending")
    return ref.job_id


def _outbox_rows(business_id: int) -> int:
    with system_session() as session:
        query = select(func.count()).select_from(OutboxMessage)
        return int(session.scalar(query.where(OutboxMessage.business_id == business_id)) or 0)


def _statuses(business_id: int, actor: str) -> collections.Counter[str]:
    with tenant_session(business_id) as session:
        query = select(Job.status).where(Job.business_id == business_id, Job.actor_name == actor)
        return collections.Counter(session.execute(query).scalars())


async def test_two_api_relays_at_once_publish_each_stranded_row_once(pg_rabbit: Settings) -> None:
    business = make_business()
    queue = f"test_relay_{uuid.uuid4().hex[:8]}"
    spec = ActorSpec("test_relay_probe_job", queue, timeout_s=30, max_retries=0)
    stranded = {_strand(business.id, spec) for _ in range(40)}
    relays = [
        AsyncOutboxPublisher(pg_rabbit.amqp_url, pg_rabbit.effective_database_url) for _ in range(2)
    ]
    for relay in relays:
        await relay.start()
    try:
        counts = await asyncio.gather(*(relay.relay(min_age_s=0) for relay in relays))
    finally:
        for relay in relays:
            await relay.stop()

    assert sum(counts) >= len(stranded)  # other tests' rows may be relayed too
    assert _outbox_rows(business.id) == 0
    published = drain(pg_rabbit.amqp_url, queue)
    assert sorted(m.message_id for m in published) == sorted(stranded)
    assert all(m.options["republished"] is True for m in published)


def _twilio_env(fake: FakeTwilioServer) -> dict[str, str]:
    return {
        "twilio_api_base_url": fake.url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
    }


def _send(api: str, to: str, contact: str) -> int:
    form = {
        "MessageSid": f"SM{uuid.uuid4().hex}",
        "From": f"whatsapp:{contact}",
        "To": f"whatsapp:{to}",
        "Body": "Hi, is Saturday free?",
        "NumMedia": "0",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(api + WEBHOOK, form)
    response = httpx.post(
        api + WEBHOOK, data=form, headers={"X-Twilio-Signature": signature}, timeout=15
    )
    return response.status_code


def _replies(fake: FakeTwilioServer) -> collections.Counter[str]:
    with fake.recording():
        return collections.Counter(m["To"].removeprefix("whatsapp:") for m in fake.messages)


def _assert_answered_once(fake: FakeTwilioServer, business_id: int, contacts: list[str]) -> None:
    """Every contact got one reply, no more, and each message's job succeeded once."""
    wait_for(lambda: all(_replies(fake)[c] for c in contacts), timeout=40, what="a reply to each")
    time.sleep(1.0)  # a duplicate would have had time to be sent
    replies = _replies(fake)
    assert [replies[c] for c in contacts] == [1] * len(contacts)
    statuses = _statuses(business_id, "process_whatsapp_webhook_job")
    assert statuses == {"succeeded": len(contacts)}


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_with_no_scheduler_the_api_relays_the_webhooks_it_stored_while_rabbitmq_was_down(
    pg_rabbit: Settings,
    start_service: Callable[..., ServiceProcess],
    fake_twilio: FakeTwilioServer,
) -> None:
    business = make_business()
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    env = _twilio_env(fake_twilio)
    start_service("api", "--host", "127.0.0.1", "--port", str(port), api_base_url=api, **env)
    start_service("worker", "--processes", "1", "--threads", "4", **env)
    wait_for(lambda: _up(api), timeout=60, what="the API")
    first = uuid.uuid4().int % 9_000_000
    contacts = [f"+1444{first + n:07d}" for n in range(25)]
    before, during = contacts[:5], contacts[5:]
    assert [_send(api, business.phone_number, c) for c in before] == [200] * 5
    wait_for(lambda: all(_replies(fake_twilio)[c] for c in before), timeout=30, what="replies")

    try:
        services.rabbit_stop()
        assert [_send(api, business.phone_number, c) for c in during] == [200] * len(during)
        time.sleep(1.0)  # the API's publishes and relays fail meanwhile
        assert _outbox_rows(business.id) == len(during)
    finally:
        services.rabbit_start()
    back = time.monotonic()

    wait_for(
        lambda: _outbox_rows(business.id) == 0,
        timeout=RELAYED_WITHIN_S,
        what="the API to relay its outbox rows",
    )
    print(f"relayed {time.monotonic() - back:.1f} s after RabbitMQ was back")
    _assert_answered_once(fake_twilio, business.id, contacts)


def test_with_no_scheduler_and_no_api_an_idle_worker_relays_what_a_dead_publisher_left(
    pg_rabbit: Settings, start_worker: Callable[..., ServiceProcess]
) -> None:
    business = make_business()
    start_worker("test_jobs")
    warm_up = enqueue(actors.NOOP, business_id=business.id)
    wait_for(
        lambda: _statuses(business.id, actors.NOOP.name)["succeeded"] == 1,
        timeout=60,
        what=f"the worker to run {warm_up.job_id}",
    )
    time.sleep(1.0)  # idle: nothing is delivered to the worker from here on

    for _ in range(3):
        _strand(business.id)

    wait_for(
        lambda: _outbox_rows(business.id) == 0,
        timeout=RELAYED_WITHIN_S,
        what="the idle worker to relay the rows",
    )
    wait_for(
        lambda: _statuses(business.id, actors.NOOP.name)["succeeded"] == 4,
        timeout=30,
        what="the relayed jobs to run",
    )


def test_an_api_killed_before_deleting_what_it_published_leaves_rows_answered_once(
    pg_rabbit: Settings,
    start_service: Callable[..., ServiceProcess],
    fake_twilio: FakeTwilioServer,
) -> None:
    """The API deletes confirmed outbox rows together, a moment after their publish: killed in
    that moment, it leaves rows whose messages RabbitMQ already has. The worker's relay
    publishes them again, and the ledger skips the copies: each message answered once."""
    business = make_business()
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    # Relays take rows older than 2 s: the API's deletes gather for 0.25 s (a quarter of it,
    # at most DELETE_LINGER_S), the moment this test kills it in. Fair share parks jobs
    # beyond the business's limit without an outbox row: here none is parked.
    env = {
        **_twilio_env(fake_twilio),
        "outbox_relay_min_age_s": "2",
        "job_business_concurrency": "32",
    }
    killed = start_service(
        "api", "--host", "127.0.0.1", "--port", str(port), api_base_url=api, **env
    )
    start_service("worker", "--processes", "1", "--threads", "4", **env)
    wait_for(lambda: _up(api), timeout=60, what="the API")
    first = uuid.uuid4().int % 9_000_000
    warm, *contacts = [f"+1444{first + n:07d}" for n in range(9)]
    assert _send(api, business.phone_number, warm) == 200
    wait_for(lambda: _replies(fake_twilio)[warm], timeout=30, what="the first reply")

    with ThreadPoolExecutor(len(contacts)) as pool:
        sent = list(pool.map(lambda c: _send(api, business.phone_number, c), contacts))
    killed.kill()
    assert sent == [200] * len(contacts)
    assert _outbox_rows(business.id) > 0  # killed before it deleted them

    wait_for(
        lambda: _outbox_rows(business.id) == 0,
        timeout=RELAYED_WITHIN_S,
        what="the worker to relay what the killed API left",
    )
    _assert_answered_once(fake_twilio, business.id, [warm, *contacts])
