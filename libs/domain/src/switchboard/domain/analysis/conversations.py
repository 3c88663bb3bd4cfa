"""Conversation analysis: what a call or a WhatsApp chat tells us about the lead.

Two units of work with the AI's extraction between them: reading the conversation, writing
what the AI found on the lead. A chat's reading and every writing are methods of the
:class:`AnalysisStore` port. :class:`OrmAnalysisStore` is the portable adapter (SQLAlchemy's
ORM, on SQLite and PostgreSQL alike); the worker's bootstrap gives PostgreSQL one that makes
each one function call. A call's transcript is read through the ORM.

A call an erasure erased is not analysed, however late its job (queued by an attach that
committed before the erasure): its call log is gone once the erasure has deleted it (the job
then fails, not found), and while the erasure runs the erasure is looked for under the call's
lock before the transcript is read (``calls.logs.erased_call``), so nothing of it goes to the
AI, and no lead is written for it.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.ai_text import AIText, LeadFields
from switchboard.common.logging import get_logger
from switchboard.common.models import CallLog, Lead, WhatsAppConversation, WhatsAppMessage
from switchboard.domain.calls.logs import caller_number, erased_call
from switchboard.domain.leads.store import upsert_lead

log = get_logger(__name__)

_LABELS = {"caller": "Customer", "agent": "Agent", "in": "Customer", "out": "Agent"}


@dataclass(frozen=True)
class Conversation:
    """The text to analyse and the lead it is about."""

    lead_id: int | None
    transcript: str


def _call_conversation(session: Session, business_id: int, call_log_id: int) -> Conversation:
    call_log = owned_row(session, CallLog, business_id, call_log_id)
    if erased_call(session, business_id, call_log.call_sid):
        return Conversation(None, "")  # nothing to analyse
    lines = [
        f"{_LABELS.get(str(turn.get('role')), 'Recording')}: {turn.get('text', '')}"
        for turn in call_log.transcript or []
    ]
    lead_id = call_log.lead_id
    phone = caller_number(call_log)
    if lead_id is None and phone:
        lead_id = upsert_lead(session, business_id, phone, source="call")[0].id
        call_log.lead_id = lead_id
    return Conversation(lead_id, "\n".join(lines))


class AnalysisStore(abc.ABC):
    """Where the analysis reads a chat and writes what it learnt on the lead."""

    @abc.abstractmethod
    def chat(self, business_id: int, conversation_id: int) -> Conversation:
        """The chat's messages as a transcript, and its lead (created if it has none yet).
        Raises ``NotFoundError`` for a conversation the business does not have."""

    @abc.abstractmethod
    def apply_fields(self, business_id: int, lead_id: int, fields: LeadFields) -> None:
        """Write ``fields`` on the lead, keeping a name or e-mail it has and a status other
        than ``new`` the AI did not find. Raises ``NotFoundError`` for another business's lead."""


def transcript(messages: Iterable[tuple[str, str]]) -> str:
    """A chat's ``(direction, body)`` messages, in order, as the AI reads them."""
    return "\n".join(f"{_LABELS[direction]}: {body}" for direction, body in messages)


def apply_lead_fields(lead: Lead, fields: LeadFields) -> None:
    """Write ``fields`` on the lead, keeping a name or e-mail it has and a status other than
    ``new`` the AI did not find (migration 0008's function writes the same on PostgreSQL)."""
    if fields.name and not lead.name:
        lead.name = fields.name
    if fields.email and not lead.email:
        lead.email = fields.email
    lead.intent = fields.intent
    if fields.status != "new":
        lead.status = fields.status


class OrmAnalysisStore(AnalysisStore):
    """Reading and writing through the ORM, each in a ``tenant_session`` transaction."""

    def chat(self, business_id: int, conversation_id: int) -> Conversation:
        """The chat's transcript and its lead."""
        with tenant_session(business_id) as session:
            conversation = owned_row(session, WhatsAppConversation, business_id, conversation_id)
            messages = session.execute(
                select(WhatsAppMessage.direction, WhatsAppMessage.body)
                .where(
                    WhatsAppMessage.business_id == business_id,
                    WhatsAppMessage.conversation_id == conversation_id,
                )
                .order_by(WhatsAppMessage.id)
            ).all()
            if conversation.lead_id is None:
                lead, _ = upsert_lead(
                    session, business_id, conversation.contact_number, source="whatsapp"
                )
                conversation.lead_id = lead.id
            return Conversation(conversation.lead_id, transcript(messages))

    def apply_fields(self, business_id: int, lead_id: int, fields: LeadFields) -> None:
        """Write ``fields`` on the lead."""
        with tenant_session(business_id) as session:
            apply_lead_fields(owned_row(session, Lead, business_id, lead_id, lock=True), fields)


def analyze_conversation(
    business_id: int,
    ai: AIText,
    store: AnalysisStore,
    *,
    conversation_id: int | None = None,
    call_log_id: int | None = None,
) -> LeadFields | None:
    """Extract name, e-mail, intent and status from a call or chat into the lead's fields."""
    if (conversation_id is None) == (call_log_id is None):
        raise NotFoundError("give exactly one of conversation_id and call_log_id")
    if conversation_id is not None:
        conversation = store.chat(business_id, conversation_id)
    else:
        assert call_log_id is not None
        with tenant_session(business_id) as session:
            conversation = _call_conversation(session, business_id, call_log_id)
    if conversation.lead_id is None or not conversation.transcript.strip():
        return None
    fields = ai.extract_lead_fields(conversation.transcript)
    store.apply_fields(business_id, conversation.lead_id, fields)
    log.info(
        "analysis.lead_updated",
        business_id=business_id,
        lead_id=conversation.lead_id,
        intent=fields.intent,
        status=fields.status,
    )
    return fields
