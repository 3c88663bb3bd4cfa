"""Summarising an idle WhatsApp session on PostgreSQL holds no lock across the AI call: a reply
to that session meanwhile goes through at once, and the summary, now stale, is dropped."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.integrations.ai_text import ChatTurn, OfflineAIText
from switchboard.common.models import WhatsAppSession
from switchboard.common.settings import Settings
from switchboard.domain.whatsapp import replies, sessions
from switchboard.domain.whatsapp.inbound import InboundMessage, store_inbound
from switchboard.worker.bootstrap import stores
from tests.support.factories import make_business, unique_phone

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("whatsapp_queues")]


class SlowSummaries(OfflineAIText):
    """The offline AI, whose summaries wait until the test lets them finish."""

    def __init__(self) -> None:
        self.summarizing = threading.Event()
        self.finish = threading.Event()

    def summarize(self, messages: Sequence[ChatTurn]) -> str:
        self.summarizing.set()
        assert self.finish.wait(30), "the test never let the summary finish"
        return super().summarize(messages)


def _inbound(business_id: int, number: str, contact: str, body: str) -> int:
    message_id = store_inbound(
        business_id, InboundMessage(f"SM{unique_phone()[1:]}x", contact, number, body)
    )
    assert message_id is not None
    return message_id


def _session(business_id: int) -> WhatsAppSession:
    with tenant_session(business_id) as session:
        return session.execute(select(WhatsAppSession)).scalar_one()


def test_a_reply_to_a_session_being_summarised_is_not_blocked(pg: Settings) -> None:
    business = make_business()
    contact = f"whatsapp:{unique_phone()}"
    first = _inbound(business.id, business.phone_number, contact, "Hi, are you open today?")
    replies.reply_to_inbound(business.id, first, OfflineAIText(), stores().replies)
    chat = _session(business.id)
    with tenant_session(business.id) as session:
        session.execute(
            update(WhatsAppSession)
            .where(WhatsAppSession.id == chat.id)
            .values(last_activity_at=utcnow() - timedelta(minutes=20))
        )
    ai = SlowSummaries()
    closed: list[bool] = []
    summary = threading.Thread(
        target=lambda: closed.append(sessions.summarize_session(business.id, chat.id, ai))
    )
    summary.start()
    try:
        assert ai.summarizing.wait(10), "the summary never reached the AI"
        second = _inbound(business.id, business.phone_number, contact, "And tomorrow?")
        replied: list[int | None] = []
        reply = threading.Thread(
            target=lambda: replied.append(
                replies.reply_to_inbound(business.id, second, OfflineAIText(), stores().replies)
            ),
            daemon=True,
        )
        reply.start()
        reply.join(5)
        assert not reply.is_alive(), "the reply waited for the summary's lock"
        assert replied and replied[0] is not None
    finally:
        ai.finish.set()
        summary.join(30)

    assert closed == [False]  # the session came alive meanwhile: its summary is dropped
    after = _session(business.id)
    assert after.closed_at is None and after.summary is None
