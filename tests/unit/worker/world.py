"""A business's data as the services would have written it, for the actor tests."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.base import Base, utcnow
from switchboard.common.models import (
    CallLog,
    CallSession,
    Erasure,
    Lead,
    PushSubscription,
    Recording,
    Reminder,
    WebhookDelivery,
    WebhookEndpoint,
    WhatsAppConversation,
    WhatsAppMessage,
    WhatsAppSession,
)
from switchboard.domain.erasures.requests import phone_hash
from tests.support.factories import TestBusiness, make_business, unique_phone

#: From a random start: tests share databases, and another module's sids (``CA`` + a small
#: number, zero-padded) matched this counter's first ones, so a call was "another business's".
_sids = itertools.count(secrets.randbits(64))
#: Tables a job may change; the ledger, outbox and heartbeats are the job system's own.
DATA_TABLES = [
    table
    for table in Base.metadata.sorted_tables
    if table.name not in ("jobs", "outbox", "worker_heartbeats")
]


def sid(prefix: str) -> str:
    """A Twilio-shaped sid (``CA`` + 32 hex digits)."""
    return f"{prefix}{next(_sids):032x}"


def add(business_id: int, row: Any) -> Any:
    with tenant_session(business_id) as session:
        session.add(row)
        session.flush()
        return row


def snapshot(business_id: int | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every data table, or only one business's (to prove a job changed nothing)."""
    result = {}
    with system_session() as session:
        for table in DATA_TABLES:
            query = select(table)
            if business_id is not None:
                key = table.c.id if table.name == "businesses" else table.c.get("business_id")
                if key is None:
                    continue
                query = query.where(key == business_id)
            result[table.name] = sorted(map(tuple, session.execute(query).all()), key=repr)
    return result


@dataclass
class World:
    """One business with a lead, a call, a recording, a chat, endpoints with a queued delivery
    each, a subscription, a due reminder and a pending erasure of the lead (its job not
    queued)."""

    business: TestBusiness
    lead_id: int
    call_sid: str
    call_log_id: int
    recording_sid: str
    conversation_id: int
    inbound_id: int
    outbound_id: int
    session_id: int
    generic_endpoint_id: int
    n8n_endpoint_id: int
    subscription_id: int
    reminder_id: int
    generic_delivery_id: int
    n8n_delivery_id: int
    erasure_id: int

    @property
    def id(self) -> int:
        return self.business.id


def make_world(
    endpoint_url: str = "https://hooks.example.com/x",
    push_endpoint: str | None = None,
    *,
    phone: str | None = None,
) -> World:
    """A new business's world; its lead, call and chat are ``phone``'s (default: a new one)."""
    business = make_business()
    bid = business.id
    long_ago = utcnow() - timedelta(days=10)
    phone = phone or unique_phone()
    lead = add(bid, Lead(business_id=bid, phone=phone, source="call"))
    call_sid = sid("CA")
    transcript = [{"role": "caller", "text": "Hi, my name is Dana Smith, dana@example.com"}]
    call = add(
        bid,
        CallLog(
            business_id=bid,
            call_sid=call_sid,
            lead_id=lead.id,
            from_number=phone,
            to_number=business.phone_number,
            transcript=transcript,
        ),
    )
    add(bid, CallSession(business_id=bid, call_sid=call_sid, state="active"))
    recording_sid = sid("RE")
    add(
        bid,
        Recording(
            business_id=bid,
            recording_sid=recording_sid,
            call_sid=call_sid,
            status="transcribed",
            created_at=long_ago,
        ),
    )
    conversation = add(
        bid,
        WhatsAppConversation(
            business_id=bid,
            lead_id=lead.id,
            contact_number=phone,
            business_number=business.phone_number,
        ),
    )
    inbound = add(
        bid,
        WhatsAppMessage(
            business_id=bid,
            conversation_id=conversation.id,
            direction="in",
            message_sid=sid("SM"),
            body="I'd like to book a visit",
        ),
    )
    outbound = add(
        bid,
        WhatsAppMessage(
            business_id=bid, conversation_id=conversation.id, direction="out", body="Sure!"
        ),
    )
    chat = add(
        bid,
        WhatsAppSession(
            business_id=bid,
            conversation_id=conversation.id,
            started_at=long_ago,
            last_activity_at=long_ago,
        ),
    )
    generic = add(
        bid, WebhookEndpoint(business_id=bid, url=endpoint_url, kind="generic", secret="s1")
    )
    n8n = add(bid, WebhookEndpoint(business_id=bid, url=endpoint_url, kind="n8n", secret="s2"))
    subscription = add(
        bid,
        PushSubscription(
            business_id=bid,
            api_key_id=business.api_key_id,
            endpoint=push_endpoint or "https://push.example.com/abc",
            p256dh="BPk",
            auth="au",
        ),
    )
    reminder = add(
        bid, Reminder(business_id=bid, lead_id=lead.id, title="Call Dana back", due_at=long_ago)
    )
    generic_delivery, n8n_delivery = (
        add(
            bid,
            WebhookDelivery(
                business_id=bid,
                endpoint_id=endpoint.id,
                event_type="call.ended",
                event_id=f"ev-world-{endpoint.id}",
                payload={"type": "call.ended", "call_sid": call_sid},
                status="pending",
                attempt=0,
            ),
        )
        for endpoint in (generic, n8n)
    )
    erasure = add(
        bid,
        Erasure(business_id=bid, phone=phone, phone_hash=phone_hash(bid, phone), counts={}),
    )
    return World(
        business,
        lead.id,
        call_sid,
        call.id,
        recording_sid,
        conversation.id,
        inbound.id,
        outbound.id,
        chat.id,
        generic.id,
        n8n.id,
        subscription.id,
        reminder.id,
        generic_delivery.id,
        n8n_delivery.id,
        erasure.id,
    )
