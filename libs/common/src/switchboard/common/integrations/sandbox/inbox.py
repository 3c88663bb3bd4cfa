"""The sandbox inbox: WhatsApp messages the sandbox took instead of Twilio, per business.

A message belongs to the business whose number sends it, as an account's messages do at
Twilio; a number no business has is refused as Twilio refuses a sender not on the account.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from switchboard.common.db.base import as_utc
from switchboard.common.db.tenancy import system_session, tenant_session
from switchboard.common.models import Business, SandboxMessage

#: The newest messages the dashboard and the API show at most.
MAX_LISTED = 200


@dataclass(frozen=True)
class InboxMessage:
    """One delivered message, as the dashboard and the API show it."""

    id: int
    sid: str
    channel: str
    to: str
    from_: str
    body: str
    created_at: datetime


def bare(number: str) -> str:
    """``whatsapp:+15551234567`` → ``+15551234567``."""
    return number.strip().removeprefix("whatsapp:")


def business_of_number(number: str) -> int | None:
    """The business whose phone number this is, if any (a lookup across tenants)."""
    with system_session() as session:
        return session.scalar(select(Business.id).where(Business.phone_number == bare(number)))


def deliver(business_id: int, to: str, from_: str, body: str) -> str:
    """Keep a WhatsApp message in ``business_id``'s inbox; its new ``SM…`` sid."""
    sid = "SM" + uuid.uuid4().hex
    with tenant_session(business_id) as session:
        session.add(
            SandboxMessage(
                business_id=business_id,
                sid=sid,
                channel="whatsapp",
                to_number=bare(to),
                from_number=bare(from_),
                body=body,
            )
        )
    return sid


def find(business_id: int, to: str, from_: str, body: str | None, since: datetime) -> list[str]:
    """Sids of this business's messages with this body (any if None) between the numbers
    since ``since``."""
    query = select(SandboxMessage.sid, SandboxMessage.created_at).where(
        SandboxMessage.business_id == business_id,
        SandboxMessage.to_number == bare(to),
        SandboxMessage.from_number == bare(from_),
    )
    if body is not None:
        query = query.where(SandboxMessage.body == body)
    with tenant_session(business_id) as session:
        rows = session.execute(query.order_by(SandboxMessage.id.desc()).limit(50)).all()
    return [sid for sid, created in rows if as_utc(created) >= since]


def recent(business_id: int, limit: int = 50) -> list[InboxMessage]:
    """The business's newest messages, newest first."""
    with tenant_session(business_id) as session:
        rows = session.scalars(
            select(SandboxMessage)
            .where(SandboxMessage.business_id == business_id)
            .order_by(SandboxMessage.id.desc())
            .limit(min(max(limit, 1), MAX_LISTED))
        ).all()
        return [
            InboxMessage(
                id=row.id,
                sid=row.sid,
                channel=row.channel,
                to=row.to_number,
                from_=row.from_number,
                body=row.body,
                created_at=as_utc(row.created_at),
            )
            for row in rows
        ]
