"""A repeated inbound message (Twilio's retry, a replayed request) leaves its conversation as
it was; a new one moves it (``inbound.store_inbound``, the embedded store)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from switchboard.common.db import tenant_session
from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.models import WhatsAppConversation
from switchboard.common.settings import Settings
from switchboard.domain.whatsapp.inbound import InboundMessage, store_inbound
from tests.support.factories import TestBusiness, make_business, unique_phone


def _message(business: TestBusiness, contact: str, sid: str) -> InboundMessage:
    return InboundMessage(sid, f"whatsapp:{contact}", f"whatsapp:{business.phone_number}", "Hi")


def _times(business_id: int) -> tuple[datetime, datetime]:
    with tenant_session(business_id) as session:
        last, updated = session.execute(
            select(WhatsAppConversation.last_message_at, WhatsAppConversation.updated_at)
        ).one()
    return as_utc(last), as_utc(updated)


def _age(business_id: int) -> datetime:
    """Moves the conversation's times an hour back, so any touch shows; returns them."""
    ago = utcnow() - timedelta(hours=1)
    with tenant_session(business_id) as session:
        session.execute(
            update(WhatsAppConversation)
            .where(WhatsAppConversation.business_id == business_id)
            .values(last_message_at=ago, updated_at=ago)
        )
    return as_utc(ago)


def test_a_repeated_message_leaves_the_conversation_and_a_new_one_moves_it(
    embedded: Settings,
) -> None:
    business, contact = make_business(), unique_phone()
    first = _message(business, contact, f"SM{unique_phone()[1:]}a")
    assert store_inbound(business.id, first) is not None
    ago = _age(business.id)

    assert store_inbound(business.id, first) is None  # Twilio retried it
    assert _times(business.id) == (ago, ago)

    before = utcnow()
    assert store_inbound(business.id, _message(business, contact, f"SM{unique_phone()[1:]}b"))
    last, updated = _times(business.id)
    assert last >= before and updated >= before
