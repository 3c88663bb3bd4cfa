"""The WhatsApp webhook on PostgreSQL and RabbitMQ: the one-round-trip store from the loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pika
import pika.exceptions
import psycopg
import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from twilio.request_validator import RequestValidator

from switchboard.api.adapters.whatsapp_inbound import (
    PostgresInboundStore,
    open_postgres_inbound_store,
)
from switchboard.api.app import create_app
from switchboard.common.db import system_session, tenant_session
from switchboard.common.models import Job, OutboxMessage, WhatsAppConversation, WhatsAppMessage
from switchboard.common.settings import Settings
from switchboard.domain.whatsapp.inbound import InboundMessage
from tests.support.factories import make_business, unique_phone
from tests.support.json_logs import JsonLines, json_lines
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
__all__ = ["json_lines"]

PATH = "/webhooks/twilio/whatsapp"


@pytest.fixture
def client(pg_rabbit: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(pg_rabbit)) as test_client:
        yield test_client


def _inbound(to: str, sid: str, body: str = "Hi, is Saturday free?") -> dict[str, str]:
    return {
        "MessageSid": sid,
        "From": f"whatsapp:{unique_phone()}",
        "To": f"whatsapp:{to}",
        "Body": body,
    }


def _signed(settings: Settings, params: dict[str, str]) -> dict[str, str]:
    validator = RequestValidator(settings.twilio_auth_token)
    return {"X-Twilio-Signature": validator.compute_signature(settings.api_base_url + PATH, params)}


def _queued_job_ids(amqp_url: str, queue: str) -> set[str]:
    """Ids of the messages waiting in ``queue`` (looked at, then put back)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        try:
            channel.queue_declare(queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker:  # not declared yet: nothing published
            return set()
        ids, tags = set(), []
        while True:
            method, _, body = channel.basic_get(queue)
            if method is None:
                break
            ids.add(json.loads(body)["message_id"])
            tags.append(method.delivery_tag)
        for tag in tags:
            channel.basic_nack(tag, requeue=True)
        return ids
    finally:
        connection.close()


def test_a_signed_webhook_is_stored_queued_and_published_in_one_transaction(
    client: TestClient, pg_rabbit: Settings
) -> None:
    business = make_business()
    params = _inbound(business.phone_number, f"SM{unique_phone()[1:]}a")

    headers = {**_signed(pg_rabbit, params), "X-Request-ID": "edge-pg-1"}
    response = client.post(PATH, data=params, headers=headers)

    assert response.status_code == 200 and response.text.endswith("<Response></Response>")
    assert isinstance(client.app.state.whatsapp_inbound, PostgresInboundStore)  # type: ignore[attr-defined]
    with tenant_session(business.id) as session:
        [message] = session.execute(select(WhatsAppMessage)).scalars().all()
        [conversation] = session.execute(select(WhatsAppConversation)).scalars().all()
        [job] = session.execute(select(Job)).scalars().all()
    assert (message.direction, message.message_sid, message.body, message.status) == (
        "in",
        params["MessageSid"],
        params["Body"],
        "received",
    )
    assert conversation.contact_number == params["From"].removeprefix("whatsapp:")
    assert message.conversation_id == conversation.id
    assert (job.actor_name, job.queue_name, job.status) == (
        "process_whatsapp_webhook_job",
        "whatsapp",
        "queued",
    )
    payload = json.loads(job.message)
    # Ids and a time (the window's bound: the arrival + 24 h at the latest), nothing else.
    window_open_until_ms = payload["kwargs"].pop("window_open_until_ms")
    assert payload["kwargs"] == {"business_id": business.id, "message_id": message.id}
    arrived_ms = message.created_at.timestamp() * 1000
    assert arrived_ms + 86_400_000 - 60_000 < window_open_until_ms <= arrived_ms + 86_400_000
    assert payload["options"]["request_id"] == "edge-pg-1"  # for the worker's lines, not an arg
    # Published with confirms after the commit, then its outbox row deleted.
    wait_for(lambda: job.id in _queued_job_ids(pg_rabbit.amqp_url, "whatsapp"), what="publish")

    def outbox_row_left() -> bool:
        with system_session() as session:
            query = select(OutboxMessage.id).where(OutboxMessage.job_id == job.id)
            return session.execute(query).first() is not None

    wait_for(lambda: not outbox_row_left(), what="the confirmed outbox row deleted")


def test_twilio_retrying_a_message_sid_stores_and_queues_it_once(
    client: TestClient, pg_rabbit: Settings
) -> None:
    business = make_business()
    params = _inbound(business.phone_number, f"SM{unique_phone()[1:]}b")

    codes = [
        client.post(PATH, data=params, headers=_signed(pg_rabbit, params)).status_code
        for _ in range(3)
    ]

    assert codes == [200, 200, 200]
    with tenant_session(business.id) as session:
        assert len(session.execute(select(WhatsAppMessage)).all()) == 1
        assert len(session.execute(select(Job)).all()) == 1


async def test_the_store_acts_as_the_application_role_and_a_refusal_leaves_nothing(
    pg_rabbit: Settings,
) -> None:
    """Given a role without privileges, the store is refused: it really switches role, and the
    refused transaction leaves no row behind."""
    business = make_business()
    with system_session() as session:
        session.execute(
            text(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sb_no_access')"
                " THEN CREATE ROLE sb_no_access NOLOGIN; END IF; END $$"
            )
        )
    published: list[object] = []
    refused = await open_postgres_inbound_store(
        pg_rabbit.model_copy(update={"db_app_role": "sb_no_access"}), published.extend
    )
    allowed = await open_postgres_inbound_store(pg_rabbit, published.extend)
    message = InboundMessage(
        f"SM{unique_phone()[1:]}c", f"whatsapp:{unique_phone()}", business.phone_number, "Hi"
    )
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await refused.store(business.id, message)
        assert published == []
        with tenant_session(business.id) as session:
            assert session.execute(select(WhatsAppConversation)).all() == []
        # The application role may write the very same message.
        assert await allowed.store(business.id, message) is not None
        assert len(published) == 1
    finally:
        await refused.close()
        await allowed.close()


def test_an_unsigned_or_incomplete_webhook_stores_nothing_and_says_why(
    client: TestClient, pg_rabbit: Settings
) -> None:
    business = make_business()
    params = _inbound(business.phone_number, f"SM{unique_phone()[1:]}d")
    incomplete = {key: value for key, value in params.items() if key != "From"}

    forged = client.post(PATH, data=params, headers={"X-Twilio-Signature": "bm90IGl0"})
    missing = client.post(PATH, data=incomplete, headers=_signed(pg_rabbit, incomplete))
    unknown = {**params, "To": f"whatsapp:{unique_phone()}"}
    nobody = client.post(PATH, data=unknown, headers=_signed(pg_rabbit, unknown))

    # A JSON body does not carry the fields signed: not signed (403). Signed for the URL with
    # no fields, its own fault is the answer (415).
    as_json = client.post(PATH, json=params, headers=_signed(pg_rabbit, params))
    signed_json = client.post(PATH, json=params, headers=_signed(pg_rabbit, {}))

    assert forged.status_code == 403
    assert as_json.status_code == 403
    assert (
        signed_json.status_code == 415 and "x-www-form-urlencoded" in signed_json.json()["detail"]
    )
    assert (missing.status_code, missing.json()) == (
        400,
        {"code": "bad_request", "detail": "missing form field(s): From"},
    )
    assert (nobody.status_code, nobody.json()["detail"]) == (404, "no business answers this number")
    with tenant_session(business.id) as session:
        assert session.execute(select(WhatsAppMessage)).all() == []


def _inserting_transactions(business_id: int, sids: list[str]) -> set[str]:
    """The ids of the transactions that inserted these messages (PostgreSQL's ``xmin``)."""
    with tenant_session(business_id) as session:
        query = text(
            "SELECT CAST(xmin AS text) FROM whatsapp_messages WHERE message_sid = ANY(:sids)"
        )
        return set(session.execute(query, {"sids": sids}).scalars())


#: Bodies a batch carries exactly: quotes, backslashes, braces and commas (array syntax),
#: text beyond ASCII, escapes that are JSON's own, an empty body.
_BODIES = [
    'she said "yes", then {no}',
    "C:\\path\\to\\file \\n is not a newline",
    "línea uno\nlínea dos\t👋 ¿mañana?",
    '\\u0041 is not A; \\"quoted\\"',
    "",
    *(f"message {i}" for i in range(5, 12)),
]


async def test_messages_that_arrive_together_are_stored_in_one_transaction(
    pg_rabbit: Settings,
) -> None:
    """One batch: each request gets its own message's id and exactly its body, a contact
    writing twice has one conversation, a ``MessageSid`` twice in the batch is stored once, one
    job per message."""
    business = make_business()
    published: list[tuple[int, str]] = []
    store = await open_postgres_inbound_store(pg_rabbit, published.extend)
    twice = f"whatsapp:{unique_phone()}"
    messages = [
        InboundMessage(
            f"SM{unique_phone()[1:]}{i}",
            twice if i < 2 else f"whatsapp:{unique_phone()}",
            business.phone_number,
            body,
        )
        for i, body in enumerate(_BODIES)
    ]
    duplicate = messages[5]
    try:
        ids = await asyncio.gather(*(store.store(business.id, m) for m in [*messages, duplicate]))
    finally:
        await store.close()

    *stored, again = ids
    assert again is None  # the second of a MessageSid in the batch: stored once, no new job
    with tenant_session(business.id) as session:
        rows = session.execute(select(WhatsAppMessage)).scalars().all()
        conversations = session.execute(select(WhatsAppConversation)).scalars().all()
        jobs = session.execute(select(Job)).scalars().all()
    by_sid = {row.message_sid: row for row in rows}
    assert len(rows) == 12 and len(conversations) == 11
    for message, message_id in zip(messages, stored, strict=True):
        assert (by_sid[message.message_sid].id, by_sid[message.message_sid].body) == (
            message_id,
            message.body,
        )
    assert (
        by_sid[messages[0].message_sid].conversation_id
        == by_sid[messages[1].message_sid].conversation_id
    )
    assert sorted(json.loads(job.message)["kwargs"]["message_id"] for job in jobs) == sorted(
        row.id for row in rows
    )
    # Handed to the publisher: every job not parked by fair share (how many the business may
    # run at once is the deployment's, as the last worker to start wrote it in the database).
    assert sorted(json.loads(payload)["message_id"] for _, payload in published) == sorted(
        job.id for job in jobs if job.parked_at is None
    )
    assert published
    assert len(_inserting_transactions(business.id, [m.message_sid for m in messages])) == 1


async def test_a_message_postgresql_refuses_fails_alone_and_its_batch_is_stored(
    pg_rabbit: Settings,
) -> None:
    business, other = make_business(), make_business()
    published: list[tuple[int, str]] = []
    store = await open_postgres_inbound_store(pg_rabbit, published.extend)

    def message(body: str) -> InboundMessage:
        return InboundMessage(
            f"SM{unique_phone()[1:]}e", f"whatsapp:{unique_phone()}", business.phone_number, body
        )

    good = [message(f"fine {i}") for i in range(4)]
    bad = message("a NUL byte \x00 PostgreSQL text cannot hold")
    for_other = InboundMessage(
        f"SM{unique_phone()[1:]}f", f"whatsapp:{unique_phone()}", other.phone_number, "hello"
    )
    try:
        results = await asyncio.gather(
            *(store.store(business.id, m) for m in [*good[:2], bad, *good[2:]]),
            store.store(other.id, for_other),
            return_exceptions=True,
        )
    finally:
        await store.close()

    assert isinstance(results[2], psycopg.DataError)
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 2)
    with tenant_session(business.id) as session:
        bodies = set(session.execute(select(WhatsAppMessage.body)).scalars())
    with tenant_session(other.id) as session:
        theirs = session.execute(select(WhatsAppMessage.body)).scalars().all()
    assert bodies == {m.body for m in good}
    assert theirs == ["hello"]  # another business's message: its own batch, its own tenant
    assert len(published) == 5


async def test_the_batch_writer_s_lines_carry_no_request_id_though_a_request_started_it(
    pg_rabbit: Settings, json_lines: JsonLines
) -> None:
    """The writer a request starts writes the batch of many requests: its lines (here, a batch
    PostgreSQL refuses) carry none of their ids, each request's own lines carry its own."""
    business = make_business()
    store = await open_postgres_inbound_store(pg_rabbit, lambda _: None)
    test_log = structlog.get_logger("tests.whatsapp_request")

    async def request(request_id: str, body: str) -> None:
        structlog.contextvars.bind_contextvars(request_id=request_id)  # this task's context
        message = InboundMessage(
            f"SM{unique_phone()[1:]}r", f"whatsapp:{unique_phone()}", business.phone_number, body
        )
        try:
            await store.store(business.id, message)
        except psycopg.DataError:
            pass
        test_log.info("test.request_answered")

    try:  # the first request starts the writer; the second joins its batch
        await asyncio.gather(request("req-first", "hello"), request("req-second", "NUL \x00"))
    finally:
        await store.close()

    lines = json_lines()
    [refused] = [line for line in lines if line["event"] == "whatsapp.batch_refused"]
    assert "request_id" not in refused
    assert (refused["business_id"], refused["messages"], refused["error"]) == (
        business.id,
        2,
        "UntranslatableCharacter",
    )
    answered = [line["request_id"] for line in lines if line["event"] == "test.request_answered"]
    assert sorted(answered) == ["req-first", "req-second"]
