"""WhatsApp conversations, their messages, and summarised sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from switchboard.common.db.base import Base, BigId, TenantOwned, Timestamped

#: A session not closed yet. No parameter in it: a prepared statement's generic plan saying
#: ``closed_at IS NULL`` can use the partial index below.
_OPEN_SESSION_SQL = text("closed_at IS NULL")


class WhatsAppConversation(TenantOwned, Timestamped, Base):
    __tablename__ = "whatsapp_conversations"
    __table_args__ = (UniqueConstraint("business_id", "contact_number"),)
    business_id_leads_unique_key = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lead_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("leads.id", ondelete="SET NULL"))
    contact_number: Mapped[str] = mapped_column(String(32))
    business_number: Mapped[str] = mapped_column(String(32))
    last_message_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WhatsAppMessage(TenantOwned, Timestamped, Base):
    __tablename__ = "whatsapp_messages"
    __table_args__ = (
        UniqueConstraint("business_id", "message_sid"),
        # A conversation's messages in order: its recent history is one short index scan.
        Index("ix_whatsapp_messages_conversation_id_id", "conversation_id", "id"),
    )
    business_id_leads_unique_key = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("whatsapp_conversations.id", ondelete="CASCADE")
    )
    direction: Mapped[str] = mapped_column(String(8))  # "in" | "out"
    message_sid: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    #: On an outbound template message (WhatsApp's only message outside the 24-hour window):
    #: Twilio's Content API template (``HX…``); ``body`` then says ``[template HX…]``.
    content_sid: Mapped[str | None] = mapped_column(String(34))
    #: The template's variables as the JSON object sent to Twilio (``{"1": "…"}``): personal
    #: data, kept like ``body`` and never logged.
    content_variables: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), default="received")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    #: On an outbound message Twilio reported not delivered: Twilio's error code (``63016``),
    #: kept apart from ``error`` so a client can act on it (``domain.whatsapp.delivery``).
    error_code: Mapped[str | None] = mapped_column(String(16))
    #: On an outbound message Twilio took: what Twilio last reported of its delivery (``sent``,
    #: ``delivered``, ``read``; ``failed`` or ``undelivered`` for good), forward only
    #: (``domain.whatsapp.delivery``); None until a report arrives. Apart from ``status``,
    #: which is also the send attempt's claim.
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    #: When the report that set ``delivery_status`` arrived.
    delivery_status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: On an inbound message: the agent's reply to it. The reply job sends that reply itself,
    #: so its redelivery after a crash finds the reply here and finishes the send.
    reply_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("whatsapp_messages.id", ondelete="SET NULL")
    )


class WhatsAppSession(TenantOwned, Timestamped, Base):
    """A burst of conversation; closed with a summary after 15 idle minutes."""

    __tablename__ = "whatsapp_sessions"
    __table_args__ = (
        # The idle sessions (every minute, ``whatsapp/scheduled.py``): the open ones only,
        # not every session ever closed with its summary; and a conversation's open session,
        # which the worker looks up on every message (migration 0033).
        Index(
            "ix_whatsapp_sessions_open",
            "conversation_id",
            "last_activity_at",
            postgresql_where=_OPEN_SESSION_SQL,
            sqlite_where=_OPEN_SESSION_SQL,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("whatsapp_conversations.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    summary: Mapped[str | None] = mapped_column(Text)
