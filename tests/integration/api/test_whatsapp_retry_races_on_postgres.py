"""Twilio retrying a WhatsApp webhook while the first request's transaction is still open, on
PostgreSQL: the retry waits for it, then stores nothing if it committed (and answers 200), or
stores the message if it rolled back (nothing lost); one message and one reply job either way.

The first request is a test connection's call of migration 0040's function, left uncommitted;
the retry goes through the webhook (its PostgreSQL store, or the SQLAlchemy one) or the batch
function, and is awaited on ``pg_stat_activity`` (a backend blocked by the first), never slept
for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, text
from twilio.request_validator import RequestValidator

from switchboard.api.adapters.whatsapp_inbound import (
    PostgresInboundStore,
    open_postgres_inbound_store,
)
from switchboard.api.app import create_app
from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.jobs.catalog import PROCESS_WHATSAPP_WEBHOOK
from switchboard.common.jobs.enqueue import prepare_job
from switchboard.common.models import Job, OutboxMessage, WhatsAppMessage
from switchboard.common.settings import Settings, get_settings
from switchboard.domain.whatsapp.inbound import InboundMessage
from switchboard.domain.whatsapp.inbound_store import ThreadedInboundStore
from tests.support.factories import TestBusiness, make_business, unique_phone
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

PATH = "/webhooks/twilio/whatsapp"
_STORE_ONE = (
    "SELECT * FROM switchboard_store_inbound_whatsapp(%s, %s, %s, %s, %s, %s, %s, %s, %s, "
    "%s, %s, %s)"
)

#: A retry: given the business and the message's form, what Twilio's request got (a status),
#: or the message id the store returned.
Retry = Callable[[TestBusiness, dict[str, str]], object]


@pytest.fixture(params=["pg_rabbit", "pg"], ids=["postgres_store", "orm_store"])
def settings(request: pytest.FixtureRequest) -> Settings:
    """PostgreSQL and RabbitMQ (the webhook's PostgreSQL store), or no broker (its SQLAlchemy
    store)."""
    configured: Settings = request.getfixturevalue(request.param)
    return configured


@pytest.fixture
def business(settings: Settings) -> Iterator[TestBusiness]:
    """A business whose outbox rows are removed afterwards (the relay tests publish them all)."""
    created = make_business()
    yield created
    with system_session() as session:
        session.execute(delete(OutboxMessage).where(OutboxMessage.business_id == created.id))


def _form(business: TestBusiness) -> dict[str, str]:
    return {
        "MessageSid": f"SM{unique_phone()[1:]}",
        "From": f"whatsapp:{unique_phone()}",
        "To": f"whatsapp:{business.phone_number}",
        "Body": "Is Saturday free?",
    }


def _message(form: dict[str, str]) -> InboundMessage:
    return InboundMessage(form["MessageSid"], form["From"], form["To"], form["Body"])


def _begin_first(business: TestBusiness, form: dict[str, str]) -> psycopg.Connection[object]:
    """The first request's store, run in a transaction left open: its connection."""
    dsn = get_settings().effective_database_url.replace("+psycopg", "")
    conn: psycopg.Connection[object] = psycopg.connect(dsn)  # a transaction per statement
    job = prepare_job(PROCESS_WHATSAPP_WEBHOOK, business_id=business.id, message_id=0)
    rows = conn.execute(
        _STORE_ONE,
        (
            get_settings().db_app_role,
            business.id,
            form["From"].removeprefix("whatsapp:"),
            business.phone_number,
            form["MessageSid"],
            form["Body"],
            job.message.message_id,
            job.message.queue_name,
            job.message.actor_name,
            job.max_retries,
            job.payload,
            utcnow(),
        ),
    ).fetchall()
    assert len(rows) == 1  # stored, and its job queued: not committed yet
    return conn


def _blocked_by(pid: int) -> list[str]:
    """The statements of this database's backends waiting on a lock the backend ``pid`` holds."""
    with system_session() as session:
        return list(
            session.execute(
                text(
                    "SELECT query FROM pg_stat_activity "
                    "WHERE datname = current_database() AND :pid = ANY(pg_blocking_pids(pid))"
                ),
                {"pid": pid},
            ).scalars()
        )


def _until_blocked(first: psycopg.Connection[object], retry: Future[object]) -> str:
    """Until the retry waits on the first's transaction: the statement it waits in."""
    wait_for(
        lambda: retry.done() or _blocked_by(first.info.backend_pid),
        what="the retry waiting on the first",
    )
    assert not retry.done(), f"the retry did not wait for the first: {retry.result()}"
    [statement] = _blocked_by(first.info.backend_pid)
    return statement


def _stored(business: TestBusiness, sid: str) -> tuple[list[int], int]:
    """The message ids stored for ``sid``, and how many jobs answer them."""
    with tenant_session(business.id) as session:
        ids = list(
            session.execute(
                select(WhatsAppMessage.id).where(WhatsAppMessage.message_sid == sid)
            ).scalars()
        )
        jobs = session.execute(select(Job.message)).scalars().all()
    answering = [job for job in jobs if json.loads(job)["kwargs"]["message_id"] in ids]
    return ids, len(answering)


def _signed(settings: Settings, form: dict[str, str]) -> dict[str, str]:
    validator = RequestValidator(settings.twilio_auth_token)
    return {"X-Twilio-Signature": validator.compute_signature(settings.api_base_url + PATH, form)}


@pytest.fixture
def retry_through_webhook(settings: Settings) -> Iterator[Retry]:
    """The retry as Twilio sends it, to the app."""
    with TestClient(create_app(settings)) as client:
        store = client.app.state.whatsapp_inbound  # type: ignore[attr-defined]
        assert type(store) is (PostgresInboundStore if settings.amqp_url else ThreadedInboundStore)

        def retry(business: TestBusiness, form: dict[str, str]) -> object:
            return client.post(PATH, data=form, headers=_signed(settings, form)).status_code

        yield retry


def _retry_in_a_batch(settings: Settings) -> Retry:
    """The retry in one batch with another contact's new message (the store's batch function)."""

    def retry(business: TestBusiness, form: dict[str, str]) -> object:
        other = _message(_form(business))

        async def both() -> list[int | None]:
            store = await open_postgres_inbound_store(settings, lambda _: None)
            try:
                return list(
                    await asyncio.gather(
                        store.store(business.id, _message(form)), store.store(business.id, other)
                    )
                )
            finally:
                await store.close()

        again, new = asyncio.run(both())
        assert new is not None
        return again

    return retry


def _race(first_commits: bool, business: TestBusiness, form: dict[str, str], retry: Retry) -> Any:
    """The first store left open, the retry sent and awaited until it waits on the first, then
    the first committed or rolled back: what the retry got, and the statement it waited in."""
    first = _begin_first(business, form)
    try:
        with ThreadPoolExecutor(1) as pool:
            retried = pool.submit(retry, business, form)
            statement = _until_blocked(first, retried)
            if first_commits:
                first.commit()
            else:
                first.rollback()
            return retried.result(timeout=30), statement
    finally:
        first.close()


#: Whether the first commits or rolls back; whether the contact wrote before (the retry then
#: waits on the conversation's row, else on the first's insert of it).
RACES = pytest.mark.parametrize(
    ("first_commits", "known_contact"),
    [(True, False), (False, False), (True, True), (False, True)],
    ids=["commits", "rolls_back", "commits-known_contact", "rolls_back-known_contact"],
)


def _form_of(business: TestBusiness, known_contact: bool) -> dict[str, str]:
    form = _form(business)
    if known_contact:  # an earlier message of the contact's, stored
        _begin_first(business, {**form, "MessageSid": f"SM{unique_phone()[1:]}"}).commit()
    return form


@RACES
def test_a_retry_waits_for_the_open_first_then_stores_once(
    business: TestBusiness, retry_through_webhook: Retry, first_commits: bool, known_contact: bool
) -> None:
    """Twilio gets 200 for the retry either way; one message and one reply job."""
    form = _form_of(business, known_contact)

    status, _ = _race(first_commits, business, form, retry_through_webhook)

    assert status == 200
    ids, jobs = _stored(business, form["MessageSid"])
    assert (len(ids), jobs) == (1, 1)


@RACES
@pytest.mark.parametrize("settings", ["pg_rabbit"], ids=["postgres_store"], indirect=True)
def test_a_retry_in_a_batch_waits_for_the_open_first_then_stores_once(
    business: TestBusiness, settings: Settings, first_commits: bool, known_contact: bool
) -> None:
    """The batch's other message is stored; the retry is stored only if the first was not."""
    form = _form_of(business, known_contact)

    stored, statement = _race(first_commits, business, form, _retry_in_a_batch(settings))

    assert "switchboard_store_inbound_whatsapp_batch(" in statement
    ids, jobs = _stored(business, form["MessageSid"])
    assert (len(ids), jobs) == (1, 1)
    assert stored == (None if first_commits else ids[0])
