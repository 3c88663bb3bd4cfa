"""A WhatsApp chat's analysis on PostgreSQL: the worker's ``PostgresAnalysisStore`` (migration
0008's two functions).

They must leave the lead as the portable ``OrmAnalysisStore`` does (both run on one database
and are compared), keep what the lead already has, and refuse another business's conversation.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from switchboard.common.db import tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.ai_text import LeadFields, OfflineAIText
from switchboard.common.models import Business, Lead, WhatsAppConversation
from switchboard.common.settings import Settings, get_settings
from switchboard.domain.analysis import conversations as analysis
from switchboard.domain.whatsapp.inbound import InboundMessage, store_inbound
from switchboard.worker.adapters.analysis import PostgresAnalysisStore
from tests.support.factories import make_business, unique_phone

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("whatsapp_queues")]

AI = OfflineAIText()
WORDS = "Hi, I'm Ana Lopez, my e-mail is ana@example.com. I'd like to book a haircut on Saturday."


def _chat(business: Business, contact: str, *bodies: str) -> int:
    for n, body in enumerate(bodies):
        store_inbound(
            business.id,
            InboundMessage(
                f"SM{unique_phone()[1:]}{n}", f"whatsapp:{contact}", business.phone_number, body
            ),
        )
    with tenant_session(business.id) as session:
        query = select(WhatsAppConversation.id).where(
            WhatsAppConversation.contact_number == contact
        )
        return int(session.execute(query).scalar_one())


def _functions() -> PostgresAnalysisStore:
    return PostgresAnalysisStore(get_settings().db_app_role)


def _lead(business_id: int, contact: str) -> tuple[Any, ...]:
    with tenant_session(business_id) as session:
        lead = session.execute(select(Lead).where(Lead.phone == contact)).scalar_one()
        conversation = session.execute(
            select(WhatsAppConversation).where(WhatsAppConversation.contact_number == contact)
        ).scalar_one()
        return (
            lead.name,
            lead.email,
            lead.intent,
            lead.status,
            lead.source,
            conversation.lead_id == lead.id,
        )


def test_the_functions_leave_the_lead_as_the_portable_path_does(pg: Settings) -> None:
    business = make_business()
    on_functions, on_orm = unique_phone(), unique_phone()
    first = _chat(business, on_functions, WORDS, "Is 10am free?")
    second = _chat(business, on_orm, WORDS, "Is 10am free?")

    fields = analysis.analyze_conversation(business.id, AI, _functions(), conversation_id=first)
    expected = analysis.analyze_conversation(
        business.id, AI, analysis.OrmAnalysisStore(), conversation_id=second
    )

    assert fields == expected
    assert _lead(business.id, on_functions) == _lead(business.id, on_orm)
    assert _lead(business.id, on_functions)[:2] == ("Ana Lopez", "ana@example.com")
    assert _lead(business.id, on_functions)[4:] == ("whatsapp", True)


def test_what_the_lead_already_has_is_kept(pg: Settings) -> None:
    business = make_business()
    contact = unique_phone()
    conversation_id = _chat(business, contact, WORDS)
    chat = _functions().chat(business.id, conversation_id)
    assert chat.transcript == f"Customer: {WORDS}"
    lead_id = chat.lead_id
    with tenant_session(business.id) as session:
        session.execute(
            update(Lead)
            .where(Lead.id == lead_id)
            .values(name="Ana María", email="", status="qualified")
        )

    assert lead_id is not None
    _functions().apply_fields(
        business.id,
        lead_id,
        LeadFields(name="Ana Lopez", email="ana@example.com", intent="booking", status="new"),
    )

    assert _lead(business.id, contact)[:4] == (
        "Ana María",
        "ana@example.com",
        "booking",
        "qualified",
    )


def test_another_business_s_conversation_or_lead_is_refused(pg: Settings) -> None:
    owner, intruder = make_business(), make_business()
    contact = unique_phone()
    conversation_id = _chat(owner, contact, WORDS)

    with pytest.raises(NotFoundError):
        analysis.analyze_conversation(
            intruder.id, AI, _functions(), conversation_id=conversation_id
        )
    with tenant_session(owner.id) as session:
        assert session.execute(select(Lead)).all() == []  # no lead created by the refusal

    analysis.analyze_conversation(owner.id, AI, _functions(), conversation_id=conversation_id)
    with tenant_session(owner.id) as session:
        lead_id = session.execute(select(Lead.id)).scalar_one()
    intruding = LeadFields(name="Mallory", email=None, intent="other", status="not_interested")
    with pytest.raises(NotFoundError):
        _functions().apply_fields(intruder.id, lead_id, intruding)
    assert _lead(owner.id, contact)[0] == "Ana Lopez"
