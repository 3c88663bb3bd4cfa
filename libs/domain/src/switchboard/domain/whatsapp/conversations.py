"""WhatsApp conversations as the API shows them, and sending a message from the API.

Sending writes the outgoing message row and enqueues ``send_whatsapp_message_job`` (kwargs
``business_id`` and ``message_id``) in the same transaction: the job exists exactly when the
message does. The worker's actor sends it through Twilio and records the outcome on the row.
A free-form message is refused outside WhatsApp's 24-hour window; a template is not
(``window.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.keyset import Page, fetch_page
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.errors import NotFoundError
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import SEND_WHATSAPP_MESSAGE
from switchboard.common.models import WhatsAppConversation, WhatsAppMessage
from switchboard.domain.leads.store import like_pattern
from switchboard.domain.own_number import refuse_own_number
from switchboard.domain.whatsapp.window import (
    Template,
    open_until_ms,
    require_open,
    template_body,
    window_end,
)


@dataclass(frozen=True)
class QueuedMessage:
    """An outgoing message and the job that will send it."""

    message: WhatsAppMessage
    job_id: str


def _conversation(session: Session, business_id: int, conversation_id: int) -> WhatsAppConversation:
    found = session.execute(
        select(WhatsAppConversation).where(
            WhatsAppConversation.business_id == business_id,
            WhatsAppConversation.id == conversation_id,
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"conversation {conversation_id} not found")
    return found


def list_conversations(
    business_id: int,
    *,
    lead_id: int | None = None,
    number: str | None = None,
    limit: int = 50,
    after: int | None = None,
) -> Page[WhatsAppConversation]:
    """This business's conversations, newest first; ``number`` matches the contact's number."""
    query = select(WhatsAppConversation).where(WhatsAppConversation.business_id == business_id)
    if lead_id is not None:
        query = query.where(WhatsAppConversation.lead_id == lead_id)
    if number:
        query = query.where(
            WhatsAppConversation.contact_number.like(like_pattern(number), escape="\\")
        )
    with tenant_session(business_id) as session:
        return fetch_page(session, query, WhatsAppConversation.id, limit=limit, after=after)


def get_conversation(business_id: int, conversation_id: int) -> WhatsAppConversation:
    """One conversation of this business."""
    with tenant_session(business_id) as session:
        return _conversation(session, business_id, conversation_id)


def open_conversation(business_id: int, contact_number: str) -> tuple[WhatsAppConversation, bool]:
    """The conversation with ``contact_number``, created if needed; True if this created it.
    The business's own number is an ``OwnNumberError`` (422 on ``contact_number``)."""
    with tenant_session(business_id) as session:
        business_number = refuse_own_number(session, business_id, "contact_number", contact_number)
        now = utcnow()
        created = insert_ignoring_conflicts(
            session,
            WhatsAppConversation.__table__,  # type: ignore[arg-type]
            {
                "business_id": business_id,
                "contact_number": contact_number,
                "business_number": business_number,
                "created_at": now,
                "updated_at": now,
            },
        )
        conversation = session.execute(
            select(WhatsAppConversation).where(
                WhatsAppConversation.business_id == business_id,
                WhatsAppConversation.contact_number == contact_number,
            )
        ).scalar_one()
        return conversation, created


def list_messages(
    business_id: int, conversation_id: int, *, limit: int = 50, after: int | None = None
) -> Page[WhatsAppMessage]:
    """The messages of one conversation, newest first."""
    with tenant_session(business_id) as session:
        _conversation(session, business_id, conversation_id)
        query = select(WhatsAppMessage).where(
            WhatsAppMessage.business_id == business_id,
            WhatsAppMessage.conversation_id == conversation_id,
        )
        return fetch_page(session, query, WhatsAppMessage.id, limit=limit, after=after)


def send_message(
    business_id: int,
    conversation_id: int,
    body: str | None = None,
    template: Template | None = None,
) -> QueuedMessage:
    """Queue a message for sending in a conversation (message row and job in one transaction):
    the free-form ``body``, refused outside the 24-hour window (:class:`WindowClosed`), or a
    ``template``, sent at any time (stored with ``template_body`` as its body)."""
    if (body is None) == (template is None):
        raise ValueError("send_message takes a body or a template")
    with tenant_session(business_id) as session:
        conversation = _conversation(session, business_id, conversation_id)
        now = utcnow()
        ends_at = None
        if template is None:
            ends_at = window_end(session, business_id, conversation.id)
            require_open(ends_at, now)
        message = WhatsAppMessage(
            business_id=business_id,
            conversation_id=conversation.id,
            direction="out",
            body=body if template is None else template_body(template.content_sid),
            content_sid=None if template is None else template.content_sid,
            content_variables=None if template is None else template.variables,
            status="queued",
            attempts=0,
        )
        session.add(message)
        conversation.last_message_at = now
        session.flush()
        if ends_at is None:  # a template: sent at any time, nothing to check
            job = enqueue(SEND_WHATSAPP_MESSAGE, business_id=business_id, message_id=message.id)
        else:
            job = enqueue(
                SEND_WHATSAPP_MESSAGE,
                business_id=business_id,
                message_id=message.id,
                window_open_until_ms=open_until_ms(ends_at),
            )
        return QueuedMessage(message, job.job_id)
