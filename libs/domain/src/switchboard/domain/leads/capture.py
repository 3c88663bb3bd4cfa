"""Capturing a lead from any channel: one lead per phone number per business."""

from __future__ import annotations

from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.jobs.errors import PermanentJobError
from switchboard.common.logging import get_logger
from switchboard.common.models import WhatsAppConversation
from switchboard.common.phone import is_e164
from switchboard.domain.leads.store import upsert_lead

log = get_logger(__name__)


class InvalidPhoneNumber(PermanentJobError):  # noqa: N818 - reads as what the caller gave
    """The phone number is not E.164."""


def capture_lead(
    business_id: int,
    phone: str,
    *,
    name: str | None = None,
    email: str | None = None,
    source: str = "api",
) -> tuple[int, bool]:
    """Find or create the lead for ``phone``, filling only fields it does not have yet."""
    if not is_e164(phone):
        raise InvalidPhoneNumber("phone must be E.164, like +15551234567")
    with tenant_session(business_id) as session:
        lead, created = upsert_lead(
            session, business_id, phone, name=name, email=email, source=source
        )
        lead_id = lead.id
    log.info("leads.captured", business_id=business_id, lead_id=lead_id, created=created)
    return lead_id, created


def capture_contact(business_id: int, conversation_id: int) -> tuple[int, bool]:
    """Find or create the lead for the contact of the business's WhatsApp conversation
    ``conversation_id`` (its number is read here: a job names the conversation, never the
    number). Raises ``NotFoundError`` for a conversation the business does not have."""
    with tenant_session(business_id) as session:
        conversation = owned_row(session, WhatsAppConversation, business_id, conversation_id)
        number = conversation.contact_number.removeprefix("whatsapp:")
        if not is_e164(number):
            raise InvalidPhoneNumber(f"conversation {conversation_id}: its contact is not E.164")
        lead, created = upsert_lead(session, business_id, number, source="whatsapp")
        lead_id = lead.id
    log.info("leads.captured", business_id=business_id, lead_id=lead_id, created=created)
    return lead_id, created
