"""On PostgreSQL, a repeated inbound message (Twilio's retry, a replayed request) leaves its
conversation's ``last_message_at`` and ``updated_at`` as they were; a new one moves them, in a
batch too (migration 0040's functions, and ``inbound.store_inbound`` on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select, text

from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import autocommit_connection
from switchboard.common.jobs.catalog import PROCESS_WHATSAPP_WEBHOOK
from switchboard.common.jobs.enqueue import prepare_job
from switchboard.common.models import OutboxMessage, WhatsAppConversation
from switchboard.common.settings import Settings, get_settings
from switchboard.domain.whatsapp.inbound import InboundMessage, store_inbound
from tests.support.factories import TestBusiness, make_business, unique_phone

pytestmark = pytest.mark.integration

_STORE_ONE = text(
    "SELECT * FROM switchboard_store_inbound_whatsapp(:role, :business_id, :contact, :number, "
    ":sid, :body, :job_id, :queue, :actor, :retries, :payload, :now)"
)
_STORE_BATCH = text(
    "SELECT * FROM switchboard_store_inbound_whatsapp_batch(:role, :business_id, :contacts, "
    ":numbers, :sids, :bodies, :job_ids, :payloads, :queue, :actor, :retries, :now)"
)
T0 = utcnow() - timedelta(hours=3)
T1, T2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)


@pytest.fixture
def business(pg: Settings) -> Iterator[TestBusiness]:
    """A business whose outbox rows are removed afterwards (the relay tests publish them all)."""
    created = make_business()
    yield created
    with system_session() as session:
        session.execute(delete(OutboxMessage).where(OutboxMessage.business_id == created.id))


def _sid() -> str:
    return f"SM{unique_phone()[1:]}"


def _store(business: TestBusiness, contact: str, sid: str, now: datetime) -> int | None:
    """Through the one-message function; the new message's id, None for a repeat."""
    job = prepare_job(PROCESS_WHATSAPP_WEBHOOK, business_id=business.id, message_id=0)
    with autocommit_connection() as conn:
        rows = conn.execute(
            _STORE_ONE,
            {
                "role": get_settings().db_app_role,
                "business_id": business.id,
                "contact": contact,
                "number": business.phone_number,
                "sid": sid,
                "body": "Hi",
                "job_id": job.message.message_id,
                "queue": job.message.queue_name,
                "actor": job.message.actor_name,
                "retries": job.max_retries,
                "payload": job.payload,
                "now": now,
            },
        ).all()
    return rows[0][0] if rows else None


def _store_batch(
    business: TestBusiness, items: list[tuple[str, str]], now: datetime
) -> dict[int, int]:
    """``(contact, sid)`` items through the batch function: message id by position stored."""
    jobs = [
        prepare_job(PROCESS_WHATSAPP_WEBHOOK, business_id=business.id, message_id=0) for _ in items
    ]
    with autocommit_connection() as conn:
        rows = conn.execute(
            _STORE_BATCH,
            {
                "role": get_settings().db_app_role,
                "business_id": business.id,
                "contacts": [contact for contact, _ in items],
                "numbers": [business.phone_number] * len(items),
                "sids": [sid for _, sid in items],
                "bodies": ["Hi"] * len(items),
                "job_ids": [job.message.message_id for job in jobs],
                "payloads": [job.payload for job in jobs],
                "queue": jobs[0].message.queue_name,
                "actor": jobs[0].message.actor_name,
                "retries": jobs[0].max_retries,
                "now": now,
            },
        ).all()
    return {position: message_id for position, message_id, *_ in rows}


def _times(business_id: int) -> dict[str, tuple[datetime, datetime]]:
    """Each conversation's ``(last_message_at, updated_at)``, by contact."""
    with tenant_session(business_id) as session:
        rows = session.execute(
            select(
                WhatsAppConversation.contact_number,
                WhatsAppConversation.last_message_at,
                WhatsAppConversation.updated_at,
            )
        ).all()
    return {contact: (last, updated) for contact, last, updated in rows}


def test_a_repeated_message_leaves_the_conversation_and_a_new_one_moves_it(
    business: TestBusiness,
) -> None:
    contact, sid = unique_phone(), _sid()
    assert _store(business, contact, sid, T0) is not None

    assert _store(business, contact, sid, T1) is None  # Twilio retried it
    assert _store_batch(business, [(contact, sid)], T1) == {}  # again, in a batch
    assert _times(business.id) == {contact: (T0, T0)}

    assert _store(business, contact, _sid(), T2) is not None
    assert _times(business.id) == {contact: (T2, T2)}


def test_a_batch_moves_a_conversation_with_a_new_message_not_one_with_repeats_only(
    business: TestBusiness,
) -> None:
    writer, repeater, newcomer = unique_phone(), unique_phone(), unique_phone()
    seen, other = _sid(), _sid()
    _store_batch(business, [(writer, seen), (repeater, other)], T0)

    stored = _store_batch(
        business,
        [(writer, seen), (repeater, other), (writer, _sid()), (newcomer, _sid())],
        T1,
    )

    assert sorted(stored) == [3, 4]
    assert _times(business.id) == {
        writer: (T1, T1),  # a repeat and a new message: moved to the new one's time
        repeater: (T0, T0),  # its repeat only
        newcomer: (T1, T1),
    }


def test_the_store_through_the_orm_leaves_the_conversation_on_a_repeat(
    business: TestBusiness,
) -> None:
    contact, sid = unique_phone(), _sid()
    message = InboundMessage(sid, f"whatsapp:{contact}", f"whatsapp:{business.phone_number}", "")
    assert _store(business, contact, sid, T0) is not None

    assert store_inbound(business.id, message) is None
    assert _times(business.id) == {contact: (T0, T0)}

    before = utcnow()
    assert store_inbound(business.id, replace(message, message_sid=_sid())) is not None
    [(last, updated)] = _times(business.id).values()
    assert last >= before and updated >= before
